"""OpenAI-compatible servers for tests of the remote engine: llama-cpp-python's own server on
the light bundled model (a real one, killable and restartable on its port), and a scripted
stub for what a real server will not do on demand (429s, 500s, slow answers, rejections)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from core.cpus import usable_cpus
from generation.models import bundled_model_path
from tests.live import free_port


class LlamaServer:
    """`python -m llama_cpp.server` as a subprocess on a loopback port, in its own process
    group. `kill` and `start` again keep the port, so a client sees the same server die and
    come back."""

    def __init__(self, log: Path, model: str = "smollm2", api_key: str | None = None) -> None:
        self.model_path = bundled_model_path(model)
        self.port = free_port()
        self.api_key = api_key
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 60) -> None:
        args = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path)]
        args += ["--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048"]
        args += ["--n_threads", str(usable_cpus()), "--verbose", "False"]
        args += ["--interrupt_requests", "False"]  # queue concurrent requests, as vLLM would
        if self.api_key:
            args += ["--api_key", self.api_key]
        self.process = subprocess.Popen(
            args,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"llama_cpp.server did not start:\n{tail}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as when a server crashes."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def _answers(self) -> bool:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            response = httpx.get(f"{self.base_url}/models", headers=headers, timeout=2)
        except httpx.TransportError:
            return False
        return response.status_code == 200


@contextmanager
def llama_server(log: Path, api_key: str | None = None) -> Iterator[LlamaServer]:
    server = LlamaServer(log, api_key=api_key)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@dataclass(frozen=True)
class Reply:
    """What the stub answers to one request: a stream of ``chunks`` (status 200), or ``status``
    with ``body`` (an OpenAI-style error built from ``message`` when not given)."""

    status: int = 200
    chunks: Sequence[str] = ("Hello", " world", ".")
    finish_reason: str = "stop"
    usage: dict[str, int] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "stub error"
    body: str | None = None
    delay: float = 0.0  # seconds before answering
    cut: bool = False  # end the stream after the chunks, with no finish_reason and no [DONE]


@dataclass(frozen=True)
class Seen:
    headers: dict[str, str]
    body: dict[str, Any]


class StubServer:
    """A scripted OpenAI-compatible `/v1/chat/completions` on a loopback port: request i gets
    ``script[i]`` (the last one over again once the script runs out), or ``script(i, body)``.
    It records every request and the most requests it had in flight at once."""

    def __init__(self, script: Sequence[Reply] | Callable[[int, dict[str, Any]], Reply]) -> None:
        self.script = script
        self.seen: list[Seen] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reply_to(self, index: int, body: dict[str, Any]) -> Reply:
        if callable(self.script):
            return self.script(index, body)
        return self.script[min(index, len(self.script) - 1)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with stub._lock:
                    index = len(stub.seen)
                    stub.seen.append(Seen(dict(self.headers.items()), body))
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    self._answer(stub.reply_to(index, body), body)
                finally:
                    with stub._lock:
                        stub.in_flight -= 1

            def _answer(self, reply: Reply, body: dict[str, Any]) -> None:
                time.sleep(reply.delay)
                if reply.status != 200:
                    error = {"error": {"message": reply.message, "type": "stub", "code": None}}
                    payload = (reply.body or json.dumps(error)).encode()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if body.get("stream") is False:
                    self._json(reply)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()  # HTTP/1.0: the body ends when the connection closes
                for text in reply.chunks:
                    self._event({"choices": [{"index": 0, "delta": {"content": text}}]})
                if reply.cut:
                    return
                last: dict[str, Any] = {
                    "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}]
                }
                if reply.usage is not None:
                    last["usage"] = reply.usage
                self._event(last)
                self.wfile.write(b"data: [DONE]\n\n")

            def _json(self, reply: Reply) -> None:
                message = {"role": "assistant", "content": "".join(reply.chunks)}
                choice = {"index": 0, "message": message, "finish_reason": reply.finish_reason}
                payload = json.dumps({"choices": [choice], "usage": reply.usage}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _event(self, data: dict[str, Any]) -> None:
                self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet test output

        return Handler
