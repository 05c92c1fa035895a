"""`POST /jobs/{id}/cancel`: stop a job that has not finished (README: cancellation)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import CurrentActor, SessionDep
from api.job_schemas import JobOut
from registry import jobs
from registry.storage import ArtifactStore

router = APIRouter(prefix="/jobs", tags=["jobs"])

CANCEL_DESCRIPTION = """Cancel a job. Allowed to holders of `job:create` on the job's template
and to the job's requester; a job you may not read answers 404 like a missing one, one you may
read but not cancel 403 `cancel_forbidden`.

- **200**: the job is `cancelled` now: it was queued or waiting for a retry (it never runs
  again), its worker was gone, or it was cancelled already (a repeat changes nothing).
- **202**: the job is running; `cancel_requested_at` is set and its worker stops at the next
  token or step (within about `AUTOGLM_CANCEL_POLL_SECONDS`), keeps no files, and ends it
  `cancelled`. Asking again answers 202 with the job as it is.
- **409** `job_finished`: the job already succeeded or is dead.

`error` names who cancelled it (`cancelled by NAME`); the completion event (Kafka, callback)
and the job's event stream report `cancelled`."""


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    summary="Cancel a job",
    description=CANCEL_DESCRIPTION,
    responses={
        202: {"model": JobOut, "description": "Running: asked to stop at its next check."},
        403: {"description": "May read the job but not cancel it."},
        404: {"description": "No such job, or one the caller may not read."},
        409: {"description": "The job already finished (`job_finished`)."},
    },
)
def cancel_job(
    job_id: str, request: Request, response: Response, session: SessionDep, actor: CurrentActor
) -> JobOut:
    store: ArtifactStore = request.app.state.store
    outcome = jobs.cancel(session, actor, job_id, store)
    if not outcome.ended:
        response.status_code = 202
    return JobOut.of(outcome.job)
