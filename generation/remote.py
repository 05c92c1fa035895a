"""Remote models: any OpenAI-compatible `/chat/completions` endpoint (vLLM, llama-server,
llama-cpp-python's server, TGI, Ollama, OpenAI), streamed, behind a circuit breaker.

Answers are checked and retried exactly as local ones (`generation.answers`). Transient
trouble (429, 5xx, timeouts, dropped connections) is retried here with exponential backoff and
jitter, honouring Retry-After; when it persists, or nothing listens at all, the engine raises
`ModelUnavailableError` so the router can fall back, and its breaker counts a failure. A
request the server rejects (other 4xx) raises `GenerationError` with the server's message.

Servers differ in what they accept, so an endpoint that rejects a request feature is asked
again without it, and remembered: JSON fields go as `response_format` ``json_schema``
(OpenAI, vLLM), else ``json_object`` with a ``schema`` (llama-cpp-python, llama-server), else
plain ``json_object``; `stream_options.include_usage` is dropped where refused.
llama-cpp-python's server reports such a rejected field as a 500 naming it, so a 5xx whose
message names a feature we sent counts as a rejection of that feature, not as an outage.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from core.errors import ConfigError
from core.model_config import RemoteModel
from generation import metrics
from generation.answers import Attempt, generate_checked
from generation.breaker import CircuitBreaker
from generation.chat import chat_messages
from generation.protocol import (
    GenerationError,
    GenerationRequest,
    GenerationResult,
    ModelUnavailableError,
    ProgressCallback,
    PromptTooLongError,
)

RETRY_AFTER_CAP_SECONDS = 30.0  # a longer Retry-After is shortened to this
BACKOFF_MAX_SECONDS = 10.0
JSON_MODES = ("json_schema", "json_object+schema", "json_object")  # tried in this order
_CONTEXT_EXCEEDED = re.compile(r"context (length|window)|maximum context|too many tokens", re.I)


class _Retryable(Exception):
    """A try that may succeed if repeated (429, 5xx, a timeout, a dropped connection)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Rejected(Exception):
    """The server refused the request as malformed: perhaps a feature it does not support."""


@dataclass(frozen=True)
class _Answer:
    text: str
    finish_reason: str
    counted: int  # content chunks seen (about one token each)
    usage: dict[str, Any] | None


