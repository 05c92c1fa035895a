"""Generated fields' text so far, kept in the database while their job runs.

The worker writes here (a few times a second, `workers.live.ProgressRecorder`), and anything
that follows a job reads here, so progress crosses hosts like the rest of the job's state:
an API server never needs to reach the worker that runs the job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from registry.models import Job, JobFieldProgress, utcnow

TEXT_LIMIT = 64 * 1024  # a field's text is never longer in practice; a bound all the same


@dataclass(frozen=True)
class SoFar:
    text: str
    tokens: int
    seconds: float


def record(session: Session, job_id: str, attempt: int, fields: Mapping[str, SoFar]) -> bool:
    """Store the latest text of `fields`; False (nothing stored) when `attempt` no longer
    runs the job (it finished, or another attempt took it over)."""
    owned = session.scalar(
        select(Job.id).where(Job.id == job_id, Job.attempts == attempt, Job.status == "running")
    )
    if owned is None:
        session.rollback()
        return False
    now = utcnow()
    for name, so_far in fields.items():
        session.merge(
            JobFieldProgress(
                job_id=job_id,
                name=name,
                attempt=attempt,
                text=so_far.text[:TEXT_LIMIT],
                tokens=so_far.tokens,
                seconds=round(so_far.seconds, 3),
                updated_at=now,
            )
        )
    session.commit()
    return True


def clear(session: Session, *job_ids: str) -> None:
    """Forget jobs' live text (in the caller's transaction): they ended, or start over."""
    session.execute(delete(JobFieldProgress).where(JobFieldProgress.job_id.in_(job_ids)))


def of_job(session: Session, job_id: str) -> list[JobFieldProgress]:
    query = select(JobFieldProgress).where(JobFieldProgress.job_id == job_id)
    return list(session.scalars(query.order_by(JobFieldProgress.name)))
