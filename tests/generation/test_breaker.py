"""The circuit breaker's states, on a fake clock."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import REGISTRY

from generation.breaker import CircuitBreaker, CircuitOpenError
from generation.protocol import GenerationError, ModelUnavailableError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _breaker(name: str, clock: Clock, failures: int = 3) -> CircuitBreaker:
    return CircuitBreaker(name, failures=failures, open_seconds=30, clock=clock)


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.record_failure(breaker.before_call())


def _state(breaker: CircuitBreaker) -> str:
    return breaker.state  # not narrowed by mypy from one assert to the next


def _gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value("autoglm_model_circuit_state", {"model": name})


def _opened(name: str) -> float:
    return REGISTRY.get_sample_value("autoglm_model_circuit_opened_total", {"model": name}) or 0


def test_opens_after_consecutive_failures_only() -> None:
    clock = Clock()
    breaker = _breaker("b-consecutive", clock)
    _fail(breaker, 2)
    breaker.record_success(breaker.before_call())  # a success resets the count
    _fail(breaker, 2)
    assert _state(breaker) == "closed" and _gauge("b-consecutive") == 0
    _fail(breaker, 1)
    assert _state(breaker) == "open" and _gauge("b-consecutive") == 2
    assert _opened("b-consecutive") == 1


def test_open_circuit_fails_fast_naming_model_and_time_left() -> None:
    clock = Clock()
    breaker = _breaker("b-fast", clock)
    _fail(breaker, 3)
    clock.now += 12
    with pytest.raises(CircuitOpenError, match=r"'b-fast'.*3 consecutive failures.*18\.0 s"):
        breaker.before_call()
    assert issubclass(CircuitOpenError, ModelUnavailableError)  # the router falls back


def test_one_probe_after_open_seconds_and_success_closes() -> None:
    clock = Clock()
    breaker = _breaker("b-probe", clock)
    _fail(breaker, 3)
    clock.now += 30
    assert _state(breaker) == "half_open"
    probe = breaker.before_call()
    assert probe is True and _gauge("b-probe") == 1
    with pytest.raises(CircuitOpenError, match="probe request is in flight"):
        breaker.before_call()
    breaker.record_success(probe)
    assert _state(breaker) == "closed" and _gauge("b-probe") == 0
    assert breaker.before_call() is False
    _fail(breaker, 2)  # the count started again from zero
    assert _state(breaker) == "closed"


def test_failed_probe_reopens_for_a_full_period() -> None:
    clock = Clock()
    breaker = _breaker("b-reopen", clock)
    _fail(breaker, 3)
    clock.now += 31
    breaker.record_failure(breaker.before_call())
    assert _state(breaker) == "open" and _opened("b-reopen") == 2
    clock.now += 29.9
    with pytest.raises(CircuitOpenError, match="a failed probe"):
        breaker.before_call()
    clock.now += 0.1
    assert breaker.before_call() is True


def test_results_of_calls_let_through_before_opening_are_ignored() -> None:
    clock = Clock()
    breaker = _breaker("b-late", clock, failures=1)
    early = breaker.before_call()
    breaker.record_failure(breaker.before_call())
    assert _state(breaker) == "open"
    breaker.record_success(early)  # a slow call started while closed: no verdict now
    assert _state(breaker) == "open"
    clock.now += 30
    probe = breaker.before_call()
    breaker.record_failure(early)  # not the probe: the probe still decides
    assert _state(breaker) == "half_open"
    breaker.record_success(probe)
    assert _state(breaker) == "closed"


def test_exactly_one_probe_among_concurrent_callers() -> None:
    clock = Clock()
    breaker = _breaker("b-threads", clock, failures=1)
    _fail(breaker, 1)
    clock.now += 30
    probes, refused = [], []
    start = threading.Barrier(16)

    def call() -> None:
        start.wait()
        try:
            probes.append(breaker.before_call())
        except CircuitOpenError:
            refused.append(1)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert probes == [True] and len(refused) == 15


def test_guard_classifies_outcomes() -> None:
    clock = Clock()
    breaker = _breaker("b-guard", clock, failures=1)
    with pytest.raises(GenerationError), breaker.guard():
        raise GenerationError("HTTP 400: bad request")  # the model answered: not a failure
    assert _state(breaker) == "closed"
    with pytest.raises(ModelUnavailableError), breaker.guard():
        raise ModelUnavailableError("down")
    assert _state(breaker) == "open"
    clock.now += 30
    with pytest.raises(KeyboardInterrupt), breaker.guard():
        raise KeyboardInterrupt  # no verdict: the next caller probes
    with breaker.guard():
        pass
    assert _state(breaker) == "closed"


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("b-bad", failures=0, open_seconds=1)
