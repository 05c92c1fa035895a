"""Moving recorded artifacts from local files into the configured bucket, for a deployment that
grows from one host to several: once `AUTOGLM_S3_BUCKET` is set the API reads only the bucket,
so files made before stay unreachable until they are moved.

Each job is moved in its own transaction with its row locked (the retention sweep skips it,
an admin purge waits), every file is hashed against its recorded SHA-256 before it is copied,
and a local file is removed only after the row that names the bucket object has committed. A
run that stops half-way loses nothing: a rerun copies again what it had not recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit import record
from registry.errors import NotFound
from registry.models import Job, JobArtifact
from registry.permissions import Actor, Permission, require_global
from registry.storage import SCHEME, ArtifactStore, LocalArtifactStore


@dataclass(frozen=True)
class Move:
    job_id: str
    format: str
    source: str  # the file: URI
    target: str | None  # the bucket URI it now has; None when it was not moved
    problem: str | None = None  # "missing" or "sha256 mismatch": left where it is


def jobs_with_local_files(session: Session) -> list[str]:
    """Ids of the jobs with at least one artifact still recorded as a local file."""
    return list(
        session.scalars(
            select(JobArtifact.job_id)
            .where(JobArtifact.uri.startswith(SCHEME))
            .distinct()
            .order_by(JobArtifact.job_id)
        )
    )


def move_to(
    session: Session,
    actor: Actor,
    source: LocalArtifactStore,
    target: ArtifactStore,
    *,
    keep_local: bool = False,
    dry_run: bool = False,
) -> Iterator[Move]:
    """Move every local artifact into `target`, one job per commit; yields what happened to
    each file. With `dry_run` nothing is written: each file is only read and checked."""
    require_global(actor, Permission.ADMIN)
    for job_id in jobs_with_local_files(session):
        moves = list(_move_job(session, source, target, job_id, dry_run=dry_run))
        done = [m for m in moves if m.target is not None]
        if dry_run or not done:
            session.rollback()
        else:
            record(
                session,
                actor,
                "job.artifacts_moved",
                "job",
                job_id,
                details={"formats": [m.format for m in done], "to": _root_of(done[0].target)},
            )
            session.commit()
            if not keep_local:
                for move in done:  # only now does nothing name the file any more
                    source.delete(move.source)
        yield from moves


def _move_job(
    session: Session,
    source: LocalArtifactStore,
    target: ArtifactStore,
    job_id: str,
    *,
    dry_run: bool,
) -> Iterator[Move]:
    if session.scalar(select(Job.id).where(Job.id == job_id).with_for_update()) is None:
        return  # removed since it was listed (retention, a purge)
    artifacts = session.scalars(
        select(JobArtifact)
        .where(JobArtifact.job_id == job_id, JobArtifact.uri.startswith(SCHEME))
        .order_by(JobArtifact.format)
        .execution_options(populate_existing=True)
    )
    for artifact in artifacts:
        try:
            with source.open(artifact.uri) as stream:
                data = stream.read()
        except NotFound:
            yield Move(job_id, artifact.format, artifact.uri, None, "missing")
            continue
        if hashlib.sha256(data).hexdigest() != artifact.sha256:
            yield Move(job_id, artifact.format, artifact.uri, None, "sha256 mismatch")
            continue
        if dry_run:
            yield Move(job_id, artifact.format, artifact.uri, None)
            continue
        key = artifact.uri.removeprefix(SCHEME)  # <job id>/<attempt>/<file name> in both
        moved = target.put(key, data, artifact.content_type)
        yield Move(job_id, artifact.format, artifact.uri, moved)
        artifact.uri = moved


def _root_of(uri: str | None) -> str:
    return (uri or "").rsplit("/", 3)[0]
