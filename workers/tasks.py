"""The Celery task and the per-process setup: each worker process loads the model once."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import structlog
from celery import Celery
from celery.signals import worker_process_init

from workers.celery_app import JOB_QUEUE, RUN_JOB
from workers.execution import JobRunner

log = structlog.get_logger(__name__)

RunnerFactory = Callable[[Callable[[str, float], None], str], JobRunner]


def register(app: Celery, make_runner: RunnerFactory, *, warm_up: bool = True) -> None:
    """Add `autoglm.run_job` to `app`; each process builds its runner (and model) at start."""
    state: dict[str, JobRunner] = {}

    def resend(job_id: str, delay: float) -> None:
        app.send_task(RUN_JOB, args=[job_id], countdown=delay or None, queue=JOB_QUEUE)

    def runner() -> JobRunner:
        if "runner" not in state:
            name = f"{socket.gethostname()}:{os.getpid()}"
            state["runner"] = make_runner(resend, name)
        return state["runner"]

    @worker_process_init.connect(weak=False)  # type: ignore[untyped-decorator]
    def _load_model(**_: Any) -> None:
        if warm_up:
            runner().generator()
            log.info("worker process ready; model loaded", pid=os.getpid())

    @app.task(  # type: ignore[untyped-decorator]
        name=RUN_JOB, acks_late=True, reject_on_worker_lost=True, ignore_result=True
    )
    def run_job(job_id: str) -> None:
        runner().run(job_id)
