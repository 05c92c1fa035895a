"""The job lifecycle in the database: claim, renew, finish, fail, and find what needs a resend.

Every transition is one conditional UPDATE, so two workers (or a worker and the sweeper)
racing over one job cannot both win. ``attempts`` is the fencing token: a worker finishes only
the attempt it claimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from registry import audit, progress
from registry.errors import Conflict, Forbidden, NotFound
from registry.models import FINAL_STATUSES, Job, JobArtifact, Team, Template, utcnow
from registry.permissions import Actor, Permission, can
from registry.storage import ArtifactStore, discard_attempts
from registry.templates import access_of, visible

MAX_BACKOFF_SECONDS = 3600.0
EARLY_START_SLACK = timedelta(milliseconds=50)


@dataclass(frozen=True)
class StoredArtifact:
    format: str
    filename: str
    uri: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class FailureOutcome:
    status: str  # "failed" (a retry is due in `retry_in` seconds) or "dead"
    retry_in: float = 0.0


def job_not_found(job_id: str) -> NotFound:
    # The same answer for a missing job and for one the caller may not read.
    return NotFound(f"job {job_id!r} not found", "job_not_found")


def get(session: Session, actor: Actor, job_id: str) -> Job:
    """The job if `actor` may read jobs of its template; otherwise `NotFound`."""
    job = session.get(Job, job_id)
    if job is None or not can(actor, Permission.JOB_READ, access_of(job.template)):
        raise job_not_found(job_id)
    return job


def list_jobs(
    session: Session,
    actor: Actor,
    *,
    template: str | None = None,
    status: str | None = None,
    requested_by: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Job]:
    """Newest first, only jobs of templates on which `actor` holds `job:read`; `since` and
    `until` bound the creation time (inclusive, exclusive)."""
    query = select(Job).join(Template, Job.template_id == Template.id)
    query = query.join(Team, Template.owner_team_id == Team.id)
    if template is not None:
        query = query.where(Template.name == template)
    if status is not None:
        query = query.where(Job.status == status)
    if requested_by is not None:
        query = query.where(Job.requested_by == requested_by)
    if since is not None:
        query = query.where(Job.created_at >= since)
    if until is not None:
        query = query.where(Job.created_at < until)
    query = visible(actor, query, Permission.JOB_READ)
    query = query.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
    return list(session.scalars(query))


def by_idempotency_key(session: Session, requester: str, key: str) -> Job | None:
    return session.scalar(
        select(Job).where(Job.requested_by == requester, Job.idempotency_key == key)
    )


@dataclass(frozen=True)
class Claim:
    """A claimed job and the attempt number the claim itself wrote.

    The number comes back from the claiming UPDATE, never from a later read: a worker that
    pauses after claiming (SIGSTOP, a hung connection, a long GC) would otherwise read the
    number of the attempt that took over meanwhile, and act, write and delete under it.
    """

    job: Job
    attempt: int


def claim(session: Session, job_id: str, worker: str, lease_seconds: float) -> Claim | None:
    """Start the next attempt if the job is due; None when it is done, dead, not yet due,
    or held by a live worker. Commits, so the claim is visible to every other process."""
    now = utcnow()
    due = or_(
        Job.status == "queued",
        and_(Job.status == "failed", Job.next_attempt_at <= now + EARLY_START_SLACK),
        and_(Job.status == "running", Job.lease_expires_at < now),
    )
    # A cancel request blocks every claim, also of a running job whose worker went away.
    statement = (
        update(Job)
        .where(
            Job.id == job_id,
            due,
            Job.attempts < Job.max_attempts,
            Job.cancel_requested_at.is_(None),
        )
        .values(
            status="running",
            attempts=Job.attempts + 1,
            started_at=now,
            next_attempt_at=None,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            worker=worker,
        )
        .returning(Job.attempts)
        .execution_options(synchronize_session=False)
    )
    attempt = session.execute(statement).scalar_one_or_none()
    session.commit()
    if attempt is None:
        return None
    job = session.get(Job, job_id, populate_existing=True)
    return None if job is None else Claim(job, attempt)


def seconds_until_due(session: Session, job_id: str) -> float | None:
    """For a failed job whose retry is not due yet (an early or duplicate message): how long
    until it is. None for any other state."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None or job.status != "failed" or job.next_attempt_at is None:
        return None
    return max((job.next_attempt_at - utcnow()).total_seconds(), 0.0)


