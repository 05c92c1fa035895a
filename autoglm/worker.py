"""`autoglm worker`: Celery worker processes, each loading the model once, running jobs."""

from __future__ import annotations

import os
from typing import Annotated, Any

import structlog
import typer
from billiard.process import current_process
from celery.signals import worker_process_init
from prometheus_client import start_http_server

from autoglm.deployment import ConfigOption, check_memory, load_deployment
from autoglm.exits import exits_cleanly
from autoglm.runtime import build_runner, ensure_migrated, require_broker
from core.logging import configure_logging
from core.settings import Settings, get_settings
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
    check_memory(settings, concurrency or settings.worker_concurrency)
    require_broker(settings, "worker")
    ensure_migrated(settings)
    from workers.tasks import register  # noqa: PLC0415 (loads the pipeline: only here)

    app = make_celery(settings)
    register(app, lambda resend, name: build_runner(settings, resend, name))
    if settings.metrics_port:
        _serve_metrics_per_process(settings)
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency or settings.worker_concurrency}",
            "--pool=prefork",
            f"--queues={JOB_QUEUE}",
            f"--loglevel={settings.log_level.upper()}",
            "--without-gossip",
            "--without-mingle",
            f"--hostname=autoglm-{os.getpid()}@%h",  # unique per worker, several per host
        ]
    )


def _serve_metrics_per_process(settings: Settings) -> None:
    """Each worker process serves its own /metrics on AUTOGLM_METRICS_PORT + its index."""
    base = settings.metrics_port or 0

    @worker_process_init.connect(weak=False)  # type: ignore[untyped-decorator]
    def _start(**_: Any) -> None:
        index = getattr(current_process(), "index", 0) or 0
        start_http_server(base + index, addr=settings.api_host)
        log.info("worker metrics", port=base + index)
