"""Priorities: the higher job is delivered first on real Redis and RabbitMQ, and runs first in
the in-process queue; cron jobs get the scheduled default."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kombu.message import Message
from sqlalchemy.orm import Session

from core.settings import Settings
from registry.models import Job
from tests.jobs_support import RecordingQueue
from tests.stack import AMQP_URL, REDIS_URL
from tests.triggers.test_cron import MS, SETTINGS, hourly, maintainer
from triggers import priorities
from triggers.cron import fire_due
from triggers.dispatch import CeleryDispatcher, LocalQueue
from workers.celery_app import JOB_QUEUE, make_celery

SENT = [("low", 1), ("high", 8), ("middle", 5), ("top", 9), ("bottom", 0)]
BY_PRIORITY = ["top", "high", "middle", "low", "bottom"]


def purge(dispatcher: CeleryDispatcher) -> None:
    with dispatcher.celery.connection_for_write() as connection:
        queue = dispatcher.celery.amqp.queues[JOB_QUEUE](connection.default_channel)
        queue.declare()  # as the workers declare it: with x-max-priority on RabbitMQ
        queue.purge()


def delivered(dispatcher: CeleryDispatcher, count: int) -> Iterator[str]:
    """Job ids as a worker would take them: one message at a time, acked before the next."""
    with dispatcher.celery.connection_for_read() as connection:
        got: list[str] = []

        def take(body: object, message: Message) -> None:
            args, _kwargs, _embed = message.decode()  # type: ignore[no-untyped-call]
            got.append(args[0])
            message.ack()  # type: ignore[no-untyped-call]

        queue = dispatcher.celery.amqp.queues[JOB_QUEUE]
        with connection.Consumer([queue], callbacks=[take], prefetch_count=1, accept=["json"]):
            while len(got) < count:
                connection.drain_events(timeout=10)
        yield from got


@pytest.mark.parametrize("url", [REDIS_URL, AMQP_URL], ids=["redis", "rabbitmq"])
def test_the_broker_delivers_waiting_jobs_highest_priority_first(url: str) -> None:
    dispatcher = CeleryDispatcher(make_celery(Settings(broker_url=url)))
    purge(dispatcher)
    for job_id, priority in SENT:  # all wait: no worker consumes yet
        dispatcher.send(job_id, priority=priority)
    assert dispatcher.depth() == len(SENT)
    assert list(delivered(dispatcher, len(SENT))) == BY_PRIORITY
    assert dispatcher.depth() == 0


def test_the_local_queue_runs_due_jobs_by_priority_then_due_time() -> None:
    ran: list[str] = []
    done = threading.Event()

    def handler(job_id: str) -> None:
        ran.append(job_id)
        if len(ran) == 7:
            done.set()

    queue = LocalQueue(handler, workers=1)
    queue.send("later-but-urgent", delay=0.3, priority=9)  # not due yet: waits its turn
    for job_id, priority in SENT:
        queue.send(job_id, priority=priority)
    queue.send("middle-2", priority=5)  # same priority: the one sent first goes first
    assert queue.depth() == 7
    queue.start()
    try:
        assert done.wait(5)
    finally:
        queue.stop()
    assert ran == ["top", "high", "middle", "middle-2", "low", "bottom", "later-but-urgent"]


def test_a_cron_job_gets_the_scheduled_priority(session: Session) -> None:
    schedule = hourly(session, maintainer(session))
    queue = RecordingQueue()
    [fire] = fire_due(session, queue, SETTINGS, now=schedule.next_fire_at + MS)
    job = session.get(Job, fire.job_id)
    assert job is not None and job.priority == priorities.SCHEDULED == 3
    assert queue.priorities == {job.id: 3}