def renew_lease(session: Session, job_id: str, attempt: int, lease_seconds: float) -> bool:
    """Push the lease forward while the attempt runs; False if it was taken over."""
    renewed = _update(
        session,
        *_owned(job_id, attempt),
        lease_expires_at=utcnow() + timedelta(seconds=lease_seconds),
    )
    session.commit()
    return renewed == 1


def record_field(session: Session, job_id: str, attempt: int, record: dict[str, Any]) -> bool:
    """Checkpoint one generated field on the job as soon as it is written, so a later attempt
    regenerates only what is missing. False when this attempt no longer owns the job."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        return False
    kept = [r for r in job.generation or [] if r.get("name") != record["name"]]
    recorded = _update(session, *_owned(job_id, attempt), generation=[*kept, record])
    session.commit()
    return recorded == 1


def complete(
    session: Session,
    job_id: str,
    attempt: int,
    *,
    generation: list[dict[str, Any]],
    artifacts: list[StoredArtifact],
    timings: dict[str, Any],
) -> bool:
    """Mark the attempt succeeded and record its artifacts, in one transaction.

    False (and nothing written) when this attempt no longer owns the job, or when a cancel
    was requested meanwhile (then `end_cancelled` ends it).
    """
    finished = _update(
        session,
        *_owned(job_id, attempt),
        Job.cancel_requested_at.is_(None),
        status="succeeded",
        finished_at=utcnow(),
        lease_expires_at=None,
        error=None,
        generation=generation,
        timings=timings,
    )
    if finished == 0:
        session.rollback()
        return False
    session.execute(delete(JobArtifact).where(JobArtifact.job_id == job_id))
    progress.clear(session, job_id)
    session.add_all(
        JobArtifact(
            job_id=job_id,
            format=a.format,
            filename=a.filename,
            uri=a.uri,
            content_type=a.content_type,
            size=a.size,
            sha256=a.sha256,
        )
        for a in artifacts
    )
    session.commit()
    return True


def fail(
    session: Session, job: Job, attempt: int, error: str, *, permanent: bool
) -> FailureOutcome | None:
    """Record a failed attempt: `failed` with a backoff when attempts remain, else `dead`.

    None when this attempt no longer owns the job, or a cancel was requested (`end_cancelled`).
    """
    now = utcnow()
    if permanent or attempt >= job.max_attempts:
        outcome = FailureOutcome("dead")
        values: dict[str, Any] = {"status": "dead", "finished_at": now}
    else:
        outcome = FailureOutcome("failed", backoff_seconds(job, attempt))
        values = {
            "status": "failed",
            "next_attempt_at": now + timedelta(seconds=outcome.retry_in),
            "dispatched_at": now,
        }
    recorded = _update(
        session,
        *_owned(job.id, attempt),
        Job.cancel_requested_at.is_(None),
        error=error[:4000],
        lease_expires_at=None,
        **values,
    )
    if recorded == 1:
        progress.clear(session, job.id)
    session.commit()
    return outcome if recorded == 1 else None


def backoff_seconds(job: Job, attempt: int) -> float:
    """Delay before the attempt after `attempt`: fixed, none, or doubling from the first."""
    if job.backoff == "none":
        return 0.0
    if job.backoff == "fixed":
        return float(job.retry_delay_seconds)
    return min(float(job.retry_delay_seconds) * 2.0 ** (attempt - 1), MAX_BACKOFF_SECONDS)


def bury_lost(session: Session) -> list[str]:
    """Jobs whose worker vanished during their last attempt: mark them `dead`."""
    now = utcnow()
    lost = and_(
        Job.status == "running",
        Job.lease_expires_at < now,
        Job.attempts >= Job.max_attempts,
        Job.cancel_requested_at.is_(None),  # those end cancelled (`cancel_abandoned`)
    )
    error = "the worker was lost during the last attempt (its lease expired)"
    return _end_all(session, lost, status="dead", finished_at=now, error=error)


def _end_all(session: Session, where: ColumnElement[bool], **values: Any) -> list[str]:
    """End every job matching `where` with `values`, their live text cleared; commits."""
    ids = list(session.scalars(select(Job.id).where(where)))
    if ids:
        _update(session, Job.id.in_(ids), where, lease_expires_at=None, **values)
        progress.clear(session, *ids)
    session.commit()
    return ids


def due_for_resend(session: Session, resend_after: float, limit: int = 500) -> list[Job]:
    """Jobs whose task message may have been lost; marks them as sent now.

    - running on an expired lease (the worker died): once right after expiry;
    - failed, with its retry overdue by `resend_after` and no send for as long;
    - queued, and quiet since the last send for `resend_after` or for as long as the job had
      already waited when last sent, whichever is longer: a job stuck behind a long backlog
      gets a resend after 1, 2, 4, 8 ... times `resend_after`, not one every sweep.
    """
    now = utcnow()
    grace = timedelta(seconds=resend_after)
    never_sent = Job.dispatched_at.is_(None)
    quiet = or_(never_sent, Job.dispatched_at < now - grace)
    stuck = or_(
        and_(Job.status == "queued", quiet),
        and_(Job.status == "failed", Job.next_attempt_at < now - grace, quiet),
        and_(
            Job.status == "running",
            Job.lease_expires_at < now,
            Job.attempts < Job.max_attempts,
            Job.cancel_requested_at.is_(None),
            or_(never_sent, Job.dispatched_at < Job.lease_expires_at, quiet),
        ),
    )
    query = select(Job).where(stuck).order_by(Job.dispatched_at.is_not(None), Job.dispatched_at)
    candidates = session.scalars(query.limit(limit))
    jobs = [job for job in candidates if _resend_is_due(job, now, resend_after)]
    if jobs:
        _update(session, Job.id.in_([j.id for j in jobs]), dispatched_at=now)
    session.commit()
    return jobs


def _resend_is_due(job: Job, now: datetime, resend_after: float) -> bool:
    sent = job.dispatched_at
    if sent is None or job.status != "queued":
        return True
    waited_before = max((sent - job.created_at).total_seconds(), resend_after)
    return bool((now - sent).total_seconds() >= waited_before)


def mark_unsent(session: Session, job_id: str) -> None:
    """The send failed: let the next sweep send the job, not the one after `resend_after`."""
    _update(session, Job.id == job_id, dispatched_at=None)
    session.commit()


def counts_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {status: count for status, count in rows}


def _owned(job_id: str, attempt: int) -> tuple[ColumnElement[bool], ...]:
    """The job is still running the attempt numbered `attempt` (the fencing condition)."""
    return (Job.id == job_id, Job.status == "running", Job.attempts == attempt)


def _update(session: Session, *where: ColumnElement[bool], **values: Any) -> int:
    """One conditional UPDATE of jobs; the rows it changed (0: another process got there first)."""
    result: Any = session.execute(
        update(Job).where(*where).values(**values).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)


def unannounced(session: Session, limit: int = 100) -> list[Job]:
    """Finished jobs whose completion event is not published yet (the outbox), locked so that
    two bridges do not both take one (`SKIP LOCKED` on PostgreSQL; SQLite has one writer)."""
    query = (
        select(Job)
        .where(Job.status.in_(FINAL_STATUSES), Job.announced_at.is_(None))
        .order_by(Job.finished_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Job)
    )
    return list(session.scalars(query))


def mark_announced(session: Session, job_ids: list[str]) -> None:
    _update(session, Job.id.in_(job_ids), announced_at=utcnow())


# Cancellation. A job that is not running ends `cancelled` at once; a running one is asked to
# stop (`cancel_requested_at`), and its worker, which polls for that, ends it. Every step is
# conditional like the rest of the lifecycle, so a cancel racing a claim or a completion ends
# in exactly one state: `complete` and `fail` refuse once a cancel was requested.

CANCEL_ROUNDS = 5  # a cancel re-reads and retries while a claim or a finish moves the job


@dataclass(frozen=True)
class Cancellation:
    """What a cancel did: `ended` when the job is `cancelled` now, else a running job was
    asked to stop at its next check; `changed` is False for a repeat (nothing new done)."""

    job: Job
    ended: bool
    changed: bool


def may_cancel(actor: Actor, job: Job) -> bool:
    """Who may cancel a job: holders of `job:create` on its template, and its requester."""
    if can(actor, Permission.JOB_CREATE, access_of(job.template)):
        return True
    return actor.principal_id is not None and actor.principal_id == job.requested_by_id


def cancel(
    session: Session, actor: Actor, job_id: str, store: ArtifactStore | None = None
) -> Cancellation:
    """Cancel `job_id` for `actor`: `NotFound` if they may not read it, `Forbidden` if they
    may read but not cancel it, `Conflict` (`job_finished`) once it succeeded or is dead.
    Commits (with an audit entry); a job ended here has its stored files removed from `store`."""
    job = get(session, actor, job_id)
    if not may_cancel(actor, job):
        raise Forbidden(f"{actor.name} may not cancel job {job_id!r}", "cancel_forbidden")
    for _ in range(CANCEL_ROUNDS):
        session.refresh(job)
        outcome = _cancel_once(session, actor, job)
        if outcome is None:  # the job moved on between the read and the update: read again
            session.rollback()
            continue
        session.commit()
        session.refresh(job)
        if outcome.ended and outcome.changed and store is not None:
            remove_stored_files(store, job)
        return outcome
    raise Conflict(f"job {job_id!r} kept changing state; try again", "job_busy")


def _cancel_once(session: Session, actor: Actor, job: Job) -> Cancellation | None:
    """One try: the answer for the state just read, or None when the update found it changed."""
    if job.status == "cancelled":
        return Cancellation(job, ended=True, changed=False)
    if job.status not in ("queued", "failed", "running"):
        raise Conflict(f"job {job.id!r} has already finished ({job.status})", "job_finished")
    now = utcnow()
    abandoned = job.status == "running" and (
        job.lease_expires_at is None or job.lease_expires_at < now
    )
    if job.status == "running" and not abandoned:
        if job.cancel_requested_at is not None:
            return Cancellation(job, ended=False, changed=False)
        asked = _update(
            session,
            *_owned(job.id, job.attempts),
            Job.lease_expires_at >= now,
            Job.cancel_requested_at.is_(None),
            cancel_requested_at=now,
            error=f"cancelled by {actor.name}",
        )
        ended = False
    else:
        waiting = (
            and_(Job.status == "running", Job.lease_expires_at < now)  # its worker is gone
            if abandoned
            else Job.status.in_(("queued", "failed"))
        )
        asked = _update(
            session,
            Job.id == job.id,
            waiting,
            Job.attempts == job.attempts,
            status="cancelled",
            finished_at=now,
            cancel_requested_at=func.coalesce(Job.cancel_requested_at, now),
            next_attempt_at=None,
            lease_expires_at=None,
            error=f"cancelled by {actor.name}",
        )
        ended = True
    if asked == 0:
        return None
    if ended:
        progress.clear(session, job.id)
    details = {"from": job.status, "outcome": "cancelled" if ended else "cancel requested"}
    audit.record(session, actor, "job.cancel", "job", job.id, details=details)
    return Cancellation(job, ended=ended, changed=True)


def remove_stored_files(store: ArtifactStore, job: Job) -> None:
    """Files the attempts of a job ended without artifacts stored but never recorded (a
    worker lost between the two); best effort."""
    discard_attempts(store, job.id, range(1, job.attempts + 1))


def cancel_requested(session: Session, job_id: str) -> bool:
    """Whether a cancel was asked for `job_id` (the running worker polls this)."""
    asked = session.scalar(select(Job.cancel_requested_at).where(Job.id == job_id))
    session.rollback()  # end the read: the poll must not hold a transaction open
    return asked is not None


def end_cancelled(session: Session, job_id: str, attempt: int, timings: dict[str, Any]) -> bool:
    """End attempt `attempt` `cancelled` after its cancel request (its live text cleared);
    False when the attempt no longer owns the job or no cancel was requested."""
    ended = _update(
        session,
        *_owned(job_id, attempt),
        Job.cancel_requested_at.is_not(None),
        status="cancelled",
        finished_at=utcnow(),
        lease_expires_at=None,
        timings=timings,
    )
    if ended == 1:
        progress.clear(session, job_id)
    session.commit()
    return ended == 1


def cancel_abandoned(session: Session) -> list[str]:
    """Running jobs asked to cancel whose worker went away (lease expired): end them."""
    now = utcnow()
    gone = and_(
        Job.status == "running", Job.lease_expires_at < now, Job.cancel_requested_at.is_not(None)
    )
    return _end_all(session, gone, status="cancelled", finished_at=now)
