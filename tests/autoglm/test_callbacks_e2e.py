"""A completion callback end to end: `autoglm serve` on embedded defaults runs a real job with
the bundled model, and its callback reaches a receiver on loopback, signed; the API and the
console's job page show the attempt."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.jobs_support import REPORT
from tests.receiver import receiver
from tests.stack import Stack, embedded_stack, wait_for

SECRET = "whsec_" + base64.b64encode(b"end-to-end-callback-key-32-bytes").decode()


def console_page(stack: Stack, path: str) -> str:
    """A console page as a signed-in browser would get it (the sign-in form's CSRF included)."""
    with httpx.Client(base_url=stack.url, timeout=30) as browser:
        form = browser.get("/console/sign-in").text
        found = re.search(r'name="csrf" value="([^"]+)"', form)
        assert found is not None, form
        signed_in = browser.post(
            "/console/sign-in", data={"csrf": found.group(1), "token": stack.token, "next": path}
        )
        assert signed_in.status_code == 303, signed_in.text
        page = browser.get(path)
        assert page.status_code == 200, page.text
        return page.text


@pytest.mark.model
def test_a_real_job_calls_back_signed_with_its_artifacts(tmp_path: Path) -> None:
    with (
        receiver([(500, {})]) as got,
        embedded_stack(
            tmp_path,
            REPORT,
            AUTOGLM_CALLBACK_SECRET=SECRET,
            AUTOGLM_CALLBACK_ALLOW_NETWORKS=json.dumps(["127.0.0.0/8"]),
        ) as stack,
    ):
        url = f"{got.url}/jobs-done?source=autoglm"
        job = stack.submit({"template": "weekly", "inputs": {"team": "Ops"}, "callback_url": url})
        assert (job["callback_url"], job["callback_state"]) == (url, "pending")
        first, second = got.wait(2, timeout=240)
        done = stack.wait_status(job["id"], {"succeeded", "dead"}, 30)
        assert done["status"] == "succeeded", done["error"]
        event = Webhook(SECRET).verify(second.body, second.headers)
        assert Webhook(SECRET).verify(first.body, first.headers) == event
        assert first.headers["webhook-id"] == second.headers["webhook-id"] == f"job_{job['id']}"
        assert second.path == "/jobs-done?source=autoglm"
        assert (event["job_id"], event["status"], event["error"]) == (job["id"], "succeeded", None)
        assert {a["format"] for a in event["artifacts"]} == {"pdf", "docx", "md"}
        for artifact in event["artifacts"]:
            assert artifact["url"] == f"/jobs/{job['id']}/artifacts/{artifact['format']}"
            assert stack.download(job["id"], artifact["format"]).content
        seen = wait_for(  # the receiver answered; the record follows
            lambda: (j := stack.job(job["id"]))["callback_state"] == "delivered" and j,
            10,
            "the delivery to be recorded",
        )
        assert [(c["attempt"], c["outcome"], c["status_code"]) for c in seen["callbacks"]] == [
            (1, "failed", 500),
            (2, "delivered", 200),
        ]
        page = console_page(stack, f"/console/jobs/{job['id']}")
        assert "Completion callback" in page and url.replace("&", "&amp;") in page
        assert re.search(r"data-callback-state>\s*delivered", page)
        assert page.count("data-callback-attempt") == 2 and "HTTP 500" in page
        metrics = httpx.get(f"{stack.url}/metrics").text
        assert 'autoglm_callback_attempts_total{outcome="delivered"} 1.0' in metrics
        assert 'autoglm_callback_attempts_total{outcome="failed"} 1.0' in metrics
        assert "autoglm_callback_seconds_count 2.0" in metrics
