"""Several jobs at once over one process's model: their fields share the engine's batches."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.live import free_port
from tests.stack import Stack, distributed_stack, embedded_stack

pytestmark = pytest.mark.model

TWO_FIELDS = """\
name: pair
version: "1"
variables: [topic]
generate:
  headline:
    prompt: "Write a one-line headline about {{ topic }}."
    max_tokens: 24
  summary:
    prompt: "Summarise {{ topic }} in two sentences."
    max_tokens: 32
body: |
  # {{ generated.headline }}

  {{ generated.summary }}
export:
  formats: [md]
"""
JOBS = 8


def _run_eight(stack: Stack) -> int:
    """Submit eight jobs at once, check each succeeded; how many ran at the same moment."""
    submitted = [
        stack.submit({"template": "pair", "inputs": {"topic": f"topic number {n}"}})
        for n in range(JOBS)
    ]
    spans = []
    for job in submitted:
        done = stack.wait_status(job["id"], {"succeeded", "dead"}, 240)
        assert done["status"] == "succeeded", done["error"]
        assert all(record["text"].strip() for record in done["generation"])
        spans.append(
            (
                datetime.fromisoformat(done["started_at"]),
                datetime.fromisoformat(done["finished_at"]),
            )
        )
    return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)


def _batched_steps(metrics: str) -> float:
    """llama_decode steps that carried more than one sequence."""

    def sample(name: str) -> float:
        match = re.search(rf"^{re.escape(name)} (\S+)$", metrics, re.MULTILINE)
        assert match, f"{name} not in metrics"
        return float(match.group(1))

    return sample("autoglm_generation_batch_size_count") - sample(
        'autoglm_generation_batch_size_bucket{le="1.0"}'
    )


def test_eight_jobs_at_once_share_batches_in_one_worker_process(tmp_path: Path) -> None:
    port = free_port()
    with distributed_stack(tmp_path, TWO_FIELDS) as stack:
        stack.start(
            "worker", AUTOGLM_METRICS_PORT=str(port), AUTOGLM_WORKER_JOBS_PER_PROCESS=str(JOBS)
        )
        assert _run_eight(stack) > 2
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert _batched_steps(metrics) > 0
        assert 'autoglm_job_attempts_total{outcome="succeeded"} 8.0' in metrics  # one process


def test_eight_jobs_at_once_share_batches_in_embedded_serve(tmp_path: Path) -> None:
    with embedded_stack(tmp_path, TWO_FIELDS) as stack:
        assert _run_eight(stack) > 2
        assert _batched_steps(httpx.get(f"{stack.url}/metrics").text) > 0
