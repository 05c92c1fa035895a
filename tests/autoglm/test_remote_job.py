"""A job whose fields name a remote model, end to end: `autoglm serve` on embedded defaults
with `AUTOGLM_MODELS` pointing at llama-cpp-python's OpenAI-compatible server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.remote_server import llama_server
from tests.stack import embedded_stack

pytestmark = pytest.mark.model

TEMPLATE = """\
name: remote-job
version: "1"
generate:
  note:
    prompt: "Write one sentence about lakes."
    max_tokens: 24
    model: remote
  pick:
    prompt: "Pick the colour of a lake."
    max_tokens: 24
    model: remote
    schema: {type: object, properties: {colour: {enum: [blue, green]}}, required: [colour]}
body: |
  # Lakes

  {{ generated.note }} ({{ generated.pick.colour }})
export:
  formats: [md]
"""


def test_a_job_whose_fields_use_a_remote_model_succeeds(tmp_path: Path) -> None:
    with llama_server(tmp_path / "server.log") as server:
        models = {"remote": {"base_url": server.base_url, "model": "smollm2"}}
        with embedded_stack(tmp_path, TEMPLATE, AUTOGLM_MODELS=json.dumps(models)) as stack:
            job = stack.submit({"template": "remote-job", "inputs": {}})
            done = stack.wait_status(job["id"], {"succeeded", "dead"}, 120)
            assert done["status"] == "succeeded", done["error"]
            records = {r["name"]: r for r in done["generation"]}
            assert {r["served_by"] for r in records.values()} == {"remote"}
            assert all(r["model"].startswith("smollm2@127.0.0.1") for r in records.values())
            assert json.loads(records["pick"]["text"])["colour"] in {"blue", "green"}
            markdown = stack.download(job["id"], "md").text
            assert records["note"]["text"].split()[0] in markdown
            ready = httpx.get(f"{stack.url}/readyz").json()
            assert ready["models"] == {"default": "usable", "remote": "usable"}
