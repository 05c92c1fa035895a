"""The llama.cpp engine: one model per process, chat template applied, JSON fields constrained."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp

from core.cpus import usable_cpus
from core.settings import Settings
from generation import metrics
from generation.answers import Attempt, generate_checked, prompt_too_long
from generation.chat import chat_messages
from generation.models import resolve_model_path
from generation.protocol import GenerationRequest, GenerationResult, ProgressCallback

_LOAD_LOCK = threading.Lock()
_LOADED: dict[tuple[Any, ...], LoadedModel] = {}


@dataclass(frozen=True)
class EngineConfig:
    """What determines a loaded model; equal configs share one `Llama` in a process."""

    model_path: Path
    n_gpu_layers: int
    n_ctx: int
    n_threads: int

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineConfig:
        layers = settings.n_gpu_layers
        if layers is None:
            layers = -1 if llama_cpp.llama_supports_gpu_offload() else 0
        # llama-cpp-python's own default is half the CPU count, which on 2 cores means 1
        # thread; measured here, 2 threads generate 1.23x faster than 1.
        threads = settings.n_threads or usable_cpus()
        model = resolve_model_path(settings.model_path, settings.model)
        return cls(model, layers, settings.n_ctx, threads)


@dataclass(frozen=True)
class LoadedModel:
    """A `Llama` and the lock that serialises its use: it is not thread-safe, and every engine
    built with the same config shares it."""

    llm: llama_cpp.Llama
    lock: threading.Lock


def load_model(config: EngineConfig) -> LoadedModel:
    """Load (once per process and config) and return the model with its lock."""
    key = (config.model_path.resolve(), config.n_gpu_layers, config.n_ctx, config.n_threads)
    with _LOAD_LOCK:
        if key not in _LOADED:
            llm = llama_cpp.Llama(
                model_path=str(config.model_path),
                n_gpu_layers=config.n_gpu_layers,
                n_ctx=config.n_ctx,
                n_threads=config.n_threads,
                verbose=False,
            )
            _LOADED[key] = LoadedModel(llm, threading.Lock())
        return _LOADED[key]


class LlamaEngine:
    """Writes fields with a local GGUF model. Calls are serialised: a `Llama` is not thread-safe."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        loaded = load_model(config)
        self.llm, self._lock = loaded.llm, loaded.lock

    @classmethod
    def from_settings(cls, settings: Settings) -> LlamaEngine:
        """The engine the settings ask for: with ``batch_max_size`` > 1 the process's batching
        engine for this model, else one that writes fields one at a time."""
        config = EngineConfig.from_settings(settings)
        if settings.batch_max_size > 1:
            from generation.batching import BatchConfig, batching_engine  # noqa: PLC0415

            return batching_engine(config, BatchConfig.from_settings(settings))
        return cls(config)

    @property
    def model_name(self) -> str:
        return self.config.model_path.name

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        """Generate one field, retrying once (next seed) on an empty answer or, for JSON fields,
        a cut-off or invalid one. Prose cut off at ``max_tokens`` is kept: its finish reason
        ("length") is recorded."""
        return self.generate_many([request], on_progress)[0]

    def generate_many(
        self, requests: Sequence[GenerationRequest], on_progress: ProgressCallback | None = None
    ) -> list[GenerationResult]:
        """Several fields, one after another here (the batching engine runs them together);
        results in request order."""
        return generate_checked(
            requests, lambda attempts: [self._attempt(a, on_progress) for a in attempts]
        )

    def _attempt(self, attempt: Attempt, on_progress: ProgressCallback | None) -> GenerationResult:
        with self._lock:
            return self._complete(attempt, on_progress)

    def _complete(self, attempt: Attempt, on_progress: ProgressCallback | None) -> GenerationResult:
        request, seed = attempt.request, attempt.seed
        started = time.perf_counter()
        counter = _TokenCounter(request.name, started, on_progress, self.llm.detokenize)
        try:
            response: Any = self.llm.create_chat_completion(
                messages=chat_messages(request),  # type: ignore[arg-type]
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                seed=seed,
                logits_processor=llama_cpp.LogitsProcessorList([counter]),
                grammar=attempt.grammar,
            )
        except ValueError as exc:
            if "context window" in str(exc):
                raise prompt_too_long(request, self.config.n_ctx) from None
            raise
        choice = response["choices"][0]
        text = (choice["message"]["content"] or "").strip()
        usage = response["usage"]
        metrics.TOKENS.inc(usage["completion_tokens"])
        return GenerationResult(
            name=request.name,
            text=text,
            value=text,
            model=self.model_name,
            seed=seed,
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            seconds=time.perf_counter() - started,
            finish_reason=choice.get("finish_reason") or "stop",
            attempts=attempt.number,
        )


class _TokenCounter:
    """A logits processor that changes nothing: llama.cpp calls it once per token, so it counts,
    and it sees the tokens sampled so far (after the prompt), so it tells their text too."""

    def __init__(
        self,
        name: str,
        started: float,
        on_progress: ProgressCallback | None,
        detokenize: Callable[[list[int]], bytes],
    ) -> None:
        self.name, self.started, self.on_progress, self.tokens = name, started, on_progress, 0
        self.detokenize = detokenize

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.tokens += 1
        if self.on_progress is not None:
            # Before the k-th sampling the last k-1 ids are this completion's (counted from
            # the end: where the prompt starts depends on llama-cpp-python's prompt cache).
            sampled = self.detokenize(list(input_ids[len(input_ids) - self.tokens + 1 :]))
            text = sampled.decode("utf-8", errors="ignore")
            self.on_progress(self.name, self.tokens, time.perf_counter() - self.started, text)
        return scores
