"""The remote engine: against llama-cpp-python's real OpenAI-compatible server on the light
bundled model (marked `model`), and against a scripted stub for the failures a real server
will not produce on demand (429, 5xx, rejections, slow answers)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from prometheus_client import REGISTRY

from core.errors import ConfigError
from core.model_config import RemoteModel
from generation.breaker import CircuitBreaker, CircuitOpenError
from generation.protocol import (
    GenerationError,
    GenerationRequest,
    ModelUnavailableError,
    PromptTooLongError,
)
from generation.remote import RETRY_AFTER_CAP_SECONDS, RemoteEngine, retry_after
from tests.live import free_port
from tests.remote_server import LlamaServer, Reply, StubServer, llama_server

KEY = "test-key-0123456789"
KEY_ENV = "AUTOGLM_TEST_REMOTE_KEY"
STORY = "Write a long story about a dragon who learns to cook."
SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": 2,
    "items": {"type": "string", "maxLength": 30},
}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "name": "summary",
        "prompt": "Summarise in one sentence: the team shipped a login page.",
        "max_tokens": 24,
        "temperature": 0.7,
        "seed": 1234,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def _engine(base_url: str, name: str, **config: Any) -> RemoteEngine:
    """An engine whose sleeps between retries are recorded, not slept."""
    sleeps: list[float] = []
    clock = config.pop("clock", None) or time.monotonic
    engine = RemoteEngine(
        name,
        RemoteModel(base_url=base_url, model="smollm2", **config),
        backoff_seconds=0.01,
        sleep=sleeps.append,
        clock=clock,
    )
    engine.sleeps = sleeps  # type: ignore[attr-defined]
    return engine


def _state(breaker: CircuitBreaker) -> str:
    return breaker.state  # not narrowed by mypy from one assert to the next


def _count(name: str, outcome: str) -> float:
    labels = {"model": name, "outcome": outcome}
    return REGISTRY.get_sample_value("autoglm_remote_requests_total", labels) or 0


# --- the real server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with llama_server(log, api_key=KEY) as running:
        yield running


@pytest.fixture
def real(server: LlamaServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[RemoteEngine]:
    monkeypatch.setenv(KEY_ENV, KEY)
    with RemoteEngine(
        "real", RemoteModel(base_url=server.base_url, model="smollm2", api_key_env=KEY_ENV)
    ) as engine:
        yield engine


@pytest.mark.model
def test_prose_field_streams_with_progress(real: RemoteEngine, server: LlamaServer) -> None:
    seen: list[tuple[str, int, float, str]] = []
    result = real.generate(_request(), lambda *progress: seen.append(progress))
    assert result.text and result.value == result.text
    assert result.model == f"smollm2@127.0.0.1:{server.port}"
    assert result.finish_reason in ("stop", "length")
    assert 0 < result.completion_tokens <= 24  # counted: this server streams no usage
    assert result.prompt_tokens > 0 and result.seed == 1234 and result.attempts == 1
    assert result.seconds > 0
    counts = [tokens for _, tokens, _, _ in seen]
    assert counts == list(range(1, len(counts) + 1)) and counts[-1] == result.completion_tokens
    assert {name for name, _, _, _ in seen} == {"summary"}
    assert [elapsed for _, _, elapsed, _ in seen] == sorted(elapsed for _, _, elapsed, _ in seen)
    texts = [text for _, _, _, text in seen]  # the text so far, growing to the answer
    assert all(b.startswith(a) for a, b in pairwise(texts))
    assert texts[-1].strip() == result.text


@pytest.mark.model
def test_json_field_is_schema_valid(real: RemoteEngine) -> None:
    # no free-form strings: llama-cpp-python's schema converter (which its server uses) lets raw
    # newlines into JSON strings, which the strict check rejects (our local grammar does not)
    schema = {
        "type": "object",
        "properties": {
            "risk": {"enum": ["data loss", "downtime", "cost"]},
            "severity": {"type": "integer", "minimum": 1, "maximum": 5},
        },
        "required": ["risk", "severity"],
    }
    prompt = "Name the main risk of a database migration and rate its severity from 1 to 5."
    result = real.generate(_request(name="risk", prompt=prompt, json_schema=schema, max_tokens=40))
    Draft202012Validator(schema).validate(result.value)
    assert result.finish_reason == "stop"
    # llama-cpp-python's server refuses `json_schema` (as a 500 naming response_format) and
    # takes `json_object` with a schema, which constrains its sampling: remembered
    assert real.json_mode == "json_object+schema"


@pytest.mark.model
def test_prompt_too_long_is_a_user_error(real: RemoteEngine) -> None:
    with pytest.raises(PromptTooLongError, match="maximum context length is 2048"):
        real.generate(_request(prompt="word " * 3000))
    assert _state(real.breaker) == "closed"


@pytest.mark.model
def test_a_wrong_key_makes_the_endpoint_unusable_without_retries(server: LlamaServer) -> None:
    """A revoked key is the endpoint's fault, not the field's: fall back, count a failure."""
    engine = _engine(server.base_url, "real-nokey", max_retries=3)
    with engine, pytest.raises(ModelUnavailableError, match="HTTP 401: Invalid API key"):
        engine.generate(_request())
    assert engine.sleeps == []  # type: ignore[attr-defined]


@pytest.mark.model
def test_server_killed_mid_field_then_back(
    server: LlamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed while streaming: the field fails over (ModelUnavailableError); the breaker opens
    and fails fast while the server is away; once it is back, one probe closes the circuit."""
    monkeypatch.setenv(KEY_ENV, KEY)
    clock = Clock()
    engine = _engine(
        server.base_url,
        "real-killed",
        api_key_env=KEY_ENV,
        max_retries=2,
        breaker_failures=2,
        breaker_open_seconds=60,
        clock=clock,
    )

    def kill_on_first_token(name: str, tokens: int, elapsed: float, text: str) -> None:
        if tokens == 1:
            server.kill()

    try:
        started = time.monotonic()
        with pytest.raises(ModelUnavailableError, match="connection refused"):
            engine.generate(_request(prompt=STORY, max_tokens=200), kill_on_first_token)
        with pytest.raises(ModelUnavailableError, match="connection refused"):
            engine.generate(_request())
        assert time.monotonic() - started < 10  # refused is not retried: the router moves on
        assert _state(engine.breaker) == "open"
        with pytest.raises(CircuitOpenError, match=r"'real-killed'.*next probe in 60\.0 s"):
            engine.generate(_request())
        server.start()
        clock.now += 59
        with pytest.raises(CircuitOpenError):
            engine.generate(_request())
        clock.now += 1
        assert engine.generate(_request()).text
        assert _state(engine.breaker) == "closed"
    finally:
        engine.close()
        if server.process is None:
            server.start()  # for the tests after this one


