"""`autoglm scheduler`: the loop that only enqueues. Today the sweeper (lost messages, dead
workers); cron schedules join it later. Safe to run more than one."""

from __future__ import annotations

import signal
import threading
from typing import Any

import structlog

from autoglm.exits import exits_cleanly
from autoglm.runtime import ensure_migrated, require_broker
from core.db import make_engine, session_factory
from core.logging import configure_logging
from core.settings import get_settings
from triggers.dispatch import dispatcher_for
from triggers.sweeper import SweeperLoop

log = structlog.get_logger(__name__)


@exits_cleanly
def scheduler() -> None:
    """Resend jobs whose task was lost and bury jobs whose worker died, until stopped."""
    settings = get_settings()
    configure_logging(settings.log_level)
    require_broker(settings, "sweeper")
    ensure_migrated(settings)
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    loop = SweeperLoop(
        session_factory(make_engine(settings.database_url)),
        dispatcher_for(settings),
        interval=settings.sweep_interval_seconds,
        resend_after=settings.resend_after_seconds,
    ).start()
    log.info("scheduler running", interval=settings.sweep_interval_seconds)
    stop.wait()
    loop.stop()
