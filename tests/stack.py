"""Real processes for end-to-end job tests: `autoglm serve`, `worker` and `scheduler` as
subprocesses on a fresh PostgreSQL database and a private Redis database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import redis

import migrations
from core.db import make_engine, session_factory
from tests import factories
from tests.autoglm.run import ROOT, autoglm
from tests.database import fresh_database
from tests.jobs_support import publish
from tests.live import free_port

REDIS_DB = int(os.environ.get("AUTOGLM_TEST_REDIS_DB", "9"))
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
AMQP_URL = os.environ.get("AUTOGLM_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


@dataclass
class Stack:
    env: dict[str, str]
    database_url: str
    artifacts: Path
    token: str = ""
    url: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """`autoglm ARGS` in its own process group (so SIGKILL takes its children too)."""
        log = self.artifacts.parent / f"{args[0]}-{len(self.processes)}.log"
        self.logs.append(log)
        process = subprocess.Popen(
            [sys.executable, "-m", "autoglm", *args],
            cwd=ROOT,
            env=os.environ | self.env | env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def serve(self) -> None:
        port = free_port()
        self.start("serve", "--port", str(port))
        self.url = f"http://127.0.0.1:{port}"
        wait_for(self._answers, 60, "the API to answer")

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def upload(self, text: str) -> None:
        """Upload and activate a template over HTTP."""
        response = httpx.post(
            f"{self.url}/templates",
            params={"activate": "true"},
            content=text.encode(),
            headers=self.headers | {"Content-Type": "application/yaml"},
        )
        assert response.status_code == 201, response.text

    def submit(self, body: dict[str, Any], **headers: str) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/jobs", json=body, headers=self.headers | headers, timeout=30
        )
        assert response.status_code == 202, response.text
        return dict(response.json())

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/jobs/{job_id}", headers=self.headers).json())

    def wait_status(self, job_id: str, statuses: set[str], timeout: float) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            job = self.job(job_id)
            return job if job["status"] in statuses else None

        return wait_for(
            reached,
            timeout,
            f"job {job_id} to reach {statuses} (logs: {self.logs})",
        )

    def download(self, job_id: str, fmt: str) -> httpx.Response:
        return httpx.get(
            f"{self.url}/jobs/{job_id}/artifacts/{fmt}", headers=self.headers, timeout=30
        )

    def log_lines(self, process_index: int) -> list[dict[str, Any]]:
        """The JSON lines a started process wrote (its stdout and stderr)."""
        lines = self.logs[process_index].read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


@contextmanager
def distributed_stack(
    tmp_path: Path, template: str, broker: str = REDIS_URL, **env: str
) -> Iterator[Stack]:
    """PostgreSQL + a broker (Redis unless told), a published template, an API; start workers
    with `stack.start`."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    with fresh_database("autoglm_e2e") as database_url:
        migrations.upgrade(database_url)
        engine = make_engine(database_url)
        with session_factory(engine)() as session:
            user = factories.user(session, "ci", teams=["a"], roles=["maintainer"])
            publish(session, template)
        engine.dispose()
        artifacts = tmp_path / "artifacts"
        tmp_path.mkdir(parents=True, exist_ok=True)
        stack = Stack(
            env={
                "AUTOGLM_DATABASE_URL": database_url,
                "AUTOGLM_BROKER_URL": broker,
                "AUTOGLM_ARTIFACT_DIR": str(artifacts),
                **env,
            },
            database_url=database_url,
            artifacts=artifacts,
            token=user.token,
        )
        try:
            stack.serve()
            yield stack
        finally:
            stack.stop()
            client.flushdb()


@contextmanager
def embedded_stack(tmp_path: Path, template: str, **extra: str) -> Iterator[Stack]:
    """`autoglm serve` alone on embedded defaults (SQLite, in-process queue, bundled model),
    set up as a user would (`db upgrade`, `admin init`), with `template` uploaded; `extra`
    adds environment variables."""
    env = {
        "AUTOGLM_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'autoglm.db'}",
        "AUTOGLM_ARTIFACT_DIR": str(tmp_path / "var" / "artifacts"),
        "AUTOGLM_BROKER_URL": "",
        **extra,
    }
    assert autoglm("db", "upgrade", env=env).returncode == 0
    token = autoglm("admin", "init", env=env).stdout.strip()
    stack = Stack(
        env=env, database_url=env["AUTOGLM_DATABASE_URL"], artifacts=tmp_path / "a", token=token
    )
    try:
        stack.serve()
        stack.upload(template)
        yield stack
    finally:
        stack.stop()