# --- a scripted stub ------------------------------------------------------------------------


def test_api_key_from_env_is_sent_as_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, f"  {KEY}\n")
    with StubServer([Reply()]) as stub, _engine(stub.base_url, "key-env", api_key_env=KEY_ENV) as e:
        result = e.generate(_request(system="Be brief."))
        assert result.text == "Hello world."
    seen = stub.seen[0]
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    assert seen.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": _request().prompt},
    ]
    assert seen.body | {"messages": None} == {
        "model": "smollm2",
        "messages": None,
        "max_tokens": 24,
        "temperature": 0.7,
        "seed": 1234,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_api_key_from_file_and_missing_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    with (
        StubServer([Reply()]) as stub,
        _engine(stub.base_url, "key-file", api_key_file=key_file) as e,
    ):
        e.generate(_request())
    assert stub.seen[0].headers["Authorization"] == f"Bearer {KEY}"
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=f"'key-env2'.*{KEY_ENV} is not set"):
        _engine("http://127.0.0.1:1/v1", "key-env2", api_key_env=KEY_ENV)
    with pytest.raises(ConfigError, match=r"cannot read api_key_file .*/absent"):
        _engine("http://127.0.0.1:1/v1", "key-file2", api_key_file=tmp_path / "absent")


def test_usage_from_the_stream_is_recorded() -> None:
    usage = {"prompt_tokens": 31, "completion_tokens": 7, "total_tokens": 38}
    stub = StubServer([Reply(usage=usage, finish_reason="length")])
    with stub, _engine(stub.base_url, "usage") as engine:
        result = engine.generate(_request())
    assert (result.prompt_tokens, result.completion_tokens) == (31, 7)
    assert result.finish_reason == "length"  # prose cut off is kept, as locally


