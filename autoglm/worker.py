"""`autoglm worker`: processes that each load the model once and run several jobs over it."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import structlog
import typer

from autoglm.deployment import ConfigOption, check_memory, load_deployment
from autoglm.exits import exits_cleanly
from autoglm.runtime import build_runner, ensure_migrated, require_broker, serve_metrics
from autoglm.supervisor import is_worker_process, mark_ready, supervise
from core.logging import configure_logging
from core.settings import Settings, get_settings
from triggers.dispatch import CeleryDispatcher
from workers.celery_app import JOB_QUEUE, make_celery

log = structlog.get_logger(__name__)


@exits_cleanly
def worker(
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Processes; default AUTOGLM_WORKER_CONCURRENCY.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run jobs from the broker (AUTOGLM_BROKER_URL) until stopped."""
    settings = load_deployment(config, get_settings()) if config else get_settings()
    configure_logging(settings.log_level)
    processes = concurrency or settings.worker_concurrency
    require_broker(settings, "worker")
    if not is_worker_process():  # the parent: start, restart and reload the processes
        check_memory(settings, processes)
        ensure_migrated(settings)
        raise typer.Exit(
            supervise(processes, settings, ["--config", str(config)] if config else [])
        )
    _run_process(settings)


def _run_process(settings: Settings) -> None:
    """One Celery worker whose job threads share this process's model: the fields of every
    running job go into the same batches, and an export never holds up the model's loop."""
    from workers.tasks import register  # noqa: PLC0415 (loads the pipeline: only here)

    app = make_celery(settings)
    name = f"{socket.gethostname()}:{os.getpid()}"
    queue = CeleryDispatcher(app)
    runner = build_runner(
        settings,
        lambda job_id, delay, priority: queue.send(job_id, delay=delay, priority=priority),
        name,
    )
    runner.generator()
    mark_ready()
    jobs = settings.jobs_per_process()
    log.info("worker process ready; model loaded", pid=os.getpid(), jobs_at_once=jobs)
    if settings.metrics_port:
        serve_metrics(settings.metrics_port, settings.api_host)
    register(app, runner)
    app.worker_main(
        [
            "worker",
            f"--concurrency={jobs}",
            "--pool=threads",
            f"--queues={JOB_QUEUE}",
            f"--loglevel={settings.log_level.upper()}",
            "--without-gossip",
            "--without-mingle",
            f"--hostname=autoglm-{os.getpid()}@%h",  # unique per worker, several per host
        ]
    )
