"""Jobs: submit (202, then a worker runs it), read, list, and download artifacts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from api.deps import CurrentActor, SessionDep, SettingsDep
from api.job_schemas import JobIn, JobOut
from api.params import Offset
from api.submissions import answered_in_memory
from registry import job_events as job_events_module
from registry import jobs
from registry.artifacts import content_disposition, downloadable, presigned, verified_chunks
from registry.job_events import SSE_HEADERS
from registry.permissions import Actor
from registry.storage import ArtifactStore
from triggers import priorities
from triggers.dispatch import Dispatcher
from triggers.submit import JobRequest, submit
from triggers.tracing import trace_id_of

router = APIRouter(prefix="/jobs", tags=["jobs"])

Status = Literal["queued", "running", "succeeded", "failed", "dead", "cancelled"]


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    responses={200: {"description": "The idempotency key named an existing job."}},
)
def create_job(
    body: JobIn,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    actor: CurrentActor,
    x_trace_id: Annotated[str | None, Header()] = None,
    traceparent: Annotated[str | None, Header()] = None,
) -> JobOut:
    """Validate and queue a job; a repeated idempotency key returns the first job (200).

    Once the job is committed it is answered 202 whatever happens next: the answer is built
    from memory (see `api.submissions`), so a client is never told to retry a queued job."""
    dispatcher: Dispatcher = request.app.state.dispatcher
    job_request = JobRequest(
        template=body.template,
        version=body.version,
        inputs=body.inputs,
        formats=body.formats,
        idempotency_key=body.idempotency_key,
        trace_id=trace_id_of(x_trace_id, traceparent),
        callback_url=body.callback_url,
        priority=priorities.INTERACTIVE if body.priority is None else body.priority,
    )
    answer = answered_in_memory(
        session, lambda: submit(session, actor, job_request, dispatcher, settings)
    )
    if not answer.created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = answer.job.url
    response.headers["X-Trace-Id"] = answer.job.trace_id
    return answer.job


@router.get("", response_model=list[JobOut])
def list_jobs(
    session: SessionDep,
    actor: CurrentActor,
    template: str | None = None,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> list[JobOut]:
    """Newest first; only jobs of templates on which the caller holds `job:read`."""
    rows = jobs.list_jobs(
        session, actor, template=template, status=status, limit=limit, offset=offset
    )
    return [JobOut.of(job) for job in rows]


@router.get("/{job_id}", response_model=JobOut, responses={404: {}})
def get_job(job_id: str, session: SessionDep, actor: CurrentActor) -> JobOut:
    return JobOut.of(jobs.get(session, actor, job_id))


EVENTS_DESCRIPTION = """Server-sent events (`text/event-stream`) of the job until it ends.

- `job`: `{id, template, version, status, attempts, max_attempts, requested_by, created_at,
  started_at, finished_at, next_attempt_at, error, timings, artifacts}`, first and on every
  change;
- `field`: one generated field, `{name, done: false, text, tokens, seconds}` while it is being
  written (a few times a second), then its provenance record with `done: true`;
- `end`: `{status}` when the job has succeeded, is dead or was cancelled; the stream then
  closes.

Progress is read from the database, so it comes from a worker on any host. A reconnecting
client (`Last-Event-ID`) is sent the whole current state again.
"""


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    summary="Follow a job live",
    description=EVENTS_DESCRIPTION,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}, 404: {}},
)
def job_events(
    job_id: str, request: Request, session: SessionDep, actor: CurrentActor
) -> StreamingResponse:
    job_events_module.snapshot(session, actor, job_id)  # 404 before the stream starts
    return event_stream(request, actor, job_id)


def event_stream(request: Request, actor: Actor, job_id: str) -> StreamingResponse:
    stream = job_events_module.events(
        request.app.state.sessions, actor, job_id, request.is_disconnected
    )
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)


@router.get(
    "/{job_id}/artifacts/{format}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        307: {"description": "With `AUTOGLM_S3_PRESIGN_SECONDS`: a presigned URL of the file."},
        404: {},
        409: {},
        500: {"description": "`artifact_corrupt`: the stored file fails its SHA-256 check."},
    },
)
def download_artifact(
    job_id: str,
    format: str,
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    settings: SettingsDep,
) -> Response:
    """The exported file, with its content type and a download name, checked against its
    recorded SHA-256; with presigned downloads on, a redirect to the bucket instead."""
    store: ArtifactStore = request.app.state.store
    artifact = downloadable(session, actor, store, job_id, format)
    seconds = settings.s3_presign_seconds
    if seconds > 0 and (url := presigned(store, artifact, seconds)):
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    headers = {
        "ETag": f'"{artifact.sha256}"',
        "Content-Disposition": content_disposition(artifact),
        "Content-Length": str(artifact.size),
    }
    return StreamingResponse(
        verified_chunks(store, artifact), media_type=artifact.content_type, headers=headers
    )
