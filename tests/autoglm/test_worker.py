"""`autoglm worker` end to end: real PostgreSQL, Redis, Celery worker processes, real model."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.autoglm.run import autoglm
from tests.jobs_support import REPORT, STATIC
from tests.live import free_port
from tests.readers import markdown_headings, open_docx, pdf_text, squash
from tests.stack import AMQP_URL, distributed_stack

pytestmark = pytest.mark.model

LONG = """\
name: long
version: "1"
variables: [topic]
generate:
  first:
    prompt: "Write a long essay about {{ topic }}."
    max_tokens: 150
    temperature: 0.8
  second:
    prompt: "Write a long story about {{ topic }}."
    max_tokens: 150
    temperature: 0.8
  third:
    prompt: "Write a long poem about {{ topic }}."
    max_tokens: 150
    temperature: 0.8
export:
  formats: [md, docx]
"""


def test_a_job_over_http_is_run_by_a_worker_with_the_real_model(tmp_path: Path) -> None:
    metrics_port = free_port()
    with distributed_stack(tmp_path, REPORT) as stack:
        stack.start("worker", AUTOGLM_METRICS_PORT=str(metrics_port))
        job = stack.submit(
            {"template": "weekly", "inputs": {"team": "Платформа"}}, **{"X-Trace-Id": "ci-run-77"}
        )
        done = stack.wait_status(job["id"], {"succeeded", "dead"}, 120)
        assert done["status"] == "succeeded", done["error"]
        assert done["attempts"] == 1
        record = done["generation"][0]
        assert record["model"].startswith("SmolLM2") and record["completion_tokens"] > 0
        summary = record["text"].strip()
        assert summary

        pdf = stack.download(job["id"], "pdf")
        assert pdf.headers["content-type"] == "application/pdf"
        assert "Weeklyreport:Платформа" in squash(pdf_text(pdf.content, tmp_path))
        word = stack.download(job["id"], "docx")
        assert "Weekly report: Платформа" in [p.text for p in open_docx(word.content).paragraphs]
        markdown = stack.download(job["id"], "md").content.decode("utf-8")
        assert (1, "Weekly report: Платформа") in markdown_headings(markdown)
        assert summary.splitlines()[0].strip() in markdown

        every_event = [line["event"] for line in stack.log_lines(1)]
        loaded = every_event.index("worker process ready; model loaded")
        assert loaded < every_event.index("job started")  # loaded at start, not per job
        worker_lines = [line for line in stack.log_lines(1) if line.get("job_id") == job["id"]]
        events = [line["event"] for line in worker_lines]
        assert "job started" in events and "job succeeded" in events
        assert {line["trace_id"] for line in worker_lines} == {"ci-run-77"}
        worker_metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert 'autoglm_job_attempts_total{outcome="succeeded"} 1.0' in worker_metrics
        tokens = (
            f'autoglm_tokens_generated_total{{template="weekly"}} {record["completion_tokens"]}.0'
        )
        assert tokens in worker_metrics
        api_lines = [line for line in stack.log_lines(0) if line.get("job_id") == job["id"]]
        assert [line["trace_id"] for line in api_lines] == ["ci-run-77"]  # "job queued"


def test_a_job_survives_its_worker_being_killed(tmp_path: Path) -> None:
    fast = {
        "AUTOGLM_JOB_LEASE_SECONDS": "2",
        "AUTOGLM_RESEND_AFTER_SECONDS": "1",
        "AUTOGLM_SWEEP_INTERVAL_SECONDS": "0.5",
    }
    with distributed_stack(tmp_path, LONG, **fast) as stack:
        worker = stack.start("worker")
        stack.start("scheduler")
        job = stack.submit({"template": "long", "inputs": {"topic": "rivers"}})
        stack.wait_status(job["id"], {"running"}, 60)
        time.sleep(1.5)  # well into the first field's generation
        assert stack.job(job["id"])["status"] == "running"
        stack.kill(worker)
        stack.start("worker")
        done = stack.wait_status(job["id"], {"succeeded", "dead"}, 180)
        assert done["status"] == "succeeded", done["error"]
        assert done["attempts"] == 2
        assert sorted(a["format"] for a in done["artifacts"]) == ["docx", "md"]
        folder = stack.artifacts / job["id"]
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        assert files == ["2/long-1.docx", "2/long-1.md"]  # one set, from attempt 2, no leftovers


def test_rabbitmq_works_as_the_broker_too(tmp_path: Path) -> None:
    with distributed_stack(tmp_path, STATIC, broker=AMQP_URL) as stack:
        stack.start("worker")
        job = stack.submit({"template": "static", "inputs": {"team": "rabbits"}})
        done = stack.wait_status(job["id"], {"succeeded", "dead"}, 90)
        assert done["status"] == "succeeded", done["error"]
        markdown = stack.download(job["id"], "md").content.decode("utf-8")
        assert (1, "Static report for rabbits") in markdown_headings(markdown)
        assert httpx.get(f"{stack.url}/readyz").json()["checks"]["queue"] == "ok"


@pytest.mark.parametrize("command", ["worker", "scheduler", "bridge"])
def test_commands_that_need_a_broker_explain_themselves(command: str) -> None:
    result = autoglm(command, env={"AUTOGLM_BROKER_URL": ""})
    assert result.returncode == 2
    assert "AUTOGLM_BROKER_URL is not set" in result.stderr
