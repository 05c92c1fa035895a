"""Jobs: the list with filters and paging, a job's page that follows it live, its files.

The job page is rendered from the database like every page; `console.js` then follows
`/console/jobs/{id}/events` (the same stream as the API's `GET /jobs/{id}/events`, signed in
by cookie) to grow each field's text and update the status, and reloads once the job ends so
the finished page (provenance, PDF, downloads) is rendered by the server again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse

from console import manage, web
from registry import job_events, jobs
from registry.artifacts import content_disposition, downloadable, verified_chunks
from registry.errors import NotFound, RegistryError, StorageUnavailable
from registry.job_events import SSE_HEADERS
from registry.models import JOB_STATUSES, Job
from registry.permissions import Actor
from registry.storage import ArtifactStore

router = APIRouter(prefix="/console", include_in_schema=False)
PAGE_SIZE = 25
PERIODS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
FORMAT_LABELS = dict(manage.FORMATS)


def job_url(job_id: str) -> str:
    return f"/console/jobs/{quote(job_id, safe='')}"


@router.get("/jobs", response_class=HTMLResponse)
def job_list(
    request: Request,
    session: web.DbSession,
    *,
    status: Annotated[str, Query(max_length=16)] = "",
    template: Annotated[str, Query(max_length=200)] = "",
    requester: Annotated[str, Query(max_length=100)] = "",
    period: Annotated[str, Query(max_length=8)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    found = web.signed_in(request, session)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    problems = []
    if status and status not in JOB_STATUSES:
        problems.append(f"unknown status {status!r}")
    if period and period not in PERIODS:
        problems.append(f"unknown period {period!r}")
    if problems:
        return web.bad_request(request, "; ".join(problems), actor, console_session.csrf)
    since = datetime.now(UTC) - PERIODS[period] if period else None
    rows = jobs.list_jobs(
        session,
        actor,
        template=template.strip() or None,
        status=status or None,
        requested_by=requester.strip() or None,
        since=since,
        limit=PAGE_SIZE + 1,
        offset=(page - 1) * PAGE_SIZE,
    )
    filters = {"status": status, "template": template, "requester": requester, "period": period}
    kept = {k: v for k, v in filters.items() if v}
    return web.render(
        request,
        "jobs.html",
        title="Jobs",
        actor=actor,
        csrf=console_session.csrf,
        rows=[_row(job) for job in rows[:PAGE_SIZE]],
        filters=filters,
        statuses=JOB_STATUSES,
        periods=list(PERIODS),
        page=page,
        newer=f"/console/jobs?{urlencode({**kept, 'page': page - 1})}" if page > 1 else "",
        older=(
            f"/console/jobs?{urlencode({**kept, 'page': page + 1})}"
            if len(rows) > PAGE_SIZE
            else ""
        ),
        live=page == 1,
    )


def _row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "url": job_url(job.id),
        "template": job.template.name,
        "template_url": web.template_url(job.template.name),
        "version": job.version.version,
        "status": job.status,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "requested_by": job.requested_by,
        "created_at": job.created_at,
        "seconds": _seconds(job),
    }


def _seconds(job: Job) -> str:
    if job.started_at is None or job.finished_at is None:
        return ""
    return f"{(job.finished_at - job.started_at).total_seconds():.1f} s"


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, session: web.DbSession) -> Response:
    found = web.signed_in(request, session)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    try:
        job = jobs.get(session, actor, job_id)
        snap = job_events.snapshot(session, actor, job_id)
    except NotFound as exc:
        return web.not_found(request, str(exc), actor, console_session.csrf)
    files = [
        {
            "format": a.format,
            "label": FORMAT_LABELS.get(a.format, a.format),
            "filename": a.filename,
            "size": a.size,
            "sha256": a.sha256,
            "url": f"{job_url(job.id)}/files/{a.format}",
        }
        for a in sorted(job.artifacts, key=lambda a: list(FORMAT_LABELS).index(a.format))
    ]
    return web.render(
        request,
        "job.html",
        title=f"Job {job.id[:8]}",
        actor=actor,
        csrf=console_session.csrf,
        job=_row(job),
        detail=job,
        fields=list(snap.fields.values()),
        final=snap.final,
        files=files,
        pdf=next((f for f in files if f["format"] == "pdf"), None),
        timings=[(k.removesuffix("_seconds").replace("_", " "), v) for k, v in job.timings.items()],
        events_url=f"{job_url(job.id)}/events",
        cancel=_cancel_control(actor, job),
        cancel_url=f"{job_url(job.id)}/cancel",
    )


def _cancel_control(actor: Actor, job: Job) -> str:
    """`offer` the Cancel button, show `cancelling` (asked, still running), or nothing."""
    if job.status == "running" and job.cancel_requested_at is not None:
        return "cancelling"
    if job.status in ("queued", "running", "failed") and jobs.may_cancel(actor, job):
        return "offer"
    return ""


@router.post("/jobs/{job_id}/cancel")
def cancel_job(
    request: Request,
    job_id: str,
    session: web.DbSession,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The Cancel button: the same rule and answers as `POST /jobs/{id}/cancel`."""

    def change(actor: Actor) -> str:
        jobs.cancel(session, actor, job_id, request.app.state.store)
        return job_url(job_id)

    return manage.post(request, session, csrf, change)


@router.get("/jobs/{job_id}/events")
def job_event_stream(request: Request, job_id: str, session: web.DbSession) -> Response:
    """The job's live events for the page (404 for a job the actor may not see)."""
    found = web.current(request, session)
    if found is None:
        return Response("signed out", status_code=401, media_type="text/plain")
    actor, _ = found
    try:
        job_events.snapshot(session, actor, job_id)
    except NotFound as exc:
        return Response(str(exc), status_code=404, media_type="text/plain")
    stream = job_events.events(request.app.state.sessions, actor, job_id, request.is_disconnected)
    headers = {**web.SECURITY_HEADERS, **SSE_HEADERS}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


@router.get("/jobs/{job_id}/files/{format}")
def job_file(request: Request, job_id: str, format: str, session: web.DbSession) -> Response:
    """A job's file: a PDF is shown in the page (inline), the others are downloads."""
    found = web.signed_in(request, session)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    store: ArtifactStore = request.app.state.store
    try:
        artifact = downloadable(session, actor, store, job_id, format)
        chunks = verified_chunks(store, artifact)  # through us from either store: framed inline
    except RegistryError as exc:  # missing, not finished, purged (410), corrupt
        return manage.refused(request, exc, actor, console_session.csrf)
    except StorageUnavailable:
        message = "The file store cannot be reached just now; try again in a minute."
        response = web.render(
            request, "error.html", 503, title="Unavailable", message=message, actor=actor
        )
        response.headers["Retry-After"] = "5"
        return response
    headers = {
        "ETag": f'"{artifact.sha256}"',
        "Content-Disposition": content_disposition(artifact, inline=artifact.format == "pdf"),
        "Content-Length": str(artifact.size),
        "X-Content-Type-Options": "nosniff",
        # The page that frames the PDF is ours; nothing else may frame it or run in it.
        "Content-Security-Policy": "frame-ancestors 'self'",
        "Cache-Control": "private, max-age=300",
    }
    return StreamingResponse(chunks, media_type=artifact.content_type, headers=headers)
