"""How a committed job reaches a worker: Celery by task name, or a queue inside this process.

Both sit behind `Dispatcher`; a lost message costs nothing but time, because the database
row is the truth and the sweeper resends what was not picked up. Every send carries the job's
priority (0-9, higher first): strict among due jobs here, per broker under Celery (README).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from core.settings import Settings
from triggers import priorities
from workers.celery_app import JOB_QUEUE, RUN_JOB, broker_priority, make_celery

log = structlog.get_logger(__name__)

DEFAULT_PRIORITY = priorities.DEFAULT


class Dispatcher(Protocol):
    def send(self, job_id: str, *, delay: float = 0.0, priority: int = DEFAULT_PRIORITY) -> None:
        """Ask a worker to run `job_id` in `delay` seconds, before waiting jobs of a lower
        `priority`; may raise if the queue is down."""
        ...

    def ping(self) -> None:
        """Raise if the queue cannot be reached (readiness)."""
        ...

    def depth(self) -> int | None:
        """Messages waiting, where the queue can tell."""
        ...


class CeleryDispatcher:
    """Sends `autoglm.run_job` by name: the sender never imports the task code."""

    def __init__(self, celery: Any) -> None:
        self.celery = celery

    def send(self, job_id: str, *, delay: float = 0.0, priority: int = DEFAULT_PRIORITY) -> None:
        self.celery.send_task(
            RUN_JOB,
            args=[job_id],
            countdown=delay or None,
            queue=JOB_QUEUE,
            priority=broker_priority(self.celery, priority),
        )

    def ping(self) -> None:
        with self.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)

    def depth(self) -> int | None:
        with self.celery.connection_for_read() as connection:
            try:
                declared = connection.default_channel.queue_declare(JOB_QUEUE, passive=True)
            except connection.channel_errors:  # no such queue yet (or Redis dropped it empty)
                return 0
            return int(declared.message_count)


class LocalQueue:
    """The embedded default: job ids run by threads here, the highest priority first among
    those that are due (then the earliest due).

    Nothing survives a restart, and nothing needs to: queued jobs are in the database and the
    sweeper sends them again.
    """

    def __init__(self, handler: Callable[[str], None], workers: int = 1) -> None:
        self._handler = handler
        self._waiting: list[tuple[float, int, int, str]] = []  # (due, order, priority, id)
        self._due: list[tuple[int, float, int, str]] = []  # (-priority, due, order, id)
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._loop, name=f"autoglm-worker-{n}", daemon=True)
            for n in range(workers)
        ]

    def start(self) -> LocalQueue:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        with self._ready:
            self._stopping = True
            self._ready.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def send(self, job_id: str, *, delay: float = 0.0, priority: int = DEFAULT_PRIORITY) -> None:
        with self._ready:
            due = time.monotonic() + delay
            heapq.heappush(self._waiting, (due, next(self._order), priority, job_id))
            self._ready.notify()

    def ping(self) -> None:
        if not all(t.is_alive() for t in self._threads):
            raise RuntimeError("an in-process worker thread has stopped")

    def depth(self) -> int | None:
        with self._ready:
            return len(self._waiting) + len(self._due)

    def _loop(self) -> None:
        while (job_id := self._next()) is not None:
            try:
                self._handler(job_id)
            except Exception:
                log.exception("in-process job handler failed", job_id=job_id)

    def _next(self) -> str | None:
        with self._ready:
            while not self._stopping:
                now = time.monotonic()
                while self._waiting and self._waiting[0][0] <= now:  # due: rank by priority
                    due, order, priority, job_id = heapq.heappop(self._waiting)
                    heapq.heappush(self._due, (-priority, due, order, job_id))
                if self._due:
                    return heapq.heappop(self._due)[3]
                wait = self._waiting[0][0] - now if self._waiting else None
                self._ready.wait(wait)
            return None


class NoQueue:
    """No queue configured in this process: jobs stay `queued` in the database until a process
    with a queue (its sweeper) sends them. Readiness reports the missing queue."""

    def send(self, job_id: str, *, delay: float = 0.0, priority: int = DEFAULT_PRIORITY) -> None:
        raise RuntimeError("no job queue in this process (set AUTOGLM_BROKER_URL)")

    def ping(self) -> None:
        raise RuntimeError("no job queue in this process (set AUTOGLM_BROKER_URL)")

    def depth(self) -> int | None:
        return None


def dispatcher_for(settings: Settings) -> Dispatcher:
    """Celery when a broker is configured; otherwise jobs wait in the database (`NoQueue`)."""
    return CeleryDispatcher(make_celery(settings)) if settings.broker_url else NoQueue()
