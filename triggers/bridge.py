"""The Kafka bridge: request events become jobs; finished jobs become completion events.

At-least-once in, exactly one job out: an offset is committed only after the event's job is
committed and sent (or the event is in the dead-letter topic), and a redelivered event finds
its job by idempotency key. An event that can never become a job (not JSON, invalid, unknown
or forbidden template) goes to the dead-letter topic and the bridge moves on; a failure that
is not the event's fault (database or dead-letter topic down, bridge principal missing) stops
that partition at the event and retries it.

Completion events come from an outbox: finished jobs with no `announced_at` are published,
then marked, so a job finished while no bridge ran is announced when one starts.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol

import structlog
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.db import database_unavailable
from core.errors import ConfigError, UserError
from core.files import beat
from core.settings import Settings
from registry import jobs
from registry.accounts import actor_for
from registry.models import Principal
from registry.permissions import Actor
from triggers import events
from triggers.dispatch import Dispatcher
from triggers.errors import error_code
from triggers.submit import submit

log = structlog.get_logger(__name__)

SEND_TIMEOUT_SECONDS = 30.0
RETRY_PAUSE_SECONDS = 2.0
MAX_EVENT_FAILURES = 5
# Not the event's fault: retried for as long as it lasts, never dead-lettered (and so is any
# error that `core.db.database_unavailable` recognises, a pool timeout included).
TRANSIENT = (ConfigError, OperationalError, InterfaceError, KafkaError)


class Record(Protocol):
    """The parts of a consumed Kafka record the bridge reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


def kafka_options(settings: Settings) -> dict[str, Any]:
    """Connection and security options shared by the bridge's consumer and producer."""
    if not settings.kafka_bootstrap_servers:
        raise ConfigError("AUTOGLM_KAFKA_BOOTSTRAP_SERVERS is not set (host:port,...)")
    options: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in settings.kafka_bootstrap_servers.split(",")],
        "client_id": "autoglm-bridge",
        "security_protocol": settings.kafka_security_protocol,
    }
    optional = {
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": settings.kafka_sasl_username,
        "sasl_plain_password": settings.kafka_sasl_password,
        "ssl_cafile": settings.kafka_ssl_cafile,
        "ssl_certfile": settings.kafka_ssl_certfile,
        "ssl_keyfile": settings.kafka_ssl_keyfile,
    }
    options.update({k: str(v) for k, v in optional.items() if v is not None})
    return options


def bridge_actor(session: Session, name: str) -> Actor:
    """The service principal the bridge acts as; its absence is the operator's to fix."""
    principal = session.scalar(select(Principal).where(Principal.name == name))
    if principal is None or principal.disabled_at is not None:
        raise ConfigError(
            f"bridge principal {name!r} does not exist or is disabled; create it with "
            f"`autoglm admin principal create {name} --service --team TEAM --role runner` "
            "(AUTOGLM_BRIDGE_PRINCIPAL names another)"
        )
    return actor_for(principal)


