"""The Celery task: `autoglm.run_job` runs a job through this process's one `JobRunner`."""

from __future__ import annotations

from celery import Celery

from workers.celery_app import RUN_JOB
from workers.execution import JobRunner


def register(app: Celery, runner: JobRunner) -> None:
    """Add `autoglm.run_job` to `app`; every task thread shares `runner` and its model."""

    @app.task(  # type: ignore[untyped-decorator]
        name=RUN_JOB, acks_late=True, reject_on_worker_lost=True, ignore_result=True
    )
    def run_job(job_id: str) -> None:
        runner.run(job_id)
