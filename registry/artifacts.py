"""Recorded artifacts checked against the store: a row whose file is gone is data loss to
report (a download answers `artifact_missing`, this lists every one), not a silent 404."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import Job, JobArtifact
from registry.storage import ArtifactStore

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
