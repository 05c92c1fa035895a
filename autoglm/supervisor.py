"""The parent of `autoglm worker`: N worker processes, each one Celery worker over one model.

The parent loads nothing. It starts the processes and restarts one that dies (with backoff
when it keeps dying at start). On SIGHUP it does a rolling restart: new processes start,
reading the deployment file, `.env` and the models afresh; once every one of them has loaded
its model, the old ones get SIGTERM, Celery's warm shutdown: they take no new job and finish
the ones they run on the old model. A new process that fails before it is ready (a bad file)
leaves the old ones running. Outside a reload, a process that exits with a configuration
error (exit 2) stops them all, since its siblings would fail the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import structlog

from autoglm.runtime import stop_on_signals
from core.settings import Settings

log = structlog.get_logger(__name__)

CHILD_MARKER = "AUTOGLM_WORKER_PROCESS"  # set in a child: run jobs, do not supervise
READY_FILE = "AUTOGLM_WORKER_READY_FILE"  # a child creates it once its model is loaded
RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 60.0
STABLE_SECONDS = 30.0  # a child that lived this long restarts without backoff
STOP_GRACE_SECONDS = 600.0  # a warm shutdown waits for running jobs; then SIGKILL
CONFIG_ERROR_EXIT = 2


def is_worker_process() -> bool:
    return os.environ.get(CHILD_MARKER) == "1"


def mark_ready() -> None:
    """In a child: tell the parent this process has loaded its model."""
    ready = os.environ.get(READY_FILE)
    if ready:
        Path(ready).touch()


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    ready: Path
    started: float = field(default_factory=time.monotonic)
    delay: float = RESTART_DELAY_SECONDS

    def is_ready(self) -> bool:
        return self.ready.exists()


class _Children:
    """Starts children with their index's metrics port and a ready file of their own."""

    def __init__(self, settings: Settings, argv: Sequence[str], folder: Path) -> None:
        self.settings, self.argv, self.folder = settings, argv, folder
        self.serial = count()

    def start(self, index: int, delay: float = RESTART_DELAY_SECONDS) -> _Child:
        ready = self.folder / f"ready-{next(self.serial)}"
        env = os.environ | {CHILD_MARKER: "1", READY_FILE: str(ready)}
        if self.settings.metrics_port:
            env["AUTOGLM_METRICS_PORT"] = str(self.settings.metrics_port + index)
        command = [sys.executable, "-m", "autoglm", "worker", *self.argv]
        return _Child(subprocess.Popen(command, env=env), ready, delay=delay)


def supervise(processes: int, settings: Settings, argv: Sequence[str]) -> int:
    """Run `processes` children of `autoglm worker <argv>` until SIGTERM/SIGINT; child *i*
    serves its metrics on AUTOGLM_METRICS_PORT + *i*. Returns the exit code."""
    stop = stop_on_signals()
    reload = threading.Event()
    signal.signal(signal.SIGHUP, lambda *_: reload.set())
    with tempfile.TemporaryDirectory(prefix="autoglm-worker-") as folder:
        make = _Children(settings, argv, Path(folder))
        children = [make.start(index) for index in range(processes)]
        pending: list[_Child] = []  # a reload's new processes, until all are ready
        retiring: list[_Child] = []
        log.info("worker processes started", processes=processes)
        code = 0
        while not stop.wait(0.5):
            if reload.is_set() and not pending:
                reload.clear()
                log.info("reload: starting new worker processes")
                pending = [make.start(index) for index in range(processes)]
            if pending:
                pending, children, retired = _advance_reload(pending, children)
                retiring += retired
            retiring = [child for child in retiring if child.process.poll() is None]
            failed = _restart_dead(children, make)
            if failed:
                stop.set()
                code = CONFIG_ERROR_EXIT
        _stop_all(children + pending + retiring)
    return code


def _advance_reload(
    pending: list[_Child], children: list[_Child]
) -> tuple[list[_Child], list[_Child], list[_Child]]:
    """(still pending, serving, retiring): the old set retires once the new one is ready."""
    if any(child.process.poll() is not None for child in pending):
        log.error(
            "reload failed: a new worker process exited before it was ready; "
            "the old processes keep running"
        )
        _stop_all(pending)
        return [], children, []
    if all(child.is_ready() for child in pending):
        log.info("reload: new worker processes ready; the old ones finish their jobs")
        for child in children:
            _signal(child, signal.SIGTERM)
        return [], pending, children
    return pending, children, []


def _restart_dead(children: list[_Child], make: _Children) -> bool:
    """Restart the children that exited; True when one refused to start (exit 2)."""
    for index, child in enumerate(children):
        status = child.process.poll()
        if status is None:
            continue
        if status == CONFIG_ERROR_EXIT:
            log.error("a worker process refused to start; stopping", process=index)
            return True
        lived = time.monotonic() - child.started
        delay = RESTART_DELAY_SECONDS if lived > STABLE_SECONDS else child.delay
        log.warning("worker process exited; restarting", process=index, status=status, in_s=delay)
        time.sleep(delay)
        children[index] = make.start(index, min(delay * 2, MAX_RESTART_DELAY_SECONDS))
    return False


def _signal(child: _Child, number: int) -> None:
    if child.process.poll() is None:
        child.process.send_signal(number)


def _stop_all(children: list[_Child]) -> None:
    """Warm shutdown: SIGTERM lets each finish its running jobs; SIGKILL after the grace."""
    for child in children:
        _signal(child, signal.SIGTERM)
    waiters = [threading.Thread(target=_wait_or_kill, args=(c.process,)) for c in children]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()


def _wait_or_kill(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
