"""The continuous-batching engine with the real bundled model (small max_tokens: CPU time)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import pytest
from jsonschema import Draft202012Validator
from prometheus_client import REGISTRY
from pydantic import ValidationError

from core.settings import Settings
from generation.batching import BatchConfig, BatchingEngine
from generation.llama import EngineConfig, LlamaEngine
from generation.protocol import (
    GenerationRequest,
    GenerationResult,
    PromptTooLongError,
)

TOPICS = ["the sea", "a dragon", "databases", "the moon", "coffee", "trains", "cats", "rain"]
SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": 3,
    "items": {"type": "string", "maxLength": 40},
}
CONFIG = EngineConfig.from_settings(Settings(n_ctx=1024))


def _field(i: int, **overrides: object) -> GenerationRequest:
    fields: dict[str, object] = {
        "name": f"f{i}",
        "prompt": f"Write one sentence about {TOPICS[i % len(TOPICS)]}.",
        "max_tokens": (12, 20)[i % 2],
        "temperature": (0.0, 0.7, 1.0)[i % 3],
        "seed": 100 + i,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)  # type: ignore[arg-type]


def _risks() -> GenerationRequest:
    prompt = "List three risks of a database migration."
    return GenerationRequest("risks", prompt, 120, 0.2, 7, json_schema=SCHEMA)


def _same(a: GenerationResult, b: GenerationResult) -> bool:
    keys = ("text", "value", "prompt_tokens", "completion_tokens", "finish_reason", "seed")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def _alone(engine: LlamaEngine, request: GenerationRequest) -> GenerationResult:
    """`LlamaEngine`'s answer with the whole prompt evaluated. Asked the prompt of its previous
    call again, llama-cpp-python re-evaluates only the last prompt token, and a one-token
    decode rounds differently from a whole prompt's, so that answer may differ."""
    engine.llm.reset()  # type: ignore[no-untyped-call]
    return engine.generate(request)


@pytest.fixture(scope="module")
def sequential() -> LlamaEngine:
    return LlamaEngine(CONFIG)


@pytest.fixture(scope="module")
def batched() -> Iterator[BatchingEngine]:
    """Eight sequences, each with its own 1024 KV cells (texts independent of batching)."""
    engine = BatchingEngine(CONFIG, BatchConfig(max_size=8, max_wait=0.02))
    yield engine
    engine.close()


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_eight_fields_at_once_match_one_at_a_time(
    batched: BatchingEngine, sequential: LlamaEngine
) -> None:
    requests = [_field(i) for i in range(7)] + [_risks()]
    steps = _sample("autoglm_generation_batch_size_count")
    batch_sum = _sample("autoglm_generation_batch_size_sum")
    waits = _sample("autoglm_generation_queue_wait_seconds_count")
    tokens = _sample("autoglm_generation_tokens_total")
    reused = _sample("autoglm_generation_prompt_tokens_reused_total")
    progress: dict[str, list[int]] = {}
    texts: dict[str, list[str]] = {}

    def seen(name: str, tokens: int, elapsed: float, text: str) -> None:
        progress.setdefault(name, []).append(tokens)
        texts.setdefault(name, []).append(text)

    results = batched.generate_many(requests, seen)
    assert [r.name for r in results] == [r.name for r in requests]
    risks = results[-1]
    assert isinstance(risks.value, list)
    assert not list(Draft202012Validator(SCHEMA).iter_errors(risks.value))
    assert all(r.text and r.value == r.text for r in results[:-1])
    for request, result in zip(requests, results, strict=True):
        assert _same(result, _alone(sequential, request)), request.name  # exactly the same
        assert progress[request.name] == list(range(1, len(progress[request.name]) + 1))
        assert progress[request.name][-1] >= result.completion_tokens
        so_far = texts[request.name]  # each sequence's own text, growing to its answer
        assert all(b.startswith(a) for a, b in pairwise(so_far))
        assert so_far[-1].strip().startswith(result.text)
    new_steps = _sample("autoglm_generation_batch_size_count") - steps
    assert (_sample("autoglm_generation_batch_size_sum") - batch_sum) / new_steps > 2
    assert _sample("autoglm_generation_queue_wait_seconds_count") - waits >= 8
    assert _sample("autoglm_generation_tokens_total") - tokens >= sum(
        r.completion_tokens for r in results
    )
    # the chat template's system prompt was decoded once, then copied to the other fields
    assert _sample("autoglm_generation_prompt_tokens_reused_total") - reused >= 7 * 16


