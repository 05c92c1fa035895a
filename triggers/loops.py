"""A daemon thread that runs one pass of work every few seconds, with its own session."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import structlog
from sqlalchemy.orm import Session, sessionmaker

from core.files import beat

log = structlog.get_logger(__name__)


class Every:
    """Runs `work(session)` every `interval` seconds until stopped; a failed pass is logged
    and retried at the next interval (the database or the queue may be down for a while)."""

    def __init__(
        self,
        name: str,
        interval: float,
        sessions: sessionmaker[Session],
        work: Callable[[Session], object],
        heartbeat: Path | None = None,
    ) -> None:
        self.name = name
        self.interval = interval
        self.sessions = sessions
        self.work = work
        self.heartbeat = heartbeat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name=f"autoglm-{name}", daemon=True)

    def start(self) -> Every:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def run(self) -> None:
        while True:
            try:
                with self.sessions() as session:
                    self.work(session)
                beat(self.heartbeat)
            except Exception:
                log.exception(f"{self.name} pass failed; retrying next interval")
            if self._stop.wait(self.interval):
                return
