"""The real llama.cpp engine with the bundled SmolLM2-135M-Instruct model."""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path

import llama_cpp
import pytest

from core.settings import Settings
from generation.llama import EngineConfig, LlamaEngine, load_model
from generation.models import ModelNotFoundError, bundled_model_path, resolve_model_path
from generation.protocol import GenerationError, GenerationRequest, PromptTooLongError


def _request(**overrides: object) -> GenerationRequest:
    fields: dict[str, object] = {
        "name": "summary",
        "prompt": "Summarise in two sentences: the team shipped a login page and fixed three bugs.",
        "max_tokens": 48,
        "temperature": 0.7,
        "seed": 1234,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)  # type: ignore[arg-type]


def test_generates_text_and_records_provenance(engine: LlamaEngine) -> None:
    seen: list[int] = []
    texts: list[str] = []

    def progress(name: str, tokens: int, elapsed: float, text: str) -> None:
        seen.append(tokens)
        texts.append(text)

    result = engine.generate(_request(), progress)
    assert result.text and result.value == result.text
    assert result.model == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert engine.llm.chat_format == "chat_template.default"  # the GGUF's own chat template
    assert result.prompt_tokens > 15  # the chat template wraps the prompt in role markers
    assert 0 < result.completion_tokens <= 48
    assert result.finish_reason in ("stop", "length")
    assert result.seconds > 0 and result.seed == 1234
    assert seen[-1] >= result.completion_tokens - 1 and seen == sorted(seen)
    assert all(b.startswith(a) for a, b in pairwise(texts))
    assert result.text.startswith(texts[-1].strip())  # the text so far grows into the answer


def test_same_seed_repeats_and_other_seed_differs(engine: LlamaEngine) -> None:
    first = engine.generate(_request(temperature=1.0))
    again = engine.generate(_request(temperature=1.0))
    other = engine.generate(_request(temperature=1.0, seed=99))
    assert first.text == again.text
    assert other.text != first.text


def test_schema_field_returns_valid_json(engine: LlamaEngine) -> None:
    schema = {
        "type": "array",
        "minItems": 1,
        "maxItems": 3,
        "items": {"type": "string", "maxLength": 60},
    }
    result = engine.generate(
        _request(
            name="risks",
            prompt="List three risks of a database migration.",
            max_tokens=160,
            temperature=0.2,
            json_schema=schema,
        )
    )
    assert isinstance(result.value, list) and 1 <= len(result.value) <= 3
    assert all(isinstance(item, str) and len(item) <= 60 for item in result.value)


def test_cut_off_json_is_retried_then_refused(engine: LlamaEngine) -> None:
    schema = {"type": "array", "minItems": 3, "items": {"type": "string", "minLength": 20}}
    with pytest.raises(GenerationError, match="'risks': JSON answer cut off at max_tokens=4"):
        engine.generate(_request(name="risks", max_tokens=4, json_schema=schema))


def test_prompt_longer_than_context_is_a_clear_error() -> None:
    small = LlamaEngine.from_settings(Settings(n_ctx=256))
    with pytest.raises(PromptTooLongError, match="does not fit the 256-token context"):
        small.generate(_request(prompt="word " * 400))


def test_model_loads_once_per_process(engine: LlamaEngine) -> None:
    assert load_model(engine.config).llm is engine.llm
    again = LlamaEngine.from_settings(Settings(n_ctx=2048))
    assert again.llm is engine.llm
    assert again._lock is engine._lock  # one lock per model: a Llama is not thread-safe


def test_gpu_layers_default_follows_llama_cpp_build() -> None:
    config = EngineConfig.from_settings(Settings())
    assert config.n_gpu_layers == (-1 if llama_cpp.llama_supports_gpu_offload() else 0)
    assert EngineConfig.from_settings(Settings(n_gpu_layers=5)).n_gpu_layers == 5


def test_model_lookup(tmp_path: Path) -> None:
    assert bundled_model_path().name == "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"  # the default
    assert bundled_model_path("smollm2").name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert resolve_model_path(None) == bundled_model_path()
    assert resolve_model_path(None, "smollm2") == bundled_model_path("smollm2")
    assert resolve_model_path(None, "qwen") == bundled_model_path()
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model_path(tmp_path / "missing.gguf")
    with pytest.raises(ModelNotFoundError, match="unknown model 'glm-4-plus'"):
        resolve_model_path(None, "glm-4-plus")


def test_threads_default_to_every_usable_cpu() -> None:
    assert EngineConfig.from_settings(Settings()).n_threads == len(os.sched_getaffinity(0))
    assert EngineConfig.from_settings(Settings(n_threads=1)).n_threads == 1
