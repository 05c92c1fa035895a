"""Cancelling end to end: PostgreSQL + Redis, `autoglm serve` and a separate `autoglm worker`
process with the real model. A queued job never runs; a running one stops within about a
poll of the request, keeps no files, and its event stream ends `cancelled`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.jobs_support import REPORT
from tests.live import free_port
from tests.stack import Stack, distributed_stack, wait_for

pytestmark = pytest.mark.model

ENDLESS = """\
name: endless
version: "1"
variables: [topic]
generate:
  story:
    prompt: "Write a very long story about {{ topic }}, with many chapters."
    max_tokens: 1200
    temperature: 0.8
  poem:
    prompt: "Write a very long poem about {{ topic }}, with many verses."
    max_tokens: 1200
    temperature: 0.8
export:
  formats: [md, docx]
"""


def cancel(stack: Stack, job_id: str) -> httpx.Response:
    return httpx.post(f"{stack.url}/jobs/{job_id}/cancel", headers=stack.headers, timeout=30)


def test_a_job_cancelled_while_queued_never_runs(tmp_path: Path) -> None:
    with distributed_stack(tmp_path, REPORT) as stack:
        job = stack.submit({"template": "weekly", "inputs": {"team": "ops"}})
        answer = cancel(stack, job["id"])
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "cancelled"

        stack.start("worker")  # its queue holds the cancelled job's message
        later = stack.submit({"template": "weekly", "inputs": {"team": "dev"}})
        done = stack.wait_status(later["id"], {"succeeded", "dead"}, 120)
        assert done["status"] == "succeeded", done["error"]

        def skipped() -> bool:
            return any(
                line.get("event") == "job not claimable; skipped"
                and line.get("job_id") == job["id"]
                for line in stack.log_lines(1)
            )

        wait_for(skipped, 30, "the worker to skip the cancelled job's message")
        cancelled = stack.job(job["id"])
        assert (cancelled["status"], cancelled["attempts"], cancelled["artifacts"]) == (
            "cancelled",
            0,
            [],
        )
        assert cancelled["generation"] == [] and cancelled["error"] == "cancelled by ci"
        assert not (stack.artifacts / job["id"]).exists()
        assert (stack.artifacts / later["id"]).is_dir()


def test_a_running_job_stops_within_seconds_and_keeps_no_files(tmp_path: Path) -> None:
    metrics_port = free_port()
    fast = {"AUTOGLM_PROGRESS_INTERVAL_SECONDS": "0.2", "AUTOGLM_CANCEL_POLL_SECONDS": "0.2"}
    with distributed_stack(tmp_path, ENDLESS, **fast) as stack:
        stack.start("worker", AUTOGLM_METRICS_PORT=str(metrics_port))
        job = stack.submit({"template": "endless", "inputs": {"topic": "lighthouses"}})
        events: list[tuple[str, Any]] = []
        asked_at = ended_at = 0.0
        url = f"{stack.url}/jobs/{job['id']}/events"
        with httpx.stream("GET", url, headers=stack.headers, timeout=240) as response:
            name = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                    continue
                if not line.startswith("data: "):
                    continue
                data = json.loads(line[6:])
                events.append((name, data))
                writing = name == "field" and not data["done"] and data["tokens"] > 3
                if writing and not asked_at:
                    asked = cancel(stack, job["id"])
                    asked_at = time.monotonic()
                    assert asked.status_code == 202, asked.text
                    assert asked.json()["status"] == "running"
                    assert asked.json()["cancel_requested_at"]
                if name == "end":
                    ended_at = time.monotonic()

        assert asked_at, "the job finished before any field's text was seen"
        assert events[-1] == ("end", {"status": "cancelled"})
        assert ended_at - asked_at < 8, f"stopped {ended_at - asked_at:.1f} s after the request"
        statuses = [data["status"] for name, data in events if name == "job"]
        assert "running" in statuses and statuses[-1] == "cancelled"

        done = stack.job(job["id"])
        assert (done["status"], done["error"], done["artifacts"]) == (
            "cancelled",
            "cancelled by ci",
            [],
        )
        assert done["timings"]["total_seconds"] > 0
        assert not (stack.artifacts / job["id"]).exists()
        again = cancel(stack, job["id"])
        assert again.status_code == 200 and again.json()["status"] == "cancelled"
        worker_metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert 'autoglm_job_attempts_total{outcome="cancelled"} 1.0' in worker_metrics
