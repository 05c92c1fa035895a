"""A job followed live: snapshots of its state and fields, turned into server-sent events.

`GET /jobs/{id}/events` (API clients) and the console's job page both stream `events()`.
Each poll reads the job row, its finished fields (`generation`) and the text of running
fields (`registry.progress`) from the database, so a worker on any host is followed the same
way. Events, in SSE form (`event:` name, `data:` JSON):

- `job`: status, attempts, timings, cancel request, error, artifacts — sent first and whenever
  one changes;
- `field`: one generated field's text so far (`done: false`) or its finished record;
- `end`: the final status, then the stream closes (a finished job answers job, fields, end).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
from sqlalchemy.orm import Session, sessionmaker

from registry import jobs, progress
from registry.models import FINAL_STATUSES, Job
from registry.permissions import Actor

FINAL = frozenset(FINAL_STATUSES)  # the stream ends on these (succeeded, dead, cancelled)
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
RETRY_MILLISECONDS = 2000
# No proxy buffering (nginx), no caching: each event must reach the client when it is sent.
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def job_state(job: Job) -> dict[str, Any]:
    """What the `job` event carries (the API's job resource, less inputs and generation)."""
    return {
        "id": job.id,
        "template": job.template.name,
        "version": job.version.version,
        "status": job.status,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "requested_by": job.requested_by,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "next_attempt_at": _iso(job.next_attempt_at),
        "cancel_requested_at": _iso(job.cancel_requested_at),
        "error": job.error,
        "timings": job.timings or {},
        "artifacts": [
            {"format": a.format, "filename": a.filename, "size": a.size, "sha256": a.sha256}
            for a in job.artifacts
        ],
    }


@dataclass(frozen=True)
class Snapshot:
    job: dict[str, Any]
    fields: dict[str, dict[str, Any]]  # by name, in the template's order

    @property
    def final(self) -> bool:
        return self.job["status"] in FINAL


def snapshot(session: Session, actor: Actor, job_id: str) -> Snapshot:
    """The job as `actor` may see it now (NotFound as `jobs.get` when they may not)."""
    job = jobs.get(session, actor, job_id)
    session.refresh(job)
    names = list(job.version.meta.get("generate") or [])
    fields: dict[str, dict[str, Any]] = {n: _pending(n) for n in names}
    for row in progress.of_job(session, job.id):
        if row.attempt == job.attempts:
            fields[row.name] = {
                "name": row.name,
                "done": False,
                "text": row.text,
                "tokens": row.tokens,
                "seconds": row.seconds,
            }
    for record in job.generation or []:
        fields[str(record["name"])] = {
            **record,
            "done": True,
            "tokens": record.get("completion_tokens", 0),
        }
    return Snapshot(job_state(job), fields)


def _pending(name: str) -> dict[str, Any]:
    return {"name": name, "done": False, "text": "", "tokens": 0, "seconds": 0.0}


class Changes:
    """What a follower has not been told yet, from one snapshot to the next."""

    def __init__(self) -> None:
        self._job: dict[str, Any] | None = None
        self._fields: dict[str, dict[str, Any]] = {}

    def since_last(self, snap: Snapshot) -> list[tuple[str, dict[str, Any]]]:
        events: list[tuple[str, dict[str, Any]]] = []
        if snap.job != self._job:
            events.append(("job", snap.job))
            self._job = snap.job
        for name, state in snap.fields.items():
            if self._fields.get(name) != state:
                events.append(("field", state))
                self._fields[name] = state
        if snap.final:
            events.append(("end", {"status": snap.job["status"]}))
        return events


def frame(event: str, data: dict[str, Any], event_id: int) -> str:
    """One server-sent event (JSON on one `data:` line, so no newline can split it)."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}\nevent: {event}\ndata: {payload}\n\n"


async def events(
    sessions: sessionmaker[Session],
    actor: Actor,
    job_id: str,
    disconnected: Callable[[], Awaitable[bool]],
    poll_seconds: float = POLL_SECONDS,
) -> AsyncIterator[str]:
    """The job's events until it ends or the client goes away (call `snapshot` first to
    answer 404 before the stream starts)."""

    def read() -> Snapshot:
        with sessions() as session:
            return snapshot(session, actor, job_id)

    changes, event_id, quiet_since = Changes(), 0, time.monotonic()
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    while True:
        snap = await anyio.to_thread.run_sync(read)
        for name, data in changes.since_last(snap):
            event_id += 1
            quiet_since = time.monotonic()
            yield frame(name, data, event_id)
        if snap.final or await disconnected():
            return
        if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await anyio.sleep(poll_seconds)
