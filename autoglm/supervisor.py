"""The parent of `autoglm worker`: N worker processes, each one Celery worker over one model.

The parent loads nothing; it starts the processes, restarts one that dies, and on SIGHUP does
a rolling restart: new processes (reading the configuration and model afresh) start, and the
old ones get SIGTERM, Celery's warm shutdown: they take no new job and finish the ones they
run on the old model. A process that exits with a configuration error (exit 2) stops them
all, since its siblings would fail the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import structlog

from autoglm.runtime import stop_on_signals
from core.settings import Settings

log = structlog.get_logger(__name__)

CHILD_MARKER = "AUTOGLM_WORKER_PROCESS"  # set in a child: run jobs, do not supervise
RESTART_DELAY_SECONDS = 1.0
STOP_GRACE_SECONDS = 600.0  # a warm shutdown waits for running jobs; then SIGKILL
CONFIG_ERROR_EXIT = 2


def is_worker_process() -> bool:
    return os.environ.get(CHILD_MARKER) == "1"


def supervise(processes: int, settings: Settings, argv: Sequence[str]) -> int:
    """Run `processes` children of `autoglm worker <argv>` until SIGTERM/SIGINT; child *i*
    serves its metrics on AUTOGLM_METRICS_PORT + *i*. Returns the exit code."""
    stop = stop_on_signals()
    reload = threading.Event()
    signal.signal(signal.SIGHUP, lambda *_: reload.set())
    children = [_start(index, settings, argv) for index in range(processes)]
    retiring: list[subprocess.Popen[bytes]] = []
    log.info("worker processes started", processes=processes)
    code = 0
    while not stop.wait(0.5):
        if reload.is_set():
            reload.clear()
            log.info("reload: starting new worker processes, old ones finish their jobs")
            retiring += children
            children = [_start(index, settings, argv) for index in range(processes)]
            for child in retiring:
                _signal(child, signal.SIGTERM)
        retiring = [child for child in retiring if child.poll() is None]
        for index, child in enumerate(children):
            status = child.poll()
            if status is None:
                continue
            if status == CONFIG_ERROR_EXIT:
                log.error("a worker process refused to start; stopping", process=index)
                stop.set()
                code = CONFIG_ERROR_EXIT
                break
            log.warning("worker process exited; restarting", process=index, status=status)
            time.sleep(RESTART_DELAY_SECONDS)
            children[index] = _start(index, settings, argv)
    _stop_all(children + retiring)
    return code


def _start(index: int, settings: Settings, argv: Sequence[str]) -> subprocess.Popen[bytes]:
    env = os.environ | {CHILD_MARKER: "1"}
    if settings.metrics_port:
        env["AUTOGLM_METRICS_PORT"] = str(settings.metrics_port + index)
    return subprocess.Popen([sys.executable, "-m", "autoglm", "worker", *argv], env=env)


def _signal(child: subprocess.Popen[bytes], number: int) -> None:
    if child.poll() is None:
        child.send_signal(number)


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    """Warm shutdown: SIGTERM lets each finish its running jobs; SIGKILL after the grace."""
    for child in children:
        _signal(child, signal.SIGTERM)
    waiters = [threading.Thread(target=_wait_or_kill, args=(c,)) for c in children]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()


def _wait_or_kill(child: subprocess.Popen[bytes], *_: Any) -> None:
    try:
        child.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
