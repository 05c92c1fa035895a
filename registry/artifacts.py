"""Recorded artifacts checked against the store: a row whose file is gone is data loss to
report (a download answers `artifact_missing`, this lists every one), not a silent 404, and
bytes that no longer match the recorded SHA-256 are never served (`artifact_corrupt`)."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO
from urllib.parse import quote

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from documents.spec import canonical_formats
from registry import jobs
from registry.errors import Conflict, Corrupt, Gone, NotFound
from registry.models import Job, JobArtifact
from registry.permissions import Actor
from registry.storage import ArtifactStore

log = structlog.get_logger(__name__)

_CHUNK = 1 << 20
_SPOOL_IN_MEMORY = 16 << 20  # a PDF or DOCX fits; a larger file spills to a temporary file


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


def _sha256(store: ArtifactStore, uri: str, copy_to: IO[bytes] | None = None) -> str:
    """The SHA-256 of the stored bytes, read once (and copied to `copy_to` on the way)."""
    digest = hashlib.sha256()
    with store.open(uri) as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            if copy_to is not None:
                copy_to.write(chunk)
    return digest.hexdigest()


def verified_chunks(store: ArtifactStore, artifact: JobArtifact) -> Iterator[bytes]:
    """The artifact's bytes in chunks, all read from the store and hashed before this returns:
    `Corrupt` (logged as an error) when they do not match the recorded SHA-256, so a response
    never starts with bytes it would have to disown."""
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 (closed below)
    try:
        _check(artifact, _sha256(store, artifact.uri, spool), "its content")
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return _chunks(spool)


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(_CHUNK):
            yield chunk


def presigned(
    store: ArtifactStore, artifact: JobArtifact, seconds: int, *, inline: bool = False
) -> str | None:
    """A URL the client fetches the artifact from directly, for `seconds`, once the SHA-256 the
    store keeps for the object matches the recorded one; None when the store hands out no URLs."""
    disposition = content_disposition(artifact, inline=inline)
    url = store.presigned_url(
        artifact.uri, seconds=seconds, content_type=artifact.content_type, disposition=disposition
    )
    if url is not None:
        _check(artifact, store.stored_sha256(artifact.uri), "the store's checksum")
    return url


def content_disposition(artifact: JobArtifact, *, inline: bool = False) -> str:
    """`attachment` (or `inline`) with the artifact's file name: quoted when it is plain ASCII,
    in RFC 5987 form (`filename*=utf-8''…`) otherwise, as Starlette's `FileResponse` writes it."""
    kind = "inline" if inline else "attachment"
    quoted = quote(artifact.filename)
    if quoted == artifact.filename:
        return f'{kind}; filename="{artifact.filename}"'
    return f"{kind}; filename*=utf-8''{quoted}"


def _check(artifact: JobArtifact, sha256: str | None, what: str) -> None:
    if sha256 == artifact.sha256:
        return
    # Corruption, or a write behind our back: an operator must hear of it, the caller is told.
    log.error(
        "an artifact does not match its recorded SHA-256",
        job_id=artifact.job_id,
        uri=artifact.uri,
        checked=what,
        recorded=artifact.sha256,
        found=sha256,
    )
    raise Corrupt(
        f"artifact {artifact.filename!r} of job {artifact.job_id!r} is corrupt: {what} does "
        "not match the SHA-256 recorded when it was made (`autoglm admin check-artifacts "
        "--verify` lists every such file)",
        "artifact_corrupt",
    )


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
    if job.files_purged_at is not None:
        raise Gone(
            f"the files of job {job_id!r} were purged at {job.files_purged_at.isoformat()}",
            "artifact_purged",
        )
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
