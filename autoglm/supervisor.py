"""`autoglm worker --concurrency N`: N worker processes, each one Celery worker over one model.

The parent only starts, restarts and stops them; a process that exits with a configuration
error (exit 2) stops them all, since its siblings would fail the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import structlog

from autoglm.runtime import stop_on_signals
from core.settings import Settings

log = structlog.get_logger(__name__)

RESTART_DELAY_SECONDS = 1.0
STOP_GRACE_SECONDS = 60.0
CONFIG_ERROR_EXIT = 2


def supervise(replicas: int, settings: Settings, child_args: Sequence[str]) -> int:
    """Run `replicas` children of `autoglm worker <child_args>` until SIGTERM/SIGINT; process
    *i* serves its metrics on AUTOGLM_METRICS_PORT + *i*. Returns the exit code."""
    stop = stop_on_signals()
    children = [_start(index, settings, child_args) for index in range(replicas)]
    log.info("worker processes started", processes=replicas)
    code = 0
    while not stop.wait(0.5):
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
            children[index] = _start(index, settings, child_args)
    _stop_all(children)
    return code


def _start(index: int, settings: Settings, child_args: Sequence[str]) -> subprocess.Popen[bytes]:
    env = None
    if settings.metrics_port:
        env = os.environ | {"AUTOGLM_METRICS_PORT": str(settings.metrics_port + index)}
    return subprocess.Popen(
        [sys.executable, "-m", "autoglm", "worker", "--concurrency", "1", *child_args], env=env
    )


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    """Warm shutdown: SIGTERM lets each finish its running jobs; SIGKILL after the grace."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    waiters = [threading.Thread(target=_wait_or_kill, args=(c,)) for c in children]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()


def _wait_or_kill(child: subprocess.Popen[bytes]) -> None:
    try:
        child.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
