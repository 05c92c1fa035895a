"""Wiring shared by `serve`, `worker` and `scheduler`: database checks and the job runner."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

import migrations
from core.db import make_engine, session_factory
from core.errors import UserError
from core.settings import Settings
from registry.storage import store_for

if TYPE_CHECKING:
    from workers.execution import JobRunner, Resend


def ensure_migrated(settings: Settings) -> None:
    """Migrate the embedded SQLite database; refuse to start on an unmigrated server database."""
    url = settings.database_url
    if migrations.current(url) == migrations.head():
        return
    if make_url(url).get_backend_name() != "sqlite":
        raise UserError("the database is not migrated; run `autoglm db upgrade` first")
    migrations.upgrade(url)


def require_broker(settings: Settings, command: str) -> None:
    """`worker` and `scheduler` exist for a broker; on embedded defaults `serve` does both."""
    if not settings.broker_url:
        raise UserError(
            "AUTOGLM_BROKER_URL is not set; "
            f"on embedded defaults `autoglm serve` runs the {command}"
        )


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM (`docker stop`, Kubernetes) or SIGINT (Ctrl-C)."""
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop


def build_runner(settings: Settings, resend: Resend, worker_name: str) -> JobRunner:
    """A runner with its own engine (made in the process that uses it, after any fork).

    The pipeline (WeasyPrint, llama.cpp) is imported here, not at module load, so commands
    that never run jobs start fast.
    """
    from generation.router import router_for  # noqa: PLC0415
    from workers.execution import JobRunner  # noqa: PLC0415
    from workers.result_cache import SqlResultCache  # noqa: PLC0415

    sessions = session_factory(make_engine(settings.database_url))
    cache = None
    if settings.result_cache_max_entries > 0:
        cache = SqlResultCache(
            sessions, settings.result_cache_max_entries, settings.result_cache_ttl_seconds
        )
    exports = None
    if settings.export_pool_size() > 0:
        from exporters.pool import ExportPool  # noqa: PLC0415

        exports = ExportPool(
            settings.export_pool_size(),
            memory_mb=settings.export_memory_mb,
            seconds=settings.export_timeout_seconds,
        )
    return JobRunner(
        sessions=sessions,
        settings=settings,
        make_generator=lambda: router_for(settings),
        store=store_for(settings),
        resend=resend,
        worker_name=worker_name,
        cache=cache,
        exports=exports,
    )
