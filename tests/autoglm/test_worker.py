"""`autoglm worker` end to end: real PostgreSQL, Redis, Celery worker processes, real model."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.autoglm.run import autoglm
from tests.jobs_support import REPORT, STATIC
from tests.live import free_port
from tests.readers import markdown_headings, open_docx, pdf_text, squash
from tests.stack import AMQP_URL, Stack, distributed_stack, wait_for

pytestmark = pytest.mark.model

LONG = """\
name: long
version: "1"
variables: [topic]
generate:
  first:
    prompt: "Give {{ topic }} a title."
    max_tokens: 4
    temperature: 0.8
  second:
    prompt: "Write a long story about {{ topic }}."
    max_tokens: 250
    temperature: 0.8
  third:
    prompt: "Write a long poem about {{ topic }}."
    max_tokens: 250
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


def test_a_job_survives_its_worker_being_killed_and_keeps_its_written_fields(
    tmp_path: Path,
) -> None:
    fast = {
        "AUTOGLM_JOB_LEASE_SECONDS": "2",
        "AUTOGLM_RESEND_AFTER_SECONDS": "1",
        "AUTOGLM_SWEEP_INTERVAL_SECONDS": "0.5",
    }
    with distributed_stack(tmp_path, LONG, **fast) as stack:
        worker = stack.start("worker")
        stack.start("scheduler")
        job = stack.submit({"template": "long", "inputs": {"topic": "rivers"}})
        # The short field is written (and checkpointed) while the long ones are still going.
        running = wait_for(
            lambda: (j := stack.job(job["id"]))["status"] == "running" and j["generation"] and j,
            60,
            "the first field's checkpoint",
        )
        assert [r["name"] for r in running["generation"]] == ["first"]
        first = running["generation"][0]
        stack.kill(worker)
        metrics_port = free_port()
        stack.start("worker", AUTOGLM_METRICS_PORT=str(metrics_port))
        done = stack.wait_status(job["id"], {"succeeded", "dead"}, 180)
        assert done["status"] == "succeeded", done["error"]
        assert done["attempts"] == 2
        records = {r["name"]: r for r in done["generation"]}
        assert records["first"]["reused"] and records["first"]["text"] == first["text"]
        assert not records["second"]["reused"] and not records["third"]["reused"]
        # The second worker generated only the two missing fields.
        regenerated = records["second"]["completion_tokens"] + records["third"]["completion_tokens"]
        worker_metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert (
            f'autoglm_tokens_generated_total{{template="long"}} {regenerated}.0' in worker_metrics
        )
        assert sorted(a["format"] for a in done["artifacts"]) == ["docx", "md"]
        folder = stack.artifacts / job["id"]
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        assert files == ["2/long-1.docx", "2/long-1.md"]  # one set, from attempt 2, no leftovers


def test_a_worker_with_two_processes_restarts_one_that_dies(tmp_path: Path) -> None:
    base = free_port()
    with distributed_stack(tmp_path, REPORT) as stack:
        stack.start("worker", "--concurrency", "2", AUTOGLM_METRICS_PORT=str(base))

        def ready() -> list[int]:
            pids = [
                line["pid"]
                for line in stack.log_lines(1)
                if line["event"] == "worker process ready; model loaded"
            ]
            return pids if len(pids) >= 2 else []

        first, second = wait_for(ready, 60, "two worker processes")[:2]
        for port in (base, base + 1):  # process i serves its metrics on the base port + i
            assert (
                "autoglm_job_attempts_total" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
            )
        os.kill(first, signal.SIGKILL)
        pids = wait_for(lambda: len(ready()) >= 3 and ready(), 60, "the process to restart")
        assert pids[2] not in (first, second)
        job = stack.submit({"template": "weekly", "inputs": {"team": "two"}})
        done = stack.wait_status(job["id"], {"succeeded", "dead"}, 120)
        assert done["status"] == "succeeded", done["error"]


def test_a_reload_finishes_running_jobs_on_the_old_processes(tmp_path: Path) -> None:
    longer = LONG.replace("max_tokens: 250", "max_tokens: 400")
    with distributed_stack(tmp_path, longer) as stack:
        worker = stack.start("worker")
        job = stack.submit({"template": "long", "inputs": {"topic": "lakes"}})
        stack.wait_status(job["id"], {"running"}, 60)
        os.kill(worker.pid, signal.SIGHUP)  # the parent: a rolling restart
        ready = [
            line["pid"]
            for line in wait_for(
                lambda: len(_ready(stack)) >= 2 and _ready(stack), 60, "the new process"
            )
        ]
        done = stack.wait_status(job["id"], {"succeeded", "dead"}, 180)
        assert done["status"] == "succeeded", done["error"]
        assert done["attempts"] == 1  # finished where it started: nothing lost or rerun
        after = stack.submit({"template": "long", "inputs": {"topic": "seas"}})
        assert stack.wait_status(after["id"], {"succeeded", "dead"}, 180)["status"] == "succeeded"
        ran = {line["job_id"]: line["pid"] for line in _lines(stack, "job succeeded")}
        assert (ran[job["id"]], ran[after["id"]]) == (ready[0], ready[1])
        log = stack.logs[1].read_text(encoding="utf-8")
        finished = next(x for x in log.splitlines() if '"job succeeded"' in x and job["id"] in x)
        assert log.index("Warm shutdown") < log.index(finished)  # told to stop while running


def test_a_reload_with_a_bad_file_keeps_the_old_processes(tmp_path: Path) -> None:
    deployment = tmp_path / "deployment.yaml"
    deployment.write_text("model: smollm2\n")
    with distributed_stack(tmp_path, REPORT) as stack:
        worker = stack.start("worker", "--config", str(deployment))
        wait_for(lambda: _ready(stack), 60, "the worker process")
        deployment.write_text("model: glm-4-plus\n")  # a typo, then a reload
        os.kill(worker.pid, signal.SIGHUP)
        wait_for(
            lambda: "reload failed" in stack.logs[1].read_text(),
            60,
            "the failed reload",
        )
        job = stack.submit({"template": "weekly", "inputs": {"team": "steady"}})
        done = stack.wait_status(job["id"], {"succeeded", "dead"}, 120)
        assert done["status"] == "succeeded", done["error"]
        assert worker.poll() is None and len(_ready(stack)) == 1  # the same, only process


def _lines(stack: Stack, event: str) -> list[dict[str, Any]]:
    return [line for line in stack.log_lines(1) if line["event"] == event]


def _ready(stack: Stack) -> list[dict[str, Any]]:
    return _lines(stack, "worker process ready; model loaded")


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
