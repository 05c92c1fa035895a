"""`autoglm serve` on the embedded default: a fresh SQLite file, migrated on start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.autoglm.run import ROOT
from tests.database import fresh_database
from tests.live import free_port


def test_serve_migrates_sqlite_and_answers(tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {"AUTOGLM_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'a.db'}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "autoglm", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                docs = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert docs.status_code == 200
        anonymous = httpx.get(f"http://127.0.0.1:{port}/templates")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "unauthenticated"
        assert (tmp_path / "var" / "a.db").exists()
    finally:
        server.terminate()
        server.wait(10)


def test_serve_refuses_an_unmigrated_postgres() -> None:
    with fresh_database("autoglm_empty") as empty:
        result = subprocess.run(
            [sys.executable, "-m", "autoglm", "serve"],
            cwd=ROOT,
            env=os.environ | {"AUTOGLM_DATABASE_URL": empty},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert "run `autoglm db upgrade` first" in result.stderr
