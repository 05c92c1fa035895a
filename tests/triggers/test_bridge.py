"""The Kafka bridge against a real Kafka-protocol broker (tansu) and PostgreSQL."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kafka.structs import TopicPartition
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConfigError
from core.settings import Settings
from registry.models import Job, utcnow
from tests import factories
from tests.jobs_support import STATIC, RecordingQueue, publish
from tests.kafka import Broker
from triggers import bridge as bridge_module
from triggers.bridge import KafkaBridge
from triggers.submit import JobRequest

GOOD = {"template": "static", "inputs": {"team": "x"}, "formats": ["md"]}


@pytest.fixture
def topics(kafka: Broker) -> dict[str, str]:
    return kafka.topics()


@pytest.fixture
def settings(kafka: Broker, topics: dict[str, str]) -> Settings:
    return Settings(
        kafka_bootstrap_servers=kafka.bootstrap,
        kafka_requests_topic=topics["requests"],
        kafka_completed_topic=topics["completed"],
        kafka_dead_letter_topic=topics["dead_letter"],
        kafka_group_id=f"bridge-{uuid.uuid4().hex}",
        kafka_session_timeout_ms=6000,
        kafka_heartbeat_interval_ms=1500,
    )


@pytest.fixture
def published(session: Session) -> None:
    factories.user(session, "kafka-bridge", teams=["a"], roles=["runner"])
    publish(session, STATIC)


class Bridges:
    """Bridges made for one test, closed at its end (a crashed one stays as it was left)."""

    def __init__(self, settings: Settings, db: sessionmaker[Session]) -> None:
        self.settings, self.db = settings, db
        self.made: list[KafkaBridge] = []
        self.queue = RecordingQueue()

    def new(self) -> KafkaBridge:
        bridge = KafkaBridge(self.settings, self.db, self.queue)
        self.made.append(bridge)
        return bridge

    def close(self) -> None:
        for bridge in self.made:
            bridge.close()


@pytest.fixture
def bridges(settings: Settings, db: sessionmaker[Session]) -> Iterator[Bridges]:
    made = Bridges(settings, db)
    yield made
    made.close()


def pump(bridge: KafkaBridge, until: Callable[[], Any], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "the bridge did not get there in time"
        bridge.step(timeout_ms=200)


def jobs(session: Session) -> list[Job]:
    session.expire_all()
    return list(session.scalars(select(Job).order_by(Job.created_at)))


def committed(bridge: KafkaBridge, topic: str) -> int | None:
    """What the bridge committed for partition 0 (not `consumer.committed()`: asking the
    coordinator while the group is still joining restarts the join)."""
    return bridge.committed.get(TopicPartition(topic, 0))


@pytest.mark.usefixtures("published")
def test_an_event_becomes_a_job_and_its_offset_is_committed_after(
    kafka: Broker, topics: dict[str, str], bridges: Bridges, session: Session
) -> None:
    kafka.produce(topics["requests"], GOOD, **{"X-Trace-Id": "evt-1"})
    bridge = bridges.new()

    pump(bridge, lambda: committed(bridge, topics["requests"]) == 1)

    [job] = jobs(session)
    assert job.idempotency_key == f"kafka:{topics['requests']}:0:0"
    assert (job.requested_by, job.inputs, job.formats) == ("kafka-bridge", {"team": "x"}, ["md"])
    assert job.trace_id == "evt-1"
    assert bridges.queue.sent == [(job.id, 0.0)]


@pytest.mark.usefixtures("published")
@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        (b"not json", b"invalid_event", "event is not JSON"),
        ({"template": "missing"}, b"template_not_found", "'missing' not found"),
        ({"template": "static", "inputs": {"tema": 1}}, b"invalid", "unknown input 'tema'"),
        (GOOD | {"formats": ["odt"]}, b"invalid_formats", "odt"),
    ],
)
def test_a_bad_event_is_dead_lettered_and_the_next_one_still_runs(
    kafka: Broker,
    topics: dict[str, str],
    bridges: Bridges,
    session: Session,
    value: bytes | dict[str, Any],
    code: bytes,
    message: str,
) -> None:
    kafka.produce(topics["requests"], value, key=b"k1", Origin="ci")
    kafka.produce(topics["requests"], GOOD)
    bridge = bridges.new()

    pump(bridge, lambda: committed(bridge, topics["requests"]) == 2)

    [job] = jobs(session)
    assert job.idempotency_key.endswith(":0:1")
    [dead] = kafka.consume(topics["dead_letter"], 1)
    headers = dict(dead.headers)
    assert dead.key == b"k1" and headers["Origin"] == b"ci"
    if isinstance(value, bytes):
        assert dead.value == value  # the original bytes, to replay once fixed
    assert headers["autoglm.error.code"] == code
    assert message in headers["autoglm.error.message"].decode()
    assert headers["autoglm.error.topic"] == topics["requests"].encode()
    assert (headers["autoglm.error.partition"], headers["autoglm.error.offset"]) == (b"0", b"0")


@pytest.mark.usefixtures("published")
def test_the_same_event_delivered_twice_makes_one_job(
    kafka: Broker, topics: dict[str, str], bridges: Bridges, session: Session
) -> None:
    event = GOOD | {"idempotency_key": "build-42"}
    kafka.produce(topics["requests"], event)
    kafka.produce(topics["requests"], event)  # a producer retry
    bridge = bridges.new()

    pump(bridge, lambda: committed(bridge, topics["requests"]) == 2)

    [job] = jobs(session)
    assert job.idempotency_key == "build-42"
    assert len(bridges.queue.sent) == 1


@pytest.mark.usefixtures("published")
def test_a_bridge_dying_between_submission_and_commit_loses_and_doubles_nothing(
    kafka: Broker, topics: dict[str, str], bridges: Bridges, session: Session
) -> None:
    kafka.produce(topics["requests"], GOOD)
    doomed = bridges.new()

    def die(*_: object) -> None:
        raise SystemExit("killed before the offset commit")

    doomed.commit = die  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        pump(doomed, lambda: False)
    assert len(jobs(session)) == 1  # the job was committed and sent...
    partition = TopicPartition(topics["requests"], 0)
    assert doomed.consumer.committed(partition) is None  # ...the broker has no offset
    doomed.close()  # its group membership ends (a killed one would time out instead)

    survivor = bridges.new()
    pump(survivor, lambda: committed(survivor, topics["requests"]) == 1)

    assert len(jobs(session)) == 1  # the redelivery found the first job
    assert len(bridges.queue.sent) == 1


@pytest.mark.usefixtures("published")
def test_a_missing_bridge_principal_holds_the_event_instead_of_dead_lettering_it(
    kafka: Broker,
    topics: dict[str, str],
    bridges: Bridges,
    session: Session,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("triggers.bridge.RETRY_PAUSE_SECONDS", 0.1)
    bridges.settings = settings.model_copy(update={"bridge_principal": "nobody"})
    kafka.produce(topics["requests"], GOOD)
    bridge = bridges.new()
    with pytest.raises(ConfigError, match="bridge principal 'nobody' does not exist"):
        bridge.actor()

    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        bridge.step(timeout_ms=200)
    assert jobs(session) == [] and committed(bridge, topics["requests"]) is None

    bridge.settings = settings  # the operator fixes the setting: the held event goes through
    pump(bridge, lambda: committed(bridge, topics["requests"]) == 1)
    assert len(jobs(session)) == 1
    assert kafka.consume(topics["dead_letter"], 0, timeout=1) == []


@pytest.mark.usefixtures("published")
def test_an_event_that_keeps_failing_is_dead_lettered_after_a_few_tries(
    kafka: Broker,
    topics: dict[str, str],
    bridges: Bridges,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("triggers.bridge.RETRY_PAUSE_SECONDS", 0.05)
    real_submit = bridge_module.submit
    calls: list[str | None] = []

    def poisoned(session: Session, actor: object, request: JobRequest, *rest: object) -> object:
        calls.append(request.idempotency_key)
        if request.idempotency_key == "poison":
            raise RuntimeError("something in this event breaks the code")
        return real_submit(session, actor, request, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr("triggers.bridge.submit", poisoned)
    kafka.produce(topics["requests"], GOOD | {"idempotency_key": "poison"})
    kafka.produce(topics["requests"], GOOD | {"idempotency_key": "healthy"})
    bridge = bridges.new()

    pump(bridge, lambda: committed(bridge, topics["requests"]) == 2)

    assert calls.count("poison") == bridge_module.MAX_EVENT_FAILURES
    assert [job.idempotency_key for job in jobs(session)] == ["healthy"]
    [dead] = kafka.consume(topics["dead_letter"], 1)
    headers = dict(dead.headers)
    assert headers["autoglm.error.code"] == b"internal_error"  # the API's code for it
    message = b"RuntimeError: something in this event breaks the code"
    assert headers["autoglm.error.message"] == message


@pytest.mark.usefixtures("published")
def test_finished_jobs_are_announced_once_on_the_completion_topic(
    kafka: Broker, topics: dict[str, str], bridges: Bridges, session: Session
) -> None:
    kafka.produce(topics["requests"], GOOD | {"idempotency_key": "announce-me"})
    bridge = bridges.new()
    pump(bridge, lambda: jobs(session))
    [job] = jobs(session)
    assert bridge.announce() == 0  # still queued: nothing to say yet

    job.status, job.attempts, job.finished_at = "dead", 3, utcnow()
    job.error = "ValueError: boom"
    session.commit()
    assert bridge.announce() == 1
    assert bridge.announce() == 0

    [record] = kafka.consume(topics["completed"], 1)
    event = json.loads(record.value)
    assert record.key == job.id.encode()
    assert (event["job_id"], event["status"], event["error"]) == (
        job.id,
        "dead",
        "ValueError: boom",
    )
    assert event["idempotency_key"] == "announce-me" and event["artifacts"] == []
    session.expire_all()
    assert session.scalar(select(func.count()).where(Job.announced_at.is_not(None))) == 1
