"""Request and response bodies of the jobs API."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from api.params import RequestBody
from registry.models import Job, JobArtifact, JobCallback


def job_url(job_id: str) -> str:
    return f"/jobs/{job_id}"


class JobIn(RequestBody):
    """A job request; `version` defaults to the template's active version, `formats` to the
    template's own. Numbers are taken as their text (`"version": 1.2` -> "1.2")."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    template: str = Field(min_length=1, max_length=200)
    version: str | None = Field(default=None, min_length=1, max_length=64)
    inputs: dict[str, Any] = Field(default_factory=dict)
    formats: list[str] | None = Field(default=None, min_length=1, max_length=3)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    callback_url: str | None = Field(
        default=None,
        max_length=2000,
        description="Receives the completion event as a signed POST (README: callbacks).",
    )
    priority: int | None = Field(
        default=None, ge=0, le=9, description="0-9, higher runs first; default 7 (interactive)."
    )


class CallbackAttemptOut(BaseModel):
    attempt: int
    url: str
    at: datetime
    outcome: str  # delivered, failed, refused
    status_code: int | None
    error: str | None
    seconds: float

    @classmethod
    def of(cls, row: JobCallback) -> CallbackAttemptOut:
        return cls(
            attempt=row.attempt,
            url=row.url,
            at=row.at,
            outcome=row.outcome,
            status_code=row.status_code,
            error=row.error,
            seconds=row.seconds,
        )


class ArtifactOut(BaseModel):
    format: str
    filename: str
    content_type: str
    size: int
    sha256: str
    url: str

    @classmethod
    def of(cls, row: JobArtifact) -> ArtifactOut:
        return cls(
            format=row.format,
            filename=row.filename,
            content_type=row.content_type,
            size=row.size,
            sha256=row.sha256,
            url=f"{job_url(row.job_id)}/artifacts/{quote(row.format)}",
        )


class JobOut(BaseModel):
    id: str
    url: str
    template: str
    version: str
    status: str
    attempts: int
    max_attempts: int
    requested_by: str
    idempotency_key: str
    trace_id: str
    inputs: dict[str, Any]
    formats: list[str]
    seed: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    next_attempt_at: datetime | None
    error: str | None
    timings: dict[str, Any]
    generation: list[dict[str, Any]]
    artifacts: list[ArtifactOut]
    priority: int
    cancel_requested_at: datetime | None
    files_purged_at: datetime | None
    callback_url: str | None
    callback_state: str | None  # pending, delivered, failed, refused; None: no callback
    callbacks: list[CallbackAttemptOut]

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            id=job.id,
            url=job_url(job.id),
            template=job.template.name,
            version=job.version.version,
            status=job.status,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            requested_by=job.requested_by,
            idempotency_key=job.idempotency_key,
            trace_id=job.trace_id,
            inputs=job.inputs,
            formats=job.formats,
            seed=job.seed,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            next_attempt_at=job.next_attempt_at,
            error=job.error,
            timings=job.timings,
            generation=job.generation,
            artifacts=[ArtifactOut.of(a) for a in job.artifacts],
            priority=job.priority,
            cancel_requested_at=job.cancel_requested_at,
            files_purged_at=job.files_purged_at,
            callback_url=job.callback_url,
            callback_state=job.callback_state,
            callbacks=[CallbackAttemptOut.of(c) for c in job.callbacks],
        )
