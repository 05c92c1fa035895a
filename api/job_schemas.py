"""Request and response bodies of the jobs API."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from api.params import RequestBody
from registry.models import Job, JobArtifact


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
        )