def test_429_then_ok_honours_retry_after() -> None:
    script = [Reply(429, headers={"Retry-After": "2"}), Reply(429, headers={"Retry-After": "999"})]
    with StubServer([*script, Reply()]) as stub, _engine(stub.base_url, "r429") as engine:
        before = _count("r429", "retry")
        assert engine.generate(_request()).text == "Hello world."
    assert engine.sleeps == [2.0, RETRY_AFTER_CAP_SECONDS]  # type: ignore[attr-defined]
    assert len(stub.seen) == 3 and _count("r429", "retry") - before == 2
    assert _count("r429", "ok") == 1


def test_retry_after_as_http_date() -> None:
    import httpx  # noqa: PLC0415

    assert retry_after(httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    assert retry_after(httpx.Headers({})) is None


def test_5xx_retried_with_backoff_then_unavailable() -> None:
    stub = StubServer([Reply(503, message="overloaded")])
    engine = _engine(stub.base_url, "r5xx", max_retries=3)
    unavailable = pytest.raises(ModelUnavailableError, match=r"HTTP 503: overloaded \(4 tries\)")
    with stub, engine, unavailable:
        engine.generate(_request())
    sleeps = engine.sleeps  # type: ignore[attr-defined]
    assert len(stub.seen) == 4 and len(sleeps) == 3
    assert all(0 < s <= 10 for s in sleeps) and sleeps[2] > sleeps[0]  # exponential, jittered
    assert _count("r5xx", "retry") == 3 and _count("r5xx", "error") == 1


def test_400_is_not_retried_and_names_the_server_message() -> None:
    stub = StubServer([Reply(400, message="temperature must be <= 2")])
    engine = _engine(stub.base_url, "r400")
    rejected = pytest.raises(GenerationError, match="HTTP 400: temperature must be <= 2")
    with stub, engine, rejected as exc:
        engine.generate(_request())
    assert not isinstance(exc.value, ModelUnavailableError)
    assert len(stub.seen) == 1 and _state(engine.breaker) == "closed"


def test_json_schema_refused_falls_back_to_json_object_and_remembers() -> None:
    def script(index: int, body: dict[str, Any]) -> Reply:
        if body["response_format"]["type"] == "json_schema":
            return Reply(400, message="response_format json_schema is not supported")
        return Reply(chunks=['["a", ', '"b"]'])

    request = _request(name="风险 list", json_schema=SCHEMA)
    with StubServer(script) as stub, _engine(stub.base_url, "rjson") as engine:
        assert engine.generate(request).value == ["a", "b"]
        assert engine.json_mode == "json_object+schema"
        engine.generate(request)
    formats = [seen.body["response_format"] for seen in stub.seen]
    assert formats[0]["json_schema"] == {"name": "___list", "schema": SCHEMA, "strict": True}
    assert formats[1:] == [{"type": "json_object", "schema": SCHEMA}] * 2  # remembered


def test_invalid_json_answer_is_retried_once_with_the_next_seed() -> None:
    replies = [Reply(chunks=["not json"]), Reply(chunks=['["ok"]'])]
    with StubServer(replies) as stub, _engine(stub.base_url, "rcheck") as engine:
        result = engine.generate(_request(json_schema=SCHEMA))
    assert result.value == ["ok"] and result.attempts == 2 and result.seed == 1235
    assert [seen.body["seed"] for seen in stub.seen] == [1234, 1235]


def test_stream_options_refused_is_dropped_and_remembered() -> None:
    def script(index: int, body: dict[str, Any]) -> Reply:
        if "stream_options" in body:
            return Reply(422, body='{"detail": "stream_options: extra inputs are not permitted"}')
        return Reply()

    with StubServer(script) as stub, _engine(stub.base_url, "ropts") as engine:
        engine.generate(_request())
        engine.generate(_request())
    assert ["stream_options" in seen.body for seen in stub.seen] == [True, False, False]


def test_stream_cut_midway_is_retried() -> None:
    replies = [Reply(chunks=["Hel"], cut=True), Reply()]
    with StubServer(replies) as stub, _engine(stub.base_url, "rcut") as engine:
        seen: list[int] = []
        result = engine.generate(
            _request(), lambda name, tokens, elapsed, text: seen.append(tokens)
        )
    assert result.text == "Hello world." and result.attempts == 1
    assert len(stub.seen) == 2 and seen == [1, 1, 2, 3]  # the retry counts again from one
    assert len(engine.sleeps) == 1  # type: ignore[attr-defined]


def test_stream_ended_before_it_began_is_asked_again_unstreamed() -> None:
    """As llama-cpp-python's server does for a prompt longer than its context."""
    too_long = "This model's maximum context length is 2048 tokens. However, you requested 3036"
    replies = [Reply(chunks=[], cut=True), Reply(400, message=too_long)]
    with StubServer(replies) as stub, _engine(stub.base_url, "rlong") as engine:
        with pytest.raises(PromptTooLongError, match=r"'rlong'.*maximum context length is 2048"):
            engine.generate(_request())
        assert _state(engine.breaker) == "closed"
    assert [seen.body["stream"] for seen in stub.seen] == [True, False]
    assert "stream_options" not in stub.seen[1].body
    replies = [Reply(chunks=[], cut=True), Reply(chunks=["Plain", " answer"])]
    with StubServer(replies) as stub, _engine(stub.base_url, "rplain") as engine:
        result = engine.generate(_request())
    assert result.text == "Plain answer" and result.completion_tokens == 3  # estimated


def test_server_down_is_unavailable_at_once() -> None:
    with _engine(f"http://127.0.0.1:{free_port()}/v1", "rdown", max_retries=5) as engine:
        started = time.monotonic()
        with pytest.raises(ModelUnavailableError, match=r"'rdown'.*connection refused"):
            engine.generate(_request())
        assert time.monotonic() - started < 2
    assert engine.sleeps == []  # type: ignore[attr-defined]


def test_breaker_opens_fails_fast_then_one_probe_closes_it() -> None:
    clock = Clock()
    healthy = threading.Event()
    probe_started, release_probe = threading.Event(), threading.Event()

    def script(index: int, body: dict[str, Any]) -> Reply:
        if not healthy.is_set():
            return Reply(500, message="boom")
        probe_started.set()
        release_probe.wait(10)
        return Reply()

    config = {"max_retries": 0, "breaker_failures": 2, "breaker_open_seconds": 30}
    with StubServer(script) as stub, _engine(stub.base_url, "rbreak", clock=clock, **config) as e:
        for _ in range(2):
            with pytest.raises(ModelUnavailableError, match="HTTP 500: boom"):
                e.generate(_request())
        with pytest.raises(CircuitOpenError, match=r"next probe in 30\.0 s"):
            e.generate(_request())
        assert len(stub.seen) == 2  # failed fast: no request
        healthy.set()
        clock.now += 30
        results: list[str] = []
        probe = threading.Thread(target=lambda: results.append(e.generate(_request()).text))
        probe.start()
        assert probe_started.wait(10)
        with pytest.raises(CircuitOpenError, match="probe request is in flight"):
            e.generate(_request())
        release_probe.set()
        probe.join(10)
        assert results == ["Hello world."] and _state(e.breaker) == "closed"
        assert len(stub.seen) == 3
    gauge = REGISTRY.get_sample_value("autoglm_model_circuit_state", {"model": "rbreak"})
    assert gauge == 0


def test_concurrency_cap_holds() -> None:
    with (
        StubServer([Reply(delay=0.2)]) as stub,
        _engine(stub.base_url, "rcap", max_concurrency=2) as e,
    ):
        threads = [threading.Thread(target=e.generate, args=(_request(),)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert len(stub.seen) == 6 and stub.max_in_flight == 2
