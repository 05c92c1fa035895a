"""Wiring shared by `serve`, `worker` and `scheduler`: database checks and the job runner."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import start_http_server
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

import migrations
from core.db import make_engine, session_factory
from core.errors import ConfigError, UserError
from core.settings import Settings
from registry.models import Job
from registry.secrets import key_ring
from registry.storage import store_for
from registry.webhooks import undecryptable
from triggers.dispatch import DEFAULT_PRIORITY

if TYPE_CHECKING:
    from workers.execution import JobRunner, Resend

log = structlog.get_logger(__name__)
Send = Callable[[str, float, int], None]  # job id, delay, priority: a dispatcher's send


def ensure_migrated(settings: Settings) -> None:
    """Migrate the embedded SQLite database; refuse to start on an unmigrated server database."""
    url = settings.database_url
    if migrations.current(url) != migrations.head():
        if make_url(url).get_backend_name() != "sqlite":
            raise UserError("the database is not migrated; run `autoglm db upgrade` first")
        migrations.upgrade(url)


def require_secret_keys(settings: Settings) -> None:
    """Refuse to start when a stored webhook secret cannot be decrypted with
    AUTOGLM_SECRET_KEYS (unset, or a ring without its key): deliveries would all fail later.
    Only the API (`serve`) checks incoming webhooks, so only it needs the keys; workers, the
    scheduler and the bridge start without them and the key stays off their hosts."""
    ring = key_ring(settings)
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            names = undecryptable(session, ring)
    finally:
        engine.dispose()
    if names:
        shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        reason = "is not set" if ring is None else "holds none of their keys"
        raise ConfigError(
            [f"AUTOGLM_SECRET_KEYS {reason}: cannot decrypt the secret of webhook(s) {shown}"]
        )


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


def keeping_priority(sessions: sessionmaker[Session], send: Send) -> Resend:
    """The runner's resend (a retry, an early message): the job keeps its priority, read from
    its row; the default when the database cannot say (it is down: that is why we resend)."""

    def resend(job_id: str, delay: float) -> None:
        try:
            with sessions() as session:
                priority = session.scalar(select(Job.priority).where(Job.id == job_id))
        except SQLAlchemyError:
            priority = None
        send(job_id, delay, DEFAULT_PRIORITY if priority is None else priority)

    return resend


def serve_metrics(port: int, host: str) -> None:
    """This process's Prometheus /metrics on `port`, as soon as it is free: after a reload
    the worker process this one replaces may hold it until its last job is done."""

    def bind() -> None:
        while True:
            try:
                start_http_server(port, addr=host)
            except OSError:
                time.sleep(1)
                continue
            log.info("serving /metrics", port=port)
            return

    threading.Thread(target=bind, name="metrics-bind", daemon=True).start()


def build_runner(settings: Settings, send: Send, worker_name: str) -> JobRunner:
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
        resend=keeping_priority(sessions, send),
        worker_name=worker_name,
        cache=cache,
        exports=exports,
    )