def test_field_cut_at_max_tokens_leaves_the_others_alone(
    batched: BatchingEngine, sequential: LlamaEngine
) -> None:
    requests = [_field(i, max_tokens=16, temperature=0.7) for i in range(4)]
    requests[1] = _field(1, max_tokens=3, temperature=0.7)
    results = batched.generate_many(requests)
    assert results[1].finish_reason == "length" and results[1].completion_tokens == 3
    for request, result in zip(requests, results, strict=True):
        assert _same(result, _alone(sequential, request))


def test_submissions_from_many_threads_all_complete(
    batched: BatchingEngine, sequential: LlamaEngine
) -> None:
    requests = [_field(i, max_tokens=8) for i in range(10)]  # more than the 8 slots
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(batched.generate, requests))
    for request, result in zip(requests, results, strict=True):
        assert _same(result, _alone(sequential, request))


def test_batch_size_one_equals_llama_engine(sequential: LlamaEngine) -> None:
    engine = BatchingEngine(CONFIG, BatchConfig(max_size=1, max_wait=0.0))
    long_prompt = "Summarise: " + "all tests pass on the build. " * 75  # two 512-token chunks
    try:
        for request in [
            _field(0),
            _field(1),
            _field(2, max_tokens=24),
            _risks(),
            _field(3, prompt=long_prompt, max_tokens=2),
        ]:
            result = engine.generate(request)
            assert _same(result, _alone(sequential, request)), request.name
        assert result.prompt_tokens > 512
    finally:
        engine.close()


def test_prompt_that_does_not_fit_now_waits_for_room() -> None:
    """A unified 512-cell cache: two long prompts cannot both be in it, so one waits."""
    config = EngineConfig.from_settings(Settings(n_ctx=512))
    engine = BatchingEngine(
        config, BatchConfig(max_size=2, max_wait=0.05, kv_size=512, unified=True)
    )
    try:
        assert engine.kv_cells == 512
        long_prompt = "Summarise these notes: " + "the build is green and the team is happy. " * 28
        requests = [_field(i, prompt=long_prompt, max_tokens=8) for i in range(2)]
        order: list[str] = []
        results = engine.generate_many(requests, lambda name, n, elapsed, text: order.append(name))
        assert all(r.prompt_tokens > 256 and r.text for r in results)
        first = order[0]
        assert order == sorted(order, key=lambda name: name != first)  # no interleaving
        lone = _alone(LlamaEngine(config), requests[1])
        assert _same(results[1], lone)  # it ran alone, so exactly as LlamaEngine
        with pytest.raises(PromptTooLongError, match="'f0': prompt does not fit the 512-token"):
            engine.generate(_field(0, prompt="word " * 600))
    finally:
        engine.close()


INSTRUCTIONS = (
    "You write the weekly report of the platform team. Use plain words, short sentences and "
    "no lists. Never invent numbers; say so when something is unknown. "
)


def test_a_field_after_its_look_alike_ended_starts_from_the_pooled_prompt(
    sequential: LlamaEngine,
) -> None:
    engine = BatchingEngine(CONFIG, BatchConfig(max_size=2, max_wait=0.0, prefix_pool=2))
    try:
        first = _field(0, prompt=INSTRUCTIONS + "Summarise the login work.", max_tokens=8)
        second = _field(1, prompt=INSTRUCTIONS + "Describe the database risks.", max_tokens=8)
        engine.generate(first)  # ends before the second starts: only the pool has its prompt
        reused = _sample("autoglm_generation_prompt_tokens_reused_total")
        hits = _sample("autoglm_generation_prefix_pool_hits_total")
        result = engine.generate(second)
        assert _sample("autoglm_generation_prefix_pool_hits_total") - hits == 1
        assert _sample("autoglm_generation_prompt_tokens_reused_total") - reused > 40
        assert _same(result, _alone(sequential, second))  # the copy changes nothing
    finally:
        engine.close()


