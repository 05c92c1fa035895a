"""The completion-callback outbox in the database: which callbacks are due, the claim that
keeps two senders off one job, and each attempt's record.

A finished job with `callback_state = 'pending'` is due once `callback_next_at` is empty or
past. A sender claims due jobs by pushing `callback_next_at` past the time one attempt can
take (rows locked with `SKIP LOCKED` on PostgreSQL while it does), commits, and only then
sends; a sender that dies mid-attempt leaves the claim to run out, and the job is sent again
(at least once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from registry.models import FINAL_STATUSES, Job, JobCallback, utcnow

OUTCOMES = ("delivered", "failed", "refused")


@dataclass(frozen=True)
class Attempt:
    """What one attempt found; `retry_at` (failed only) is when the next one may go, None to
    give up."""

    url: str
    outcome: str  # delivered, failed, refused
    seconds: float
    status_code: int | None = None
    error: str | None = None
    retry_at: datetime | None = None


def claim_due(session: Session, lease_seconds: float, limit: int = 20) -> list[Job]:
    """Due callbacks, each claimed for `lease_seconds`; the caller commits before sending."""
    now = utcnow()
    query = (
        select(Job)
        .where(
            Job.status.in_(FINAL_STATUSES),
            Job.callback_state == "pending",
            or_(Job.callback_next_at.is_(None), Job.callback_next_at <= now),
        )
        .order_by(func.coalesce(Job.callback_next_at, Job.finished_at))
        .limit(limit)
        .with_for_update(skip_locked=True, of=Job)
    )
    due = list(session.scalars(query))
    if due:
        session.execute(
            update(Job)
            .where(Job.id.in_([job.id for job in due]))
            .values(callback_next_at=now + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
    return due


def record(session: Session, job_id: str, attempt: Attempt) -> JobCallback:
    """Keep the attempt and move the job's callback on: delivered, refused, failed (no retry
    left) or pending until `retry_at`. The caller commits."""
    if attempt.outcome not in OUTCOMES:
        raise ValueError(f"unknown callback outcome {attempt.outcome!r}")
    done = select(func.count()).where(JobCallback.job_id == job_id)
    row = JobCallback(
        job_id=job_id,
        attempt=(session.scalar(done) or 0) + 1,
        url=attempt.url,
        outcome=attempt.outcome,
        status_code=attempt.status_code,
        error=attempt.error,
        seconds=attempt.seconds,
    )
    session.add(row)
    if attempt.outcome == "failed" and attempt.retry_at is not None:
        state, next_at = "pending", attempt.retry_at
    else:
        state = "failed" if attempt.outcome == "failed" else attempt.outcome
        next_at = None
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.callback_state == "pending")
        .values(callback_state=state, callback_next_at=next_at)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return row
