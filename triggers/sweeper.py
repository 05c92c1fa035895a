"""The sweeper: resends jobs whose message was lost, buries those whose worker died, and ends
`cancelled` those asked to cancel whose worker died before it could.

Like rq's scheduler it only enqueues; it never runs work itself. Running two is harmless:
a resend of a job already taken is ignored by the worker's claim.
"""

from __future__ import annotations

import structlog
from sqlalchemy.orm import Session, sessionmaker

from registry import jobs
from registry.models import Job
from registry.storage import ArtifactStore
from triggers.dispatch import Dispatcher
from triggers.loops import Every

log = structlog.get_logger(__name__)


def sweep(
    session: Session,
    dispatcher: Dispatcher,
    resend_after: float,
    store: ArtifactStore | None = None,
) -> int:
    """One pass; returns how many jobs were resent. With `store`, the files a lost attempt of
    a job now cancelled may have stored are removed (a cancelled job has none)."""
    for job_id in jobs.bury_lost(session):
        log.warning("job dead: worker lost on the last attempt", job_id=job_id)
    for job_id in jobs.cancel_abandoned(session):
        log.info("job cancelled: its worker was lost after the cancel request", job_id=job_id)
        job = session.get(Job, job_id)
        if store is not None and job is not None:
            jobs.remove_stored_files(store, job)
    stuck = jobs.due_for_resend(session, resend_after)
    for job in stuck:
        log.info("resending job", job_id=job.id, status=job.status, trace_id=job.trace_id)
        try:
            dispatcher.send(job.id, priority=job.priority)
        except Exception as exc:  # the queue is down: the next pass tries again
            log.warning("resend failed", job_id=job.id, error=str(exc))
    return len(stuck)


def sweeper_loop(
    sessions: sessionmaker[Session],
    dispatcher: Dispatcher,
    *,
    interval: float,
    resend_after: float,
    store: ArtifactStore | None = None,
) -> Every:
    """The sweeper as a background thread (`autoglm scheduler`, and `serve` when embedded)."""
    return Every("sweeper", interval, sessions, lambda s: sweep(s, dispatcher, resend_after, store))
