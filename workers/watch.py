"""The watch over a running attempt: its lease kept alive, and a cancel request noticed.

One thread per attempt reads the job row every `cancel_poll_seconds` for a cancel request and
renews the lease every third of its length. The job's check (on every token and between
steps) only reads the events this thread sets, so it costs nothing per token, and a cancel
stops the attempt within about one poll wherever the request came from (any API host).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import structlog
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from registry import jobs

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Watch:
    """What the watcher found: `lost` (another attempt owns the job), `cancelled` (asked to)."""

    lost: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)


@contextmanager
def watching(
    sessions: sessionmaker[Session], settings: Settings, job_id: str, attempt: int, watch: Watch
) -> Iterator[Watch]:
    """Watch attempt `attempt` of `job_id` while the block runs; the thread stops at its end."""
    stop = threading.Event()
    lease = settings.job_lease_seconds
    renew_every = lease / 3
    poll = min(settings.cancel_poll_seconds, renew_every)

    def run() -> None:
        renewed = time.monotonic()
        while not stop.wait(poll):
            try:
                with sessions() as session:
                    if not watch.cancelled.is_set() and jobs.cancel_requested(session, job_id):
                        log.info("cancel requested; stopping at the next check", job_id=job_id)
                        watch.cancelled.set()  # the lease is still renewed until the end
                    if time.monotonic() - renewed < renew_every:
                        continue
                    if not jobs.renew_lease(session, job_id, attempt, lease):
                        watch.lost.set()
                        return
                    renewed = time.monotonic()
            except Exception as exc:  # the database blinked: try again next poll
                log.warning("job watch failed", job_id=job_id, error=str(exc))

    thread = threading.Thread(target=run, name=f"watch-{job_id}", daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        stop.set()
        thread.join()
