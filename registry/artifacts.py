"""Recorded artifacts checked against the store: a row whose file is gone is data loss to
report (a download answers `artifact_missing`, this lists every one), not a silent 404."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from documents.spec import canonical_formats
from registry import jobs
from registry.errors import Conflict, NotFound
from registry.models import Job, JobArtifact
from registry.permissions import Actor
from registry.storage import ArtifactStore

log = structlog.get_logger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArtifactProblem:
    job_id: str
    format: str
    uri: str
    problem: str  # "missing" or "sha256 mismatch"


def artifact_problems(
    session: Session, store: ArtifactStore, *, verify: bool = False
) -> Iterator[ArtifactProblem]:
    """Every recorded artifact of a succeeded job that is missing (or, with `verify`, whose
    bytes no longer match the recorded SHA-256)."""
    rows = session.scalars(
        select(JobArtifact)
        .join(Job, Job.id == JobArtifact.job_id)
        .where(Job.status == "succeeded")
        .order_by(JobArtifact.job_id, JobArtifact.format)
    )
    for artifact in rows:
        if not store.exists(artifact.uri):
            problem = "missing"
        elif verify and _sha256(store, artifact.uri) != artifact.sha256:
            problem = "sha256 mismatch"
        else:
            continue
        yield ArtifactProblem(artifact.job_id, artifact.format, artifact.uri, problem)


def _sha256(store: ArtifactStore, uri: str) -> str:
    digest = hashlib.sha256()
    with store.open(uri) as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def downloadable(
    session: Session, actor: Actor, store: ArtifactStore, job_id: str, format: str
) -> JobArtifact:
    """The artifact of `job_id` in `format` that `actor` may download, or the reason why not:
    `NotFound` (no such job for them, no such format, a recorded file gone from the store) or
    `Conflict` (the job has not succeeded). The API and the console both serve through it."""
    job = jobs.get(session, actor, job_id)
    try:
        wanted = canonical_formats([format])[0]
    except ValueError as exc:
        raise NotFound(str(exc), "artifact_not_found") from None
    if job.status != "succeeded":
        raise Conflict(f"job {job_id!r} is {job.status}; it has no artifacts yet", "not_ready")
    artifact = next((a for a in job.artifacts if a.format == wanted), None)
    if artifact is None:
        raise NotFound(f"job {job_id!r} has no {wanted} artifact", "artifact_not_found")
    if not store.exists(artifact.uri):
        # Recorded but gone: data loss an operator must hear about, not a quiet 404.
        log.error("a recorded artifact is missing from the store", job_id=job_id, uri=artifact.uri)
        raise NotFound(
            f"artifact {artifact.filename!r} of job {job_id!r} is recorded but missing from "
            "the store (`autoglm admin check-artifacts` lists every such file)",
            "artifact_missing",
        )
    return artifact
