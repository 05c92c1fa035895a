"""A circuit breaker per remote model: after repeated failures, fail fast for a while (so the
router falls back at once instead of waiting on timeouts), then let one probe find out
whether the model is back.

    closed ──N consecutive failures──> open ──open_seconds later──> half-open (one probe)
    closed <──────── the probe succeeds ───────────────────────────── half-open
                                       open <──── the probe fails ─── half-open

Only the probe decides in half-open: other calls fail fast while it is in flight, and results
of calls let through before the circuit opened are ignored once it is open.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

from generation import metrics
from generation.protocol import ModelUnavailableError

State = Literal["closed", "half_open", "open"]
_GAUGE = {"closed": 0, "half_open": 1, "open": 2}


class CircuitOpenError(ModelUnavailableError):
    """The model's circuit is open: the call was refused without touching the network."""


class CircuitBreaker:
    """Thread-safe; ``clock`` is injectable so tests need not sleep."""

    def __init__(
        self,
        name: str,
        failures: int,
        open_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or open_seconds <= 0:
            raise ValueError("failures must be >= 1 and open_seconds > 0")
        self.name, self.failures, self.open_seconds, self._clock = (
            name,
            failures,
            open_seconds,
            clock,
        )
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None  # None: closed
        self._probing = False
        self._why = ""
        self._export("closed")

    @property
    def state(self) -> State:
        with self._lock:
            return self._state()

    def before_call(self) -> bool:
        """Let a call through, or raise `CircuitOpenError`. True when the call is the probe of
        a half-open circuit: pass it to `record_success`/`record_failure`."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return False
            if state == "half_open" and not self._probing:
                self._probing = True
                self._export("half_open")
                return True
            assert self._opened_at is not None
            if self._probing:
                detail = "a probe request is in flight"
            else:
                left = self._opened_at + self.open_seconds - self._clock()
                detail = f"next probe in {max(left, 0.0):.1f} s"
            raise CircuitOpenError(
                f"model {self.name!r} is unavailable: circuit open after {self._why} ({detail})"
            )

    def record_success(self, probe: bool = False) -> None:
        """The model answered: a probe closes the circuit; a closed one forgets its failures."""
        with self._lock:
            if probe and self._probing:
                self._opened_at, self._probing = None, False
                self._export("closed")
            if self._opened_at is None:
                self._consecutive = 0

    def record_failure(self, probe: bool = False) -> None:
        """The model was unusable: a probe reopens the circuit; the Nth consecutive failure
        of a closed one opens it."""
        with self._lock:
            if probe and self._probing:
                self._open("a failed probe")
            elif self._opened_at is None:
                self._consecutive += 1
                if self._consecutive >= self.failures:
                    self._open(f"{self.failures} consecutive failures")

    def release(self, probe: bool) -> None:
        """A call ended without a verdict (interrupted): a probe's turn passes to the next."""
        with self._lock:
            if probe and self._probing:
                self._probing = False

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Around one call: `ModelUnavailableError` counts as a failure, any other exception
        as a success (the model answered, the request was wrong), an interruption as neither."""
        probe = self.before_call()
        try:
            yield
        except ModelUnavailableError:
            self.record_failure(probe)
            raise
        except Exception:
            self.record_success(probe)
            raise
        except BaseException:
            self.release(probe)
            raise
        self.record_success(probe)

    def _state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._probing or self._clock() >= self._opened_at + self.open_seconds:
            return "half_open"
        return "open"

    def _open(self, why: str) -> None:
        self._opened_at, self._probing, self._consecutive = self._clock(), False, 0
        self._why = why
        metrics.MODEL_CIRCUIT_OPENED.labels(self.name).inc()
        self._export("open")

    def _export(self, state: State) -> None:
        metrics.MODEL_CIRCUIT_STATE.labels(self.name).set(_GAUGE[state])