def test_pooled_prompts_give_their_cells_back_to_a_field_that_needs_them() -> None:
    """A unified 512-cell cache: the first field's pooled prompt must go for the second."""
    config = EngineConfig.from_settings(Settings(n_ctx=512))
    engine = BatchingEngine(
        config, BatchConfig(max_size=1, max_wait=0.0, kv_size=512, unified=True, prefix_pool=2)
    )
    try:
        notes = "the build is green and the team is happy. " * 28
        engine.generate(_field(0, prompt="Summarise these notes: " + notes, max_tokens=4))
        assert engine._step.pool.cells > 256
        result = engine.generate(_field(1, prompt="Shorten these notes: " + notes, max_tokens=4))
        assert result.text and result.prompt_tokens > 256
    finally:
        engine.close()


def test_idle_engine_lets_the_first_field_wait_for_company() -> None:
    engine = BatchingEngine(CONFIG, BatchConfig(max_size=4, max_wait=0.6))
    events: list[tuple[str, float]] = []

    def note(name: str, tokens: int, elapsed: float, text: str) -> None:
        events.append((name, time.perf_counter()))

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            first = pool.submit(engine.generate, _field(0, max_tokens=12), note)
            time.sleep(0.2)
            second_submitted = time.perf_counter()
            second = pool.submit(engine.generate, _field(1, max_tokens=12), note)
            first.result(), second.result()
        starts = {name: next(t for n, t in events if n == name) for name in ("f0", "f1")}
        assert starts["f0"] > second_submitted  # the first waited for the second ...
        names = [name for name, _ in events]
        last_f0 = max(i for i, name in enumerate(names) if name == "f0")
        assert names.index("f1") < last_f0  # ... and they ran together
        waited = _sample("autoglm_generation_queue_wait_seconds_sum")
        engine.generate(_field(2, max_tokens=1))  # alone: it waits max_wait, no longer
        waited = _sample("autoglm_generation_queue_wait_seconds_sum") - waited
        assert 0.55 < waited < 1.2
    finally:
        engine.close()


def test_the_one_at_a_time_engine_tells_the_text_so_far(sequential: LlamaEngine) -> None:
    """`LlamaEngine` reads it from its logits processor, which runs before each sampling, so
    its text is one token behind and starts empty, even when the prompt was cached."""
    request = _field(3, max_tokens=24)
    for _ in range(2):  # the second time, llama-cpp-python finds the prompt in its cache
        texts: list[str] = []
        result = sequential.generate(request, lambda n, t, e, text, seen=texts: seen.append(text))
        assert texts[0] == "" and len(texts) >= result.completion_tokens
        assert all(b.startswith(a) for a, b in pairwise(texts))
        assert texts[-1].strip() and result.text.startswith(texts[-1].strip())


def test_progress_error_stops_the_field_and_is_raised(batched: BatchingEngine) -> None:
    class Stop(Exception):
        pass

    def stop_at_three(name: str, tokens: int, elapsed: float, text: str) -> None:
        if name == "f1" and tokens == 3:
            raise Stop("deadline")

    with pytest.raises(Stop, match="deadline"):
        batched.generate_many([_field(0, max_tokens=64), _field(1, max_tokens=64)], stop_at_three)
    assert batched.generate(_field(2, max_tokens=4)).completion_tokens <= 4  # still working


def test_from_settings_picks_the_engine() -> None:
    plain = LlamaEngine.from_settings(Settings(n_ctx=1024, batch_max_size=1))
    assert type(plain) is LlamaEngine
    engine = LlamaEngine.from_settings(Settings(n_ctx=1024, batch_max_size=4))
    assert isinstance(engine, BatchingEngine) and engine.llm is plain.llm  # one model
    assert LlamaEngine.from_settings(Settings(n_ctx=1024, batch_max_size=4)) is engine
    assert engine.batch == BatchConfig(4, 0.05, 0, unified=False, prefix_pool=4)
    assert engine.kv_cells == 1024 * (4 + 4)  # a stream per field and per pooled prompt
    unified = BatchConfig.from_settings(Settings(n_ctx=2048))  # 36 × 2048 > 16384 cells
    assert unified == BatchConfig(32, 0.05, 16384, unified=True, prefix_pool=4)
    engine.close()


def test_batch_settings_are_validated() -> None:
    with pytest.raises(ValidationError, match="batch_max_size"):
        Settings(batch_max_size=0)
    with pytest.raises(ValidationError, match="batch_max_wait_ms"):
        Settings(batch_max_wait_ms=-1)
