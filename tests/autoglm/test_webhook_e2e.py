"""A signed webhook delivery becomes a document, on the embedded default with the real model."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.jobs_support import REPORT
from tests.readers import markdown_headings
from tests.stack import embedded_stack
from triggers.webhooks import sign


@pytest.mark.model
def test_a_signed_delivery_makes_a_document(tmp_path: Path) -> None:
    with embedded_stack(tmp_path, REPORT) as stack:
        created = httpx.post(
            f"{stack.url}/webhooks",
            json={
                "name": "release",
                "template": "weekly",
                "inputs": {"team": "$.repository.name", "count": "$.commits.1.n"},
                "formats": ["md"],
            },
            headers=stack.headers,
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        payload = {"repository": {"name": "Hooked Repo"}, "commits": [{"n": 1}, {"n": 42}]}
        body = json.dumps(payload).encode()
        delivery = httpx.post(
            f"{stack.url}/hooks/release",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(secret, body),
                "X-GitHub-Delivery": "e2e-1",
            },
            timeout=30,
        )
        assert delivery.status_code == 202, delivery.text
        job_id = delivery.json()["id"]
        done = stack.wait_status(job_id, {"succeeded", "dead"}, 120)
        assert done["status"] == "succeeded", done["error"]
        assert done["generation"][0]["model"].startswith("SmolLM2")
        markdown = stack.download(job_id, "md").content.decode("utf-8")
        assert (1, "Weekly report: Hooked Repo") in markdown_headings(markdown)
        assert "Count: 42" in markdown