class RemoteEngine:
    """Writes fields with a model behind an OpenAI-compatible server. Thread-safe: calls run
    in the calling thread, at most ``max_concurrency`` of them on the wire at once."""

    def __init__(
        self,
        name: str,
        config: RemoteModel,
        *,
        transport: httpx.BaseTransport | None = None,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name, self.config = name, config
        self.breaker = CircuitBreaker(
            name, config.breaker_failures, config.breaker_open_seconds, clock=clock
        )
        headers = {"Accept": "text/event-stream", "User-Agent": "autoglm-docgen"}
        key = api_key(name, config)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(config.timeout_seconds, connect=config.connect_timeout_seconds),
            limits=httpx.Limits(max_connections=config.max_concurrency),
            transport=transport,
        )
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self._slots = threading.BoundedSemaphore(config.max_concurrency)
        self._backoff = wait_exponential(
            multiplier=backoff_seconds, max=BACKOFF_MAX_SECONDS
        ) + wait_random(0, backoff_seconds)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._json_mode = 0  # index in JSON_MODES: the first this endpoint accepts
        self._stream_options = True

    @property
    def model_name(self) -> str:
        parts = urlsplit(self.config.base_url)  # host and port only: never any userinfo
        host = parts.hostname or ""
        return f"{self.config.model}@{host}" + (f":{parts.port}" if parts.port else "")

    @property
    def json_mode(self) -> str:
        """How this endpoint is asked for JSON (the first of `JSON_MODES` it accepted)."""
        return JSON_MODES[self._json_mode]

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        """One field, checked and retried once (next seed) like a local model's answer."""
        return generate_checked(
            [request], lambda attempts: [self._attempt(a, on_progress) for a in attempts]
        )[0]

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RemoteEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _attempt(self, attempt: Attempt, on_progress: ProgressCallback | None) -> GenerationResult:
        with self.breaker.guard():
            return self._complete(attempt, on_progress)

    def _complete(self, attempt: Attempt, on_progress: ProgressCallback | None) -> GenerationResult:
        request = attempt.request
        started = time.perf_counter()
        with self._lock:
            mode = self._json_mode if request.json_schema is not None else None
            stream_options = self._stream_options
        while True:
            body = self._body(attempt, mode, stream_options)
            try:
                answer = self._with_retries(body, request, started, on_progress)
                break
            except _Rejected as exc:
                message = str(exc)
                if stream_options and "stream_options" in message:
                    stream_options = False
                elif mode is not None and mode + 1 < len(JSON_MODES):
                    mode += 1
                else:
                    self._count("error")
                    raise GenerationError(
                        f"field {request.name!r}: model {self.name!r} ({self.model_name}) "
                        f"rejected the request: {message}"
                    ) from None
                self._count("retry")
        with self._lock:  # what worked is what this endpoint gets from now on
            if mode is not None:
                self._json_mode = max(self._json_mode, mode)
            self._stream_options = self._stream_options and stream_options
        usage = answer.usage or {}
        completion = int(usage.get("completion_tokens") or answer.counted)
        metrics.REMOTE_TOKENS.labels(self.name).inc(completion)
        return GenerationResult(
            name=request.name,
            text=answer.text,
            value=answer.text,
            model=self.model_name,
            seed=attempt.seed,
            prompt_tokens=int(usage.get("prompt_tokens") or estimate_tokens(request)),
            completion_tokens=completion,
            seconds=time.perf_counter() - started,
            finish_reason=answer.finish_reason,
            attempts=attempt.number,
        )

    def _body(self, attempt: Attempt, mode: int | None, stream_options: bool) -> dict[str, Any]:
        request = attempt.request
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": chat_messages(request),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": attempt.seed,
            "stream": True,
        }
        if stream_options:
            body["stream_options"] = {"include_usage": True}
        if mode is not None and request.json_schema is not None:
            body["response_format"] = response_format(request, JSON_MODES[mode])
        return body

    def _with_retries(
        self,
        body: dict[str, Any],
        request: GenerationRequest,
        started: float,
        on_progress: ProgressCallback | None,
    ) -> _Answer:
        retrying = Retrying(
            stop=stop_after_attempt(self.config.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            before_sleep=lambda state: self._count("retry"),
            reraise=True,
        )
        try:
            return retrying(self._send, body, request, started, on_progress)
        except _Retryable as exc:
            self._count("error")
            tries = self.config.max_retries + 1
            raise ModelUnavailableError(
                f"model {self.name!r} ({self.model_name}): {exc} "
                f"({tries} {'try' if tries == 1 else 'tries'})"
            ) from None

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server gives one (capped), else exponential backoff."""
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, RETRY_AFTER_CAP_SECONDS)
        return float(self._backoff(state))

    def _send(
        self,
        body: dict[str, Any],
        request: GenerationRequest,
        started: float,
        on_progress: ProgressCallback | None,
    ) -> _Answer:
        """One HTTP request, holding one of the endpoint's concurrency slots."""
        with self._slots:
            began = time.perf_counter()
            try:
                with self._client.stream("POST", self._url, json=body) as response:
                    if response.status_code != 200:
                        response.read()
                        self._fail(response, body, request)
                    answer = _read(response, request.name, started, on_progress)
                if answer is None:
                    answer = self._unstreamed(body, request, started, on_progress)
            except httpx.ConnectError as exc:
                if _refused(exc):
                    self._count("error")
                    raise ModelUnavailableError(
                        f"model {self.name!r} ({self.model_name}): connection refused"
                    ) from None
                raise _Retryable(f"cannot connect ({exc})") from None
            except httpx.TimeoutException as exc:
                raise _Retryable(f"timed out ({type(exc).__name__})") from None
            except httpx.TransportError as exc:
                raise _Retryable(f"connection failed ({type(exc).__name__}: {exc})") from None
            except (_Retryable, _Rejected):
                raise
            except Exception:
                self._count("error")
                raise
            finally:
                metrics.REMOTE_REQUEST_SECONDS.labels(self.name).observe(
                    time.perf_counter() - began
                )
        self._count("ok")
        return answer

    def _unstreamed(
        self,
        body: dict[str, Any],
        request: GenerationRequest,
        started: float,
        on_progress: ProgressCallback | None,
    ) -> _Answer:
        """The same request unstreamed, after a stream that ended before it began: some servers
        (llama-cpp-python's, for a prompt longer than its context) report an error only so,
        and may have dropped the stream's connection, which the pool would hand out again."""
        plain = {key: value for key, value in body.items() if key != "stream_options"}
        try:
            response = self._client.post(self._url, json=plain | {"stream": False})
        except (httpx.ReadError, httpx.RemoteProtocolError):
            response = self._client.post(self._url, json=plain | {"stream": False})
        if response.status_code != 200:
            self._fail(response, plain, request)
        answer = _read(response, request.name, started, on_progress)
        if answer is None:  # pragma: no cover - a JSON body always has an answer or raises
            raise _Retryable("no answer")
        return answer

    def _fail(
        self, response: httpx.Response, body: dict[str, Any], request: GenerationRequest
    ) -> NoReturn:
        status, (message, code) = response.status_code, _error(response)
        if status in (400, 413, 422) and (
            code == "context_length_exceeded" or _CONTEXT_EXCEEDED.search(message)
        ):
            raise PromptTooLongError(
                f"field {request.name!r}: prompt does not fit model {self.name!r} "
                f"({self.model_name}): {message}"
            )
        optional = [key for key in ("response_format", "stream_options") if key in body]
        if status in (400, 422) or (status >= 500 and any(k in message for k in optional)):
            raise _Rejected(f"HTTP {status}: {message}")
        if status in (408, 429) or status >= 500:
            raise _Retryable(f"HTTP {status}: {message}", retry_after(response.headers))
        if status in (401, 403, 404):  # a revoked key, a wrong model or URL: the endpoint,
            self._count("error")  # not the field, is at fault; fall back, count a failure
            raise ModelUnavailableError(
                f"model {self.name!r} ({self.model_name}) answered HTTP {status}: {message}"
            )
        raise GenerationError(
            f"field {request.name!r}: model {self.name!r} ({self.model_name}) answered "
            f"HTTP {status}: {message}"
        )

    def _count(self, outcome: str) -> None:
        metrics.REMOTE_REQUESTS.labels(self.name, outcome).inc()


def _read(
    response: httpx.Response, name: str, started: float, on_progress: ProgressCallback | None
) -> _Answer | None:
    """The answer from a server-sent-event stream (or a plain JSON body, from a server that
    ignores ``stream``), reporting progress per content chunk; None when the stream ended
    before anything was said."""
    if "text/event-stream" not in response.headers.get("content-type", ""):
        return _read_json(response)
    parts: list[str] = []
    counted, finish, usage, done = 0, "stop", None, False
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue  # comments (keep-alives), event names, blank separators
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            raise _Retryable("malformed event in the stream") from None
        if chunk.get("error"):
            raise _Retryable(f"error in the stream: {_message(chunk['error'])}")
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if content:
                parts.append(content)
                counted += 1
                if on_progress is not None:
                    shown = max(counted, int((usage or {}).get("completion_tokens") or 0))
                    on_progress(name, shown, time.perf_counter() - started, "".join(parts))
            if choice.get("finish_reason"):
                finish, done = choice["finish_reason"], True
    if not done:
        if not parts:
            return None
        raise _Retryable("the stream ended before the answer did")
    return _Answer("".join(parts).strip(), finish, counted, usage)


def _read_json(response: httpx.Response) -> _Answer:
    try:
        data = json.loads(response.read())
        choice = data["choices"][0]
        text = (choice["message"]["content"] or "").strip()
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise _Retryable(f"malformed answer ({type(exc).__name__})") from None
    finish = choice.get("finish_reason") or "stop"
    return _Answer(text, finish, math.ceil(len(text) / 4), data.get("usage"))


def response_format(request: GenerationRequest, mode: str) -> dict[str, Any]:
    """The ``response_format`` that asks a server for JSON of the field's schema."""
    if mode == "json_schema":
        name = re.sub(r"[^A-Za-z0-9_-]", "_", request.name)[:64] or "field"
        spec = {"name": name, "schema": request.json_schema, "strict": True}
        return {"type": "json_schema", "json_schema": spec}
    if mode == "json_object+schema":
        return {"type": "json_object", "schema": request.json_schema}
    return {"type": "json_object"}


def api_key(name: str, config: RemoteModel) -> str | None:
    """The configured key (None when none is configured); a named source that is missing or
    empty is a configuration error. The key itself never appears in a message."""
    if config.api_key_env:
        value = os.environ.get(config.api_key_env, "").strip()
        if not value:
            raise ConfigError(f"model {name!r}: api_key_env {config.api_key_env} is not set")
        return value
    if config.api_key_file:
        try:
            value = config.api_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"model {name!r}: cannot read api_key_file {config.api_key_file} "
                f"({exc.strerror or exc})"
            ) from None
        if not value:
            raise ConfigError(f"model {name!r}: api_key_file {config.api_key_file} is empty")
        return value
    return None


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date); None without one."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def estimate_tokens(request: GenerationRequest) -> int:
    """Prompt tokens when the server reports no usage: about four characters per token."""
    return max(1, math.ceil(len((request.system or "") + request.prompt) / 4))


def _error(response: httpx.Response) -> tuple[str, str]:
    """The server's error message and code, from OpenAI's shape, FastAPI's, or plain text."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase, ""
    if isinstance(data, dict) and "error" in data:
        error = data["error"]
        code = str(error.get("code") or "") if isinstance(error, dict) else ""
        return _message(error), code
    if isinstance(data, dict) and "detail" in data:
        return _message(data["detail"]), ""
    return json.dumps(data)[:500], ""


def _message(error: Any) -> str:
    if isinstance(error, dict):
        error = error.get("message") or error
    text = error if isinstance(error, str) else json.dumps(error)
    return text.strip()[:500]


def _refused(exc: BaseException) -> bool:
    """Whether nothing listens at the address (the server is down), as opposed to a slow or
    unreachable network, which is worth retrying."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "connection refused" in str(exc).lower()
