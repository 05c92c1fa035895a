"""Retention: finished jobs, their files and expired cached generations are removed.

A job is removed once it is final (`FINAL_STATUSES`) and finished longer ago than its
template's `retention_days` (the active version's; else `settings.retention_days`; 0 keeps
it forever), unless it is a schedule's `last_job_id`. Running, queued and failed (to be
retried) jobs are never touched.

Order, for crash safety: one batch's job rows are locked (`FOR UPDATE SKIP LOCKED`, so two
sweepers never take the same rows and a concurrent purge waits), then their files are
removed from the store, then the rows are deleted and the transaction commits. A crash
before the commit leaves the rows in place (locks released), and the next pass removes the
already-missing files again (missing is fine for both stores) and then the rows: nothing is
leaked and no live row ever points at a removed file, except the expired rows of that
interrupted batch, which a download would report as `artifact_missing` until the next pass.
Deleting rows first would instead leave orphan files no row names, which nothing would find.
Files are removed only under the job's own keys (`<job id>/<attempt>/…`) and its own
artifact URIs, so another job's files are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from core.settings import Settings
from registry import jobs, templates
from registry.audit import record
from registry.errors import Conflict
from registry.models import (
    FINAL_STATUSES,
    CachedGeneration,
    Job,
    JobArtifact,
    Schedule,
    Template,
    utcnow,
)
from registry.permissions import Actor, Permission, require_global
from registry.storage import ArtifactStore, delete_attempts


@dataclass
class Swept:
    """What one pass removed: job rows, artifact files (their rows with them), cache rows."""

    jobs: int = 0
    artifacts: int = 0
    cached_generations: int = 0


def retention_days(template: Template, settings: Settings) -> float:
    """Days a template's finished jobs are kept: its active version's `retention_days`, else
    the global setting; 0 = forever."""
    version = template.active_version
    own = templates.load_version(version).spec.retention_days if version is not None else None
    return settings.retention_days if own is None else own


def sweep_expired(
    session: Session, store: ArtifactStore, settings: Settings, now: datetime | None = None
) -> Swept:
    """One pass over every template, then the generation cache, in batches of
    `settings.retention_batch_size`, each its own transaction (committed here)."""
    now = now or utcnow()
    swept = Swept()
    for template in list(session.scalars(select(Template).order_by(Template.id))):
        days = retention_days(template, settings)
        if days > 0:
            cutoff = now - timedelta(days=days)
            jobs, artifacts = _sweep_template(
                session, store, template.id, cutoff, batch_size=settings.retention_batch_size
            )
            swept.jobs += jobs
            swept.artifacts += artifacts
    swept.cached_generations = expire_cache(session, now, settings.retention_batch_size)
    return swept


def _sweep_template(
    session: Session,
    store: ArtifactStore,
    template_id: int,
    cutoff: datetime,
    *,
    batch_size: int,
) -> tuple[int, int]:
    """Remove the template's expired jobs; how many jobs and artifacts went."""
    jobs = artifacts = 0
    referenced = select(Schedule.last_job_id).where(Schedule.last_job_id.is_not(None))
    query = (
        select(Job.id, Job.attempts)
        .where(
            Job.template_id == template_id,
            Job.status.in_(FINAL_STATUSES),
            Job.finished_at.is_not(None),
            Job.finished_at < cutoff,
            Job.id.not_in(referenced),
        )
        .order_by(Job.finished_at, Job.id)
        .limit(batch_size)
        .with_for_update(of=Job, skip_locked=True)
    )
    while batch := list(session.execute(query)):
        ids = [job_id for job_id, _ in batch]
        uris = list(session.scalars(select(JobArtifact.uri).where(JobArtifact.job_id.in_(ids))))
        for uri in uris:
            store.delete(uri)
        for job_id, attempts in batch:
            delete_attempts(store, job_id, range(1, attempts + 1))
        session.execute(delete(Job).where(Job.id.in_(ids)))  # artifacts etc. cascade
        session.commit()
        jobs += len(ids)
        artifacts += len(uris)
        if len(batch) < batch_size:
            break
    return jobs, artifacts


def expire_cache(session: Session, now: datetime, batch_size: int) -> int:
    """Remove cached generations whose `expires_at` has passed, `batch_size` per commit."""
    removed = 0
    while True:
        keys = (
            select(CachedGeneration.key)
            .where(CachedGeneration.expires_at <= now)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        result = session.execute(
            delete(CachedGeneration)
            .where(CachedGeneration.key.in_(keys))
            .execution_options(synchronize_session=False)
        )
        count = cast(CursorResult[Any], result).rowcount
        session.commit()
        removed += count
        if count < batch_size:
            return removed


def purge_job(session: Session, actor: Actor, store: ArtifactStore, job_id: str) -> Job:
    """Remove a finished job's files now (an admin's act: `DELETE /jobs/{id}/artifacts`,
    `autoglm admin purge-job`), keeping its row with `files_purged_at` set, so a download
    answers 410 `artifact_purged`. Same order as the sweep: row locked, files, rows, audit.
    A repeat removes nothing more. The caller commits."""
    require_global(actor, Permission.ADMIN)
    locked = session.scalar(select(Job.id).where(Job.id == job_id).with_for_update())
    job = session.get(Job, job_id, populate_existing=True) if locked else None
    if job is None:
        raise jobs.job_not_found(job_id)
    if job.status not in FINAL_STATUSES:
        raise Conflict(
            f"job {job_id!r} is {job.status}; only a finished job's files can be purged "
            "(cancel it first)",
            "job_not_final",
        )
    removed = [a.format for a in job.artifacts]
    for artifact in job.artifacts:
        store.delete(artifact.uri)
    delete_attempts(store, job.id, range(1, job.attempts + 1))
    job.artifacts.clear()
    if job.files_purged_at is None:
        job.files_purged_at = utcnow()
    record(session, actor, "job.purge", "job", job.id, details={"formats": removed})
    return job
