"""Dispatchers: Celery on a real Redis (send by name, depth, ping), and the in-process queue."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from core.settings import Settings
from tests.stack import AMQP_URL, REDIS_URL
from triggers.dispatch import CeleryDispatcher, LocalQueue, NoQueue, dispatcher_for
from workers.celery_app import JOB_QUEUE, RUN_JOB

BROKER = REDIS_URL


AMQP = AMQP_URL


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(BROKER)
    client.flushdb()
    yield client
    client.flushdb()


def test_celery_dispatcher_sends_the_task_by_name(broker: redis.Redis) -> None:
    dispatcher = dispatcher_for(Settings(broker_url=BROKER))
    assert isinstance(dispatcher, CeleryDispatcher)
    dispatcher.ping()
    assert dispatcher.depth() == 0  # no queue yet: empty, not unknown
    dispatcher.send("job-1")
    dispatcher.send("job-2")
    assert dispatcher.depth() == 2
    # Priority 5 (the default) is Redis priority step 9 - 5 = 4: its own list.
    raw = json.loads(broker.lindex(f"{JOB_QUEUE}:4", -1))  # type: ignore[arg-type]
    assert raw["headers"]["task"] == RUN_JOB
    assert json.loads(base64.b64decode(raw["body"]))[0] == ["job-1"]


def test_celery_dispatcher_on_rabbitmq() -> None:
    dispatcher = dispatcher_for(Settings(broker_url=AMQP))
    assert isinstance(dispatcher, CeleryDispatcher)
    dispatcher.ping()
    dispatcher.send("job-0")  # declares the queue on a fresh broker
    with dispatcher.celery.connection_for_write() as connection:
        connection.default_channel.queue_purge(JOB_QUEUE)  # nothing left from earlier runs
    dispatcher.send("job-1")
    assert dispatcher.depth() == 1  # publisher confirms: counted as soon as send returns
    with dispatcher.celery.connection_for_write() as connection:
        assert connection.default_channel.queue_purge(JOB_QUEUE) == 1


def test_an_unreachable_broker_fails_ping_quickly() -> None:
    dispatcher = dispatcher_for(Settings(broker_url="redis://127.0.0.1:1/0"))
    started = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 (kombu raises its own OperationalError)
        dispatcher.ping()
    assert time.monotonic() - started < 10


def test_without_a_broker_the_api_has_no_queue() -> None:
    dispatcher = dispatcher_for(Settings(broker_url=None))
    assert isinstance(dispatcher, NoQueue)
    with pytest.raises(RuntimeError, match="AUTOGLM_BROKER_URL"):
        dispatcher.ping()


def test_local_queue_runs_jobs_in_due_order() -> None:
    ran: list[str] = []
    done = threading.Event()

    def handler(job_id: str) -> None:
        ran.append(job_id)
        if len(ran) == 3:
            done.set()

    queue = LocalQueue(handler).start()
    try:
        queue.send("later", delay=0.3)
        queue.send("now")
        queue.send("soon", delay=0.1)
        assert done.wait(5)
        assert ran == ["now", "soon", "later"]
        queue.ping()
    finally:
        queue.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        queue.ping()


def test_a_failing_handler_does_not_stop_the_local_queue() -> None:
    ran: list[str] = []
    done = threading.Event()

    def handler(job_id: str) -> None:
        if job_id == "bad":
            raise ValueError("boom")
        ran.append(job_id)
        done.set()

    queue = LocalQueue(handler).start()
    try:
        queue.send("bad")
        queue.send("good")
        assert done.wait(5)
        assert ran == ["good"]
    finally:
        queue.stop()
