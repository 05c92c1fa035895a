"""`autoglm serve`: the HTTP API; on embedded defaults also a worker, cron and the sweeper.

With no `AUTOGLM_BROKER_URL` one process does everything on SQLite: jobs go to an in-process
queue whose thread runs them with the bundled model. With a broker it serves the API only;
`autoglm worker` and `autoglm scheduler` run elsewhere.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Annotated

import structlog
import typer
import uvicorn

from api.app import create_app
from autoglm.deployment import ConfigOption, check_memory, load_deployment
from autoglm.exits import exits_cleanly
from autoglm.runtime import build_runner, ensure_migrated, require_secret_keys
from core.logging import configure_logging
from core.settings import Settings, get_settings
from generation.router import ModelRouter, probe_models, status_of
from triggers.background import background_loops
from triggers.dispatch import LocalQueue
from triggers.sweeper import sweep

log = structlog.get_logger(__name__)


@exits_cleanly
def serve(
    host: Annotated[str | None, typer.Option(help="Default AUTOGLM_API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default AUTOGLM_API_PORT.")] = None,
    config: ConfigOption = None,
) -> None:
    """Serve the API (OpenAPI docs at /docs); with no broker, run jobs in this process too."""
    settings = load_deployment(config, get_settings()) if config else get_settings()
    configure_logging(settings.log_level)
    if not settings.broker_url:
        check_memory(settings, 1)
    ensure_migrated(settings)
    require_secret_keys(settings)  # the API decrypts webhook secrets; nothing else does
    address = (host or settings.api_host, port or settings.api_port)
    if settings.broker_url:
        app = create_app(settings, models_status=lambda: probe_models(settings))
        uvicorn.run(app, host=address[0], port=address[1], log_config=None)
        return
    _serve_embedded(settings, *address)


def _serve_embedded(settings: Settings, host: str, port: int) -> None:
    queue_holder: list[LocalQueue] = []
    runner = build_runner(
        settings,
        lambda job_id, delay, priority: queue_holder[0].send(
            job_id, delay=delay, priority=priority
        ),
        f"{socket.gethostname()}:{os.getpid()}:embedded",
    )
    queue = LocalQueue(runner.run, workers=settings.jobs_per_process()).start()
    queue_holder.append(queue)
    with runner.sessions() as session:  # jobs left queued by a previous run go out now
        sweep(session, queue, resend_after=0)

    def models_status() -> dict[str, str]:
        generator = runner.current_generator()
        return (
            status_of(generator) if isinstance(generator, ModelRouter) else {"default": "loading"}
        )

    app = create_app(
        settings, sessions=runner.sessions, dispatcher=queue, models_status=models_status
    )
    loops = background_loops(runner.sessions, queue, settings)
    threading.Thread(target=runner.generator, name="model-warm-up", daemon=True).start()
    log.info("embedded mode: API, worker, cron and sweeper in one process", host=host, port=port)
    try:
        uvicorn.run(app, host=host, port=port, log_config=None)
    finally:
        for loop in loops:
            loop.stop()
        queue.stop()
