"""Finished (or not) job rows with real files in a real store, for retention and purge tests:
made directly, so a test can say how long ago each finished."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import Job, JobArtifact, Template, utcnow
from registry.storage import ArtifactStore, attempt_key

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=utcnow().tzinfo)


def make_job(
    session: Session,
    store: ArtifactStore,
    template: str,
    *,
    status: str = "succeeded",
    days_ago: float | None = 40,
    attempts: int = 1,
    now: datetime = NOW,
) -> Job:
    """A job of `template` that finished `days_ago` days before `now` (None: not finished),
    with one Markdown file stored per attempt and the last one recorded as its artifact."""
    row = session.scalars(select(Template).where(Template.name == template)).one()
    assert row.active_version_id is not None
    job_id = uuid.uuid4().hex
    finished = None if days_ago is None else now - timedelta(days=days_ago)
    job = Job(
        id=job_id,
        template_id=row.id,
        version_id=row.active_version_id,
        inputs={"team": "core"},
        formats=["md"],
        seed=1,
        requested_by="test",
        idempotency_key=job_id,
        request_sha256="0" * 64,
        trace_id=job_id,
        status=status,
        attempts=attempts,
        max_attempts=3,
        timeout_seconds=60,
        retry_delay_seconds=1.0,
        backoff="exponential",
        created_at=(finished or now) - timedelta(minutes=1),
        finished_at=finished,
    )
    session.add(job)
    for attempt in range(1, attempts + 1):
        data = f"# report of {job_id}, attempt {attempt}\n".encode()
        uri = store.put(attempt_key(job_id, attempt, "report.md"), data, "text/markdown")
        if attempt == attempts:
            job.artifacts.append(
                JobArtifact(
                    format="md",
                    filename="report.md",
                    uri=uri,
                    content_type="text/markdown",
                    size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                )
            )
    session.flush()
    return job


def uris(job: Job) -> list[str]:
    return [a.uri for a in job.artifacts]
