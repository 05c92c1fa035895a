"""Firing cron schedules: each due tick becomes one job, however many schedulers run.

A fire submits first, with the idempotency key `schedule:<id>:<tick>`, and then moves the
schedule past the tick with a compare-and-set. A crash between the two re-submits the same
key on the next pass (the first job comes back); two schedulers racing over a tick insert one
job (the key's unique constraint) and only one of them advances the row. After downtime a
schedule fires once, for its oldest missed tick, and its next fire is the first one after now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.errors import UserError
from core.settings import Settings
from documents import cron
from registry import schedules
from registry.accounts import actor_for
from registry.errors import Forbidden
from registry.models import Job, Schedule, utcnow
from registry.permissions import Actor
from triggers import priorities
from triggers.dispatch import Dispatcher
from triggers.loops import Every
from triggers.submit import JobRequest, submit

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Fire:
    schedule_id: int
    tick: datetime
    job_id: str | None  # None when the fire was refused; `error` says why
    error: str | None


def fire_key(schedule_id: int, tick: datetime) -> str:
    return f"schedule:{schedule_id}:{tick.astimezone(UTC).isoformat()}"


def fire_due(
    session: Session, dispatcher: Dispatcher, settings: Settings, now: datetime | None = None
) -> list[Fire]:
    """Fire every schedule whose next tick has come; returns the fires this call recorded."""
    now = now or utcnow()
    due = schedules.due(session, now)
    session.commit()  # no transaction stays open between fires
    fires = []
    for schedule_id, tick in due:
        try:
            fire = _fire(session, dispatcher, settings, schedule_id=schedule_id, tick=tick, now=now)
        except Exception:  # the database is down, or a bug: the others still fire
            session.rollback()
            log.exception("schedule fire failed; retrying next pass", schedule_id=schedule_id)
            continue
        if fire is not None:
            fires.append(fire)
    return fires


def _fire(
    session: Session,
    dispatcher: Dispatcher,
    settings: Settings,
    *,
    schedule_id: int,
    tick: datetime,
    now: datetime,
) -> Fire | None:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None or schedule.next_fire_at != tick:
        return None  # deleted, or another scheduler fired it already
    request = JobRequest(
        template=schedule.template.name,
        inputs=dict(schedule.inputs),
        formats=schedule.formats,
        idempotency_key=fire_key(schedule_id, tick),
        priority=priorities.SCHEDULED,
    )
    expression, timezone = schedule.expression, schedule.timezone
    job_id = error = None
    # A tick submitted before a crash, possibly by an owner who has since been replaced.
    earlier = session.scalar(select(Job.id).where(Job.idempotency_key == request.idempotency_key))
    try:
        job_id = earlier or submit(session, _owner(schedule), request, dispatcher, settings).job.id
    except UserError as exc:  # refused for good (archived, permission gone, bad inputs)
        session.rollback()
        error = str(exc)
    following = cron.next_fire(expression, timezone, max(now, tick))
    if not schedules.advance(
        session, schedule_id, tick, next_fire_at=following, job_id=job_id, error=error
    ):
        return None
    if error is None:
        log.info("schedule fired", schedule_id=schedule_id, tick=tick.isoformat(), job_id=job_id)
    else:
        log.warning("schedule fire refused", schedule_id=schedule_id, error=error)
    return Fire(schedule_id, tick, job_id, error)


def _owner(schedule: Schedule) -> Actor:
    owner = schedule.owner
    if owner is None or owner.disabled_at is not None:
        raise Forbidden(f"schedule {schedule.id}: its owner no longer exists or is disabled")
    return actor_for(owner)


def cron_loop(sessions: sessionmaker[Session], dispatcher: Dispatcher, settings: Settings) -> Every:
    """Fire due schedules every `AUTOGLM_SCHEDULE_POLL_SECONDS` in a background thread."""
    return Every(
        "cron",
        settings.schedule_poll_seconds,
        sessions,
        lambda session: fire_due(session, dispatcher, settings),
        heartbeat=settings.heartbeat_file,
    )
