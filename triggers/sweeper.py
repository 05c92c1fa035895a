"""The sweeper: resends jobs whose message was lost and buries those whose worker died.

Like rq's scheduler it only enqueues; it never runs work itself. Running two is harmless:
a resend of a job already taken is ignored by the worker's claim.
"""

from __future__ import annotations

import threading

import structlog
from sqlalchemy.orm import Session, sessionmaker

from registry import jobs
from triggers.dispatch import Dispatcher

log = structlog.get_logger(__name__)


def sweep(session: Session, dispatcher: Dispatcher, resend_after: float) -> int:
    """One pass; returns how many jobs were resent."""
    for job_id in jobs.bury_lost(session):
        log.warning("job dead: worker lost on the last attempt", job_id=job_id)
    stuck = jobs.due_for_resend(session, resend_after)
    for job in stuck:
        log.info("resending job", job_id=job.id, status=job.status, trace_id=job.trace_id)
        try:
            dispatcher.send(job.id)
        except Exception as exc:  # the queue is down: the next pass tries again
            log.warning("resend failed", job_id=job.id, error=str(exc))
    return len(stuck)


class SweeperLoop:
    """Runs `sweep` every `interval` seconds in a daemon thread until stopped."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        dispatcher: Dispatcher,
        *,
        interval: float,
        resend_after: float,
    ) -> None:
        self.sessions = sessions
        self.dispatcher = dispatcher
        self.interval = interval
        self.resend_after = resend_after
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name="autoglm-sweeper", daemon=True)

    def start(self) -> SweeperLoop:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def run(self) -> None:
        while True:
            try:
                with self.sessions() as session:
                    sweep(session, self.dispatcher, self.resend_after)
            except Exception:
                log.exception("sweep failed; retrying next interval")
            if self._stop.wait(self.interval):
                return
