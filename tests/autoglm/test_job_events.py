"""`GET /jobs/{id}/events` end to end: a job run by a separate `autoglm worker` process on
PostgreSQL + Redis with the real model streams its fields' text as it is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.autoglm.test_worker import LONG
from tests.stack import Stack, distributed_stack

pytestmark = pytest.mark.model


def read_events(stack: Stack, job_id: str, timeout: float = 180) -> list[tuple[str, Any]]:
    """Every (event, data) of the stream until the server closes it."""
    events: list[tuple[str, Any]] = []
    url = f"{stack.url}/jobs/{job_id}/events"
    with httpx.stream("GET", url, headers=stack.headers, timeout=timeout) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    return events


def test_a_workers_fields_stream_token_by_token_to_the_api(tmp_path: Path) -> None:
    with distributed_stack(tmp_path, LONG, AUTOGLM_PROGRESS_INTERVAL_SECONDS="0.2") as stack:
        job = stack.submit({"template": "long", "inputs": {"topic": "lighthouses"}})
        stack.start("worker")
        events = read_events(stack, job["id"])

        statuses = [data["status"] for name, data in events if name == "job"]
        assert statuses[0] == "queued" and statuses[-1] == "succeeded"
        assert "running" in statuses
        assert events[-1] == ("end", {"status": "succeeded"})

        story = [data for name, data in events if name == "field" and data["name"] == "second"]
        growing = [d for d in story if not d["done"] and d["text"]]
        assert len(growing) >= 3, f"the story arrived in {len(growing)} pieces"
        tokens = [d["tokens"] for d in growing]
        assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)
        lengths = [len(d["text"]) for d in growing]
        assert lengths == sorted(lengths)
        final = story[-1]
        assert final["done"] and final["completion_tokens"] > tokens[-1]
        assert final["text"].startswith(growing[0]["text"].strip()[:10])
        assert final["model"].startswith("SmolLM2")

        last_job = next(data for name, data in reversed(events) if name == "job")
        assert {a["format"] for a in last_job["artifacts"]} == {"md", "docx"}
        stored = stack.job(job["id"])
        assert [r["text"] for r in stored["generation"] if r["name"] == "second"] == [final["text"]]

        again = read_events(stack, job["id"], timeout=30)  # a finished job: state, then end
        assert [name for name, _ in again] == ["job", "field", "field", "field", "end"]

        spec = httpx.get(f"{stack.url}/openapi.json").json()
        described = spec["paths"]["/jobs/{job_id}/events"]["get"]
        assert "text/event-stream" in described["responses"]["200"]["content"]
        missing = httpx.get(f"{stack.url}/jobs/{'0' * 32}/events", headers=stack.headers)
        assert missing.status_code == 404
