"""`autoglm serve` on the embedded default: a fresh SQLite file, migrated on start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import migrations
from core.db import make_engine, session_factory
from core.settings import Settings
from registry.accounts import authenticate
from tests import factories
from tests.autoglm.run import ROOT
from tests.database import fresh_database
from tests.jobs_support import REPORT, STATIC, publish
from tests.live import free_port
from tests.readers import markdown_headings, open_docx, pdf_text, squash
from tests.stack import Stack, embedded_stack
from triggers.dispatch import NoQueue
from triggers.submit import JobRequest, submit


def test_serve_migrates_sqlite_and_answers(tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {
        "AUTOGLM_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'a.db'}",
        "AUTOGLM_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "AUTOGLM_BROKER_URL": "",
    }
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


@pytest.mark.model
def test_embedded_default_runs_a_job_with_nothing_but_serve(tmp_path: Path) -> None:
    """No broker, no PostgreSQL: SQLite, the in-process queue and the bundled model."""
    with embedded_stack(tmp_path, REPORT) as stack:
        assert httpx.get(f"{stack.url}/readyz").json()["checks"] == {
            "database": "ok",
            "queue": "ok",
            "storage": "ok",
        }
        job = stack.submit({"template": "weekly", "inputs": {"team": "Ops"}})
        done = stack.wait_status(job["id"], {"succeeded", "dead"}, 120)
        assert done["status"] == "succeeded", done["error"]
        assert done["generation"][0]["model"].startswith("SmolLM2")
        markdown = stack.download(job["id"], "md").content.decode("utf-8")
        assert (1, "Weekly report: Ops") in markdown_headings(markdown)
        pdf = stack.download(job["id"], "pdf").content
        assert "Weeklyreport:Ops" in squash(pdf_text(pdf, tmp_path))
        docx_file = stack.download(job["id"], "docx").content
        assert "Weekly report: Ops" in [p.text for p in open_docx(docx_file).paragraphs]
        metrics = httpx.get(f"{stack.url}/metrics").text
        assert 'autoglm_jobs{status="succeeded"} 1.0' in metrics
        assert 'autoglm_tokens_generated_total{template="weekly"}' in metrics


def test_jobs_queued_while_serve_was_down_run_when_it_starts(tmp_path: Path) -> None:
    """The database is the queue's memory: a job queued with no process to run it (or left by
    a crash) is sent to the in-process worker when `serve` starts."""
    url = f"sqlite:///{tmp_path / 'autoglm.db'}"
    env = {
        "AUTOGLM_DATABASE_URL": url,
        "AUTOGLM_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "AUTOGLM_BROKER_URL": "",
    }
    migrations.upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        user = factories.user(session, "ci", teams=["a"], roles=["runner"])
        publish(session, STATIC)
        actor = authenticate(session, user.token)
        request = JobRequest("static", {"team": "night shift"})
        job = submit(session, actor, request, NoQueue(), Settings(database_url=url)).job
    engine.dispose()
    stack = Stack(env=env, database_url=url, artifacts=tmp_path / "a", token=user.token)
    try:
        stack.serve()
        done = stack.wait_status(job.id, {"succeeded", "dead"}, 60)
        assert done["status"] == "succeeded", done["error"]
        markdown = stack.download(job.id, "md").content.decode("utf-8")
        assert (1, "Static report for night shift") in markdown_headings(markdown)
    finally:
        stack.stop()
