"""The router over named models: names, the complexity score, fallback chains, provenance."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from core.errors import ConfigError
from core.model_config import LocalModel, ModelConfig, RemoteModel
from core.settings import Settings
from documents.inputs import validate_inputs
from documents.loader import load_template_file
from documents.render import render_prompts
from generation.models import bundled_model_path
from generation.protocol import GenerationRequest, Generator, ModelUnavailableError
from generation.router import ModelRouter, complexity, router_for
from tests.fakes import EchoGenerator
from workers.pipeline import fill_template

ROOT = Path(__file__).resolve().parents[2]
REMOTE = RemoteModel(base_url="http://127.0.0.1:9/v1", model="big", fallback=["smollm2"])


class Down(EchoGenerator):
    def generate(self, request, on_progress=None):  # type: ignore[no-untyped-def]
        raise ModelUnavailableError("connection refused")


def _router(
    settings: Settings, down: frozenset[str] = frozenset()
) -> tuple[ModelRouter, list[str]]:
    made: list[str] = []

    def make(name: str, config: ModelConfig) -> Generator:
        made.append(name)
        engine = Down() if name in down else EchoGenerator()
        engine.model_name = f"{name}-file"
        return engine

    return ModelRouter(settings, make), made


def _request(**overrides: object) -> GenerationRequest:
    fields: dict[str, object] = {
        "name": "f",
        "prompt": "Write a line.",
        "max_tokens": 50,
        "temperature": 0.0,
        "seed": 1,
    }
    return GenerationRequest(**(fields | overrides))  # type: ignore[arg-type]


def test_the_score_follows_the_documented_formula() -> None:
    assert complexity(_request()) == pytest.approx(0.5 * (4 + 50) / 2000, abs=1e-3)
    assert complexity(_request(prompt="写一段话。")) >= 0.5  # non-Latin script
    assert complexity(_request(prompt="Écris une ligne.")) < 0.5  # Latin with accents
    assert complexity(_request(json_schema={"type": "array"})) >= 0.5
    assert complexity(_request(max_tokens=2000)) == 0.5
    assert complexity(_request(prompt="x" * 40_000, json_schema={}, system="中")) == 1.0


def test_fields_get_the_named_routed_or_default_model() -> None:
    settings = Settings(models={"heavy": REMOTE}, route_heavy="heavy")
    router, made = _router(settings)
    assert made == ["default"]  # the default model is loaded up front, others on first use
    named = router.generate(_request(model="heavy"))
    assert (named.served_by, named.route) == ("heavy", "named")
    routed = router.generate(_request(route="auto", prompt="用中文写一句话。"))
    assert routed.served_by == "heavy" and routed.route.startswith("routed: score 0.5")
    light = router.generate(_request(route="auto"))
    assert light.served_by == "smollm2" and "→ light" in light.route
    assert router.generate(_request()).route == "default"
    everything = Settings(route="auto")
    assert _router(everything)[0].generate(_request()).served_by == "smollm2"


def test_an_unusable_model_falls_back_along_the_chain() -> None:
    router, _ = _router(Settings(models={"heavy": REMOTE}), down=frozenset({"heavy"}))
    result = router.generate(_request(model="heavy"))  # the model's own fallback: smollm2
    assert result.served_by == "smollm2"
    assert result.route.startswith("fallback after heavy: connection refused")
    chained = router.generate(_request(model="heavy", fallback=("default",)))
    assert chained.served_by == "default"  # the field's chain wins over the model's
    lonely = Settings(models={"heavy": REMOTE.model_copy(update={"fallback": []})})
    alone, _ = _router(lonely, frozenset({"heavy"}))
    with pytest.raises(ModelUnavailableError, match="no usable model"):
        alone.generate(_request(model="heavy"))


def test_unknown_names_are_configuration_errors() -> None:
    router, _ = _router(Settings())
    with pytest.raises(ConfigError, match="names model 'glm-4-plus', which this worker"):
        router.generate(_request(model="glm-4-plus"))
    with pytest.raises(ConfigError, match="AUTOGLM_ROUTE_HEAVY: unknown model 'huge'"):
        _router(Settings(route_heavy="huge"))
    bad = {"a": LocalModel(gguf="smollm2", fallback=["nowhere"])}
    with pytest.raises(ConfigError, match=r"models\.a\.fallback: unknown model 'nowhere'"):
        _router(Settings(models=bad))


def test_provenance_records_who_answered_and_why(template) -> None:  # type: ignore[no-untyped-def]
    loaded = template(
        """
        name: t
        version: "1"
        generate:
          a: {prompt: "Say hi.", model: smollm2}
          b: {prompt: "再见。", route: auto}
          c: {prompt: "Say bye."}
        body: "{{ generated.a }} {{ generated.b }} {{ generated.c }}"
        """
    )
    router, _ = _router(Settings())
    document = fill_template(loaded, {}, lambda: router, Settings(), seed=1)
    records = {r.name: r for r in document.provenance}
    assert (records["a"].served_by, records["a"].route) == ("smollm2", "named")
    assert records["b"].served_by == "default" and records["b"].route.startswith("routed")
    assert (records["c"].served_by, records["c"].route) == ("default", "default")
    assert records["b"].as_dict()["route"] == records["b"].route


def _readme_routes() -> dict[tuple[str, str], tuple[float, str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- routing table -->", 2)[1]
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \| ([\d.]+) \| (\w+) \|$", table, re.MULTILINE)
    return {(t, f): (float(score), side) for t, f, score, side in rows}


def test_the_shipped_templates_route_as_the_readme_table_says() -> None:
    documented = _readme_routes()
    settings = Settings(route="auto")
    router, _ = _router(settings)
    seen = {}
    for name in ("api_reference", "weekly_report", "release_notes"):
        loaded = load_template_file(ROOT / "templates" / f"{name}.yaml")
        example = yaml.safe_load((ROOT / "templates/examples" / f"{name}.inputs.yaml").read_text())
        prompts = render_prompts(loaded, validate_inputs(loaded.spec, example))
        for field_name, gen in loaded.spec.generate.items():
            request = _request(
                prompt=prompts[field_name],
                system=gen.system,
                max_tokens=gen.max_tokens or 256,
                json_schema=gen.json_schema,
            )
            chosen, _ = router.choose(request)
            side = "light" if chosen == settings.route_light else "heavy"
            seen[(name, field_name)] = (complexity(request), side)
    assert seen == documented


def test_router_for_builds_real_engines_lazily() -> None:
    router = router_for(Settings(n_ctx=1024, batch_max_size=1, model="smollm2"))
    assert router.model_name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    identity = router.model_name_for(_request(model="smollm2"))  # the file, not just its name
    assert identity.startswith(str(bundled_model_path("smollm2").resolve()) + ":")
    assert router.model_name_for(_request(model="smollm2-135m-instruct")) == identity


def test_two_names_for_one_model_share_its_engine_and_are_not_tried_twice() -> None:
    settings = Settings(models={"heavy": REMOTE}, model="heavy")  # default is heavy too
    router, made = _router(settings, down=frozenset({"default"}))
    assert router.engine("heavy") is router.engine("default") and made == ["default"]
    result = router.generate(_request(model="heavy", fallback=("default", "smollm2")))
    assert result.served_by == "smollm2"  # heavy failed once; default is heavy: skipped
    assert result.route.count("connection refused") == 1
    looped = {"heavy": REMOTE.model_copy(update={"fallback": ["heavy"]})}
    with pytest.raises(ConfigError, match=r"models\.heavy\.fallback: 'heavy' is 'heavy' itself"):
        _router(Settings(models=looped))
