"""`autoglm scheduler`: the loops that only enqueue: cron fires, and the sweeper (lost messages,
dead workers). Safe to run more than one: each cron tick is claimed once in the database.

With AUTOGLM_METRICS_PORT it serves /metrics there: the outbound loops it runs (callbacks,
retention) count their work in this process, so Prometheus must scrape it too."""

from __future__ import annotations

import structlog

from autoglm.exits import exits_cleanly
from autoglm.runtime import ensure_migrated, require_broker, serve_metrics, stop_on_signals
from core.db import make_engine, session_factory
from core.logging import configure_logging
from core.settings import get_settings
from triggers.background import background_loops
from triggers.dispatch import dispatcher_for

log = structlog.get_logger(__name__)


@exits_cleanly
def scheduler() -> None:
    """Fire cron schedules, resend jobs whose task was lost, bury jobs whose worker died."""
    settings = get_settings()
    configure_logging(settings.log_level)
    require_broker(settings, "scheduler")
    ensure_migrated(settings)
    stop = stop_on_signals()
    sessions = session_factory(make_engine(settings.database_url))
    dispatcher = dispatcher_for(settings)
    loops = background_loops(sessions, dispatcher, settings)
    if settings.metrics_port:
        serve_metrics(settings.metrics_port, settings.api_host)
    log.info(
        "scheduler running",
        poll=settings.schedule_poll_seconds,
        sweep_interval=settings.sweep_interval_seconds,
    )
    stop.wait()
    for loop in loops:
        loop.stop()