class KafkaBridge:
    """Consumes the requests topic in a consumer group and publishes completions."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        dispatcher: Dispatcher,
        *,
        consumer: KafkaConsumer | None = None,
        producer: KafkaProducer | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.dispatcher = dispatcher
        options = kafka_options(settings)
        self.consumer = consumer or KafkaConsumer(
            settings.kafka_requests_topic,
            group_id=settings.kafka_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            **options,
        )
        self.producer = producer or KafkaProducer(acks="all", **options)
        self._failures: dict[tuple[str, int, int], int] = {}
        # Next offset this bridge committed, per partition: for logs and tests, without asking
        # the group coordinator (`consumer.committed()` during a group join restarts the join).
        self.committed: dict[TopicPartition, int] = {}

    def run(self, stop: threading.Event) -> None:
        """Poll, submit, commit and announce until `stop` is set."""
        try:
            while not stop.is_set():
                try:
                    self.step()
                    beat(self.settings.heartbeat_file)
                except Exception:  # Kafka or the database away for a while: keep trying
                    log.exception("bridge step failed; retrying")
                    stop.wait(RETRY_PAUSE_SECONDS)
        finally:
            self.close()

    def step(self, timeout_ms: int = 500) -> None:
        """One poll: handle what came, in order per partition, then announce finished jobs."""
        batch = self.consumer.poll(timeout_ms=timeout_ms, max_records=100)
        for partition, records in batch.items():
            self.process(partition, records)
        self.announce()

    def close(self) -> None:
        self.consumer.close(autocommit=False)
        self.producer.close(timeout=SEND_TIMEOUT_SECONDS)

    def process(self, partition: TopicPartition, records: list[Record]) -> None:
        """Handle one partition's records in order; commit past the last one handled.

        A failure that is not the event's fault (the database or Kafka away, the principal
        missing) holds the partition at the event: the consumer seeks back to it and the next
        poll brings it again. Any other unexpected failure is retried a few times, then the
        event is dead-lettered, so one poisonous event cannot stop its partition for good.
        """
        handled = None
        for record in records:
            try:
                if handled is None:  # once per batch: roles may change, not per event
                    actor = self.actor()
                self._handle_or_give_up(record, actor)
            except Exception as exc:
                log.error(
                    "event held; retrying it",
                    error=repr(exc),
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    exc_info=exc,
                )
                self.consumer.seek(partition, record.offset)
                time.sleep(RETRY_PAUSE_SECONDS)
                break
            handled = record.offset
        if handled is not None:
            self.commit(partition, handled + 1)

    def actor(self) -> Actor:
        with self.sessions() as session:
            return bridge_actor(session, self.settings.bridge_principal)

    def _handle_or_give_up(self, record: Record, actor: Actor) -> None:
        try:
            self.handle(record, actor)
        except Exception as exc:
            if not self._give_up(record, exc):
                raise
            self.dead_letter(record, exc)
        self._failures.pop((record.topic, record.partition, record.offset), None)

    def _give_up(self, record: Record, exc: Exception) -> bool:
        where = (record.topic, record.partition, record.offset)
        failures = self._failures[where] = self._failures.get(where, 0) + 1
        transient = isinstance(exc, TRANSIENT) or database_unavailable(exc)
        return not transient and failures >= MAX_EVENT_FAILURES

    def handle(self, record: Record, actor: Actor) -> None:
        """Submit the event's job, or dead-letter the event when it can never become one."""
        where: dict[str, Any] = {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
        }
        with self.sessions() as session:
            try:
                request = events.parse_request(record.value, record.headers, **where)
                submission = submit(session, actor, request, self.dispatcher, self.settings)
            except ConfigError:
                raise
            except UserError as exc:
                session.rollback()
                self.dead_letter(record, exc)
                return
            log.info(
                "event submitted" if submission.created else "event already submitted",
                job_id=submission.job.id,
                trace_id=submission.job.trace_id,
                **where,
            )

    def dead_letter(self, record: Record, exc: Exception) -> None:
        """Publish the event as it came, with the error's stable code (the one the HTTP API
        gives the same error: `invalid`, `template_not_found`, ..., or `internal_error` for an
        unexpected failure, whose class then leads the message)."""
        message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        headers = events.dead_letter_headers(
            record.headers,
            error=message,
            code=error_code(exc),
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        self.producer.send(
            self.settings.kafka_dead_letter_topic,
            value=record.value,
            key=record.key,
            headers=headers,
        ).get(timeout=SEND_TIMEOUT_SECONDS)
        log.warning(
            "event dead-lettered",
            error=message,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )

    def commit(self, partition: TopicPartition, next_offset: int) -> None:
        try:
            self.consumer.commit({partition: OffsetAndMetadata(next_offset, "", -1)})
            self.committed[partition] = next_offset
        except CommitFailedError as exc:  # the partition moved to another bridge: it redelivers
            log.warning("offset commit failed", partition=str(partition), error=str(exc))

    def announce(self) -> int:
        """Publish completion events for finished jobs not announced yet; returns how many."""
        with self.sessions() as session:
            finished = jobs.unannounced(session)
            if not finished:
                return 0
            sent = [
                self.producer.send(
                    self.settings.kafka_completed_topic,
                    key=job.id.encode(),
                    value=json.dumps(events.completion_event(job)).encode("utf-8"),
                )
                for job in finished
            ]
            for future in sent:
                future.get(timeout=SEND_TIMEOUT_SECONDS)
            jobs.mark_announced(session, [job.id for job in finished])
            session.commit()
            return len(finished)
