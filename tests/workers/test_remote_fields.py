"""Fields written by a remote OpenAI-compatible server (llama-cpp-python's own, on loopback),
falling back to the local model while it is down, back on it once it returns."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.model_config import RemoteModel
from core.settings import Settings
from documents.loader import LoadedTemplate, load_template_text
from generation.protocol import GenerationRequest
from generation.router import ModelRouter, probe_models, router_for, status_of
from tests.remote_server import LlamaServer
from workers.pipeline import fill_template

pytestmark = pytest.mark.model

TEMPLATE = """\
name: remote
version: "1"
generate:
  note:
    prompt: "Write one sentence about rivers."
    max_tokens: 24
    model: remote
    cache: false
  tags:
    prompt: "Pick the colour of a river."
    max_tokens: 24
    model: remote
    cache: false
    schema: {type: object, properties: {colour: {enum: [blue, green, brown]}}, required: [colour]}
body: "{{ generated.note }} {{ generated.tags.colour }}"
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LlamaServer]:
    server = LlamaServer(tmp_path / "server.log")
    server.start()
    yield server
    server.kill()


def _settings(server: LlamaServer) -> Settings:
    remote = RemoteModel(
        base_url=server.base_url,
        model="smollm2",
        max_retries=0,
        breaker_failures=2,
        breaker_open_seconds=60.0,
        fallback=["default"],
    )
    return Settings(models={"remote": remote}, n_ctx=1024)


def _fill(loaded: LoadedTemplate, router: ModelRouter, settings: Settings) -> dict[str, str]:
    progress: list[str] = []
    document = fill_template(
        loaded,
        {},
        lambda: router,
        settings,
        seed=3,
        on_progress=lambda n, t, e, text: progress.append(n),
    )
    assert {"note", "tags"} <= set(progress)  # streamed progress from either side
    return {r.name: f"{r.served_by}|{r.route}" for r in document.provenance}


def test_remote_fields_fall_back_while_the_server_is_down(server: LlamaServer) -> None:
    settings = _settings(server)
    router = router_for(settings)
    loaded = load_template_text(TEMPLATE, "remote.yaml")
    assert _fill(loaded, router, settings) == {"note": "remote|named", "tags": "remote|named"}

    server.kill()
    served = _fill(loaded, router, settings)
    assert all(v.startswith("default|fallback after remote:") for v in served.values()), served
    breaker = router.engine("remote").breaker  # type: ignore[attr-defined]
    assert breaker.state == "open"  # two failures in a row
    assert "circuit" in _fill(loaded, router, settings)["note"]  # failing fast now

    server.start()
    breaker.open_seconds = 0.2  # end the open period now rather than in a minute
    time.sleep(0.3)
    probed = _fill(loaded, router, settings)  # one field is the probe, the other falls back
    assert "remote|named" in probed.values(), probed
    assert breaker.state == "closed"
    assert _fill(loaded, router, settings) == {"note": "remote|named", "tags": "remote|named"}


def test_readiness_lists_which_models_are_usable(server: LlamaServer) -> None:
    settings = _settings(server)
    assert probe_models(settings) == {
        "default": "local (loaded by the workers)",
        "remote": "usable",
    }
    router = router_for(settings)
    assert status_of(router) == {"default": "usable", "remote": "not loaded"}
    router.generate(GenerationRequest("f", "Say hi.", 4, 0.0, 1, model="remote"))
    assert status_of(router)["remote"] == "usable"
    server.kill()
    assert probe_models(settings)["remote"] == "unreachable: ConnectError"
