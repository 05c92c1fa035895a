"""The Kafka event contracts: request events in, completion and dead-letter records out.

Pure functions over bytes and rows, so the contracts are tested without a broker.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from registry.errors import Invalid
from registry.models import Job
from triggers.submit import JobRequest
from triggers.tracing import trace_id_of

Headers = Sequence[tuple[str, bytes | None]]
DEAD_LETTER_PREFIX = "autoglm.error."


class RequestEvent(BaseModel):
    """One request on the requests topic; the same fields as `POST /jobs`."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    template: str = Field(min_length=1, max_length=200)
    version: str | None = Field(default=None, min_length=1, max_length=64)
    inputs: dict[str, Any] = Field(default_factory=dict)
    formats: list[str] | None = Field(default=None, min_length=1, max_length=3)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    callback_url: str | None = Field(default=None, max_length=2000)
    priority: int | None = Field(default=None, ge=0, le=9)

    @field_validator("template", "version", "idempotency_key")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must not contain control characters")
        return value


def source_key(topic: str, partition: int, offset: int) -> str:
    """The idempotency key of an event that brings none: where it sits in Kafka."""
    return f"kafka:{topic}:{partition}:{offset}"


def parse_request(
    value: bytes | None, headers: Headers, *, topic: str, partition: int, offset: int
) -> JobRequest:
    """The job an event asks for, or `Invalid` naming what is wrong with it."""
    if not value:
        raise Invalid("empty event: expected a JSON object", "invalid_event")
    try:
        payload = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Invalid(f"event is not JSON: {exc}", "invalid_event") from None
    if not isinstance(payload, dict):
        raise Invalid("event must be a JSON object", "invalid_event")
    try:
        event = RequestEvent.model_validate(payload)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        ]
        raise Invalid("invalid event: " + "; ".join(problems), "invalid_event") from None
    found = {name.lower(): (raw or b"").decode("utf-8", "replace") for name, raw in headers}
    return JobRequest(
        template=event.template,
        version=event.version,
        inputs=event.inputs,
        formats=event.formats,
        idempotency_key=event.idempotency_key or source_key(topic, partition, offset),
        trace_id=trace_id_of(found.get("x-trace-id"), found.get("traceparent")),
        callback_url=event.callback_url,
        priority=event.priority,
    )


def dead_letter_headers(
    original: Headers, *, error: str, code: str, topic: str, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    """The original headers plus why and where from (Kafka Connect style: the value stays the
    original bytes, so a fixed event can be replayed as it was)."""
    ours = {
        "message": error,
        "code": code,
        "topic": topic,
        "partition": str(partition),
        "offset": str(offset),
    }
    kept = [(name, raw or b"") for name, raw in original if not name.startswith(DEAD_LETTER_PREFIX)]
    return kept + [(DEAD_LETTER_PREFIX + k, v.encode("utf-8")) for k, v in ours.items()]


def completion_event(job: Job) -> dict[str, Any]:
    """What the completion topic (and the job's callback) says about a finished job
    (`succeeded`, `dead` or `cancelled`)."""
    return {
        "job_id": job.id,
        "url": f"/jobs/{job.id}",
        "status": job.status,
        "template": job.template.name,
        "version": job.version.version,
        "requested_by": job.requested_by,
        "idempotency_key": job.idempotency_key,
        "trace_id": job.trace_id,
        "attempts": job.attempts,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "error": job.error,
        "artifacts": [
            {
                "format": a.format,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
                "url": f"/jobs/{job.id}/artifacts/{a.format}",
            }
            for a in job.artifacts
        ],
    }
