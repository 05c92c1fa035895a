"""A running job's fields' text so far, written to the database for whoever follows the job.

The generator's progress callback runs for every token, on the thread that samples, so it only
keeps the latest text per field in memory; a thread of its own writes what changed every
`interval` seconds (`registry.progress`). Progress is best effort: a failed write is logged
and never fails the job.
"""

from __future__ import annotations

import threading
from types import TracebackType

import structlog
from sqlalchemy.orm import Session, sessionmaker

from registry import progress
from registry.progress import SoFar

log = structlog.get_logger(__name__)


class ProgressRecorder:
    """Collect fields' text from the callback; flush the changes from a background thread."""

    def __init__(
        self, sessions: sessionmaker[Session], job_id: str, attempt: int, interval: float
    ) -> None:
        self.sessions, self.job_id, self.attempt, self.interval = (
            sessions,
            job_id,
            attempt,
            interval,
        )
        self._lock = threading.Lock()
        self._changed: dict[str, SoFar] = {}
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def update(self, name: str, tokens: int, elapsed: float, text: str) -> None:
        """The progress callback's part: remember the latest (cheap, any thread)."""
        if self.interval <= 0:
            return
        with self._lock:
            self._changed[name] = SoFar(text, tokens, elapsed)

    def flush(self) -> None:
        with self._lock:
            changed, self._changed = self._changed, {}
        if not changed:
            return
        try:
            with self.sessions() as session:
                if not progress.record(session, self.job_id, self.attempt, changed):
                    self._stopped.set()  # the attempt is over; its heartbeat finds out why
        except Exception as exc:  # progress is best effort
            log.warning("could not record progress", error=str(exc))

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.flush()

    def __enter__(self) -> ProgressRecorder:
        if self.interval > 0:
            self._thread = threading.Thread(
                target=self._run, name=f"progress-{self.job_id}", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
