"""A wall-clock deadline for the calling thread, in any thread.

SIGALRM only reaches the main thread, but templates also render in API threads and threaded
workers. A timer asks the interpreter to raise `DeadlineExceeded` in the rendering thread at
its next bytecode, which interrupts any pure-Python loop (Jinja's compiled templates are
Python code); single C calls are kept short by the sandbox's size checks.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_SET_ASYNC_EXC = ctypes.pythonapi.PyThreadState_SetAsyncExc
_SET_ASYNC_EXC.argtypes = (ctypes.c_ulong, ctypes.py_object)


class DeadlineExceeded(BaseException):
    """The render ran past its deadline (a BaseException so `except Exception` cannot eat it)."""


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Run the block with a deadline; yields the `time.monotonic()` instant it expires."""
    thread_id = threading.get_ident()
    lock = threading.Lock()
    state = {"active": True, "fired": False}

    def expire() -> None:
        with lock:
            if state["active"]:
                state["fired"] = True
                _SET_ASYNC_EXC(thread_id, DeadlineExceeded)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    expires_at = time.monotonic() + seconds
    timer.start()
    try:
        yield expires_at
    finally:
        timer.cancel()
        with lock:
            state["active"] = False
            if state["fired"]:  # raised already, or still pending: never let it escape later
                _SET_ASYNC_EXC(thread_id, ctypes.py_object())
