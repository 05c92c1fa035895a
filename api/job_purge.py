"""`DELETE /jobs/{id}/artifacts`: an admin removes a finished job's files now (README:
retention); the job row stays, and a later download answers 410 `artifact_purged`."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import CurrentActor, SessionDep
from api.job_schemas import JobOut
from registry.retention import purge_job
from registry.storage import ArtifactStore

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.delete(
    "/{job_id}/artifacts",
    response_model=JobOut,
    summary="Purge a job's files (admins)",
    description="Removes every stored file of a finished job and its artifact records, sets "
    "`files_purged_at` and writes an audit entry; a repeat changes nothing more. Downloads "
    "then answer **410** `artifact_purged`.",
    responses={
        403: {"description": "The caller is not an admin."},
        404: {"description": "No such job."},
        409: {"description": "The job has not finished (`job_not_final`)."},
    },
)
def purge_artifacts(
    job_id: str, request: Request, session: SessionDep, actor: CurrentActor
) -> JobOut:
    store: ArtifactStore = request.app.state.store
    job = purge_job(session, actor, store, job_id)
    session.commit()
    return JobOut.of(job)
