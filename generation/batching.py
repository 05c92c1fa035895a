"""Continuous batching: one `llama_context` per loaded model, many sequences in it at once.

Any thread submits fields and waits; one loop thread owns the context. A field joins the
running batch as soon as a sequence slot and room in the KV cache are free, is sampled with its
own sampler chain (seed, temperature, grammar) on every step, and leaves (its KV cells freed)
when it stops or reaches its ``max_tokens``. Everything a field sees (prompt tokens, sampling,
stop rules, retry and validation) is what `LlamaEngine` does one field at a time.

KV cache, two ways. Per sequence, when ``n_ctx × max_size`` cells fit the configured size:
every sequence has its own ``n_ctx`` cells and llama.cpp computes attention per sequence. With
SmolLM2 (Q4_1) a field's text is then exactly what `LlamaEngine` writes for it, whatever it is
batched with; with Qwen2.5 (Q4_K_M) it is not always: ggml's matrix kernels for a step of
several rows round differently from one row's on that quantization, so a batched field is
another sample from the same model, not a different model's (measured: 4 of 8 fields equal).
A field that runs alone still matches `LlamaEngine` exactly (a test checks batch size 1).
Unified, when they do not: one pool that all sequences share, each taking what its prompt and
``max_tokens`` need (a field waits while they are taken); llama.cpp then computes attention
for all of a step's sequences in one matrix product, whose rounding differs from a lone
sequence's, so a batched field's text may differ slightly from the same field written alone
(a field running alone still matches exactly).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import llama_cpp

from core.settings import Settings
from generation.answers import Attempt, generate_checked
from generation.chat import plan_chat_completion
from generation.llama import EngineConfig, LlamaEngine
from generation.protocol import (
    GenerationError,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
)
from generation.sequences import Job, JobGroup, Step

_ENGINES_LOCK = threading.Lock()
_ENGINES: dict[tuple[EngineConfig, BatchConfig], BatchingEngine] = {}
_OPEN: set[BatchingEngine] = set()  # closed at exit, before the models they use are freed


@dataclass(frozen=True)
class BatchConfig:
    """How many sequences run at once, how long an idle loop waits for company, KV cells."""

    max_size: int
    max_wait: float  # seconds
    kv_size: int = 0  # unified: the cells all sequences share (n_ctx at least)
    unified: bool = False  # False: n_ctx cells for each sequence, texts independent of batching
    prefix_pool: int = 0  # spare sequence ids keeping recently finished prompts
    reuse_prefixes: bool = True  # False: every prompt is decoded whole (benchmarks compare)

    @property
    def sequences(self) -> int:
        return self.max_size + self.prefix_pool

    def cells(self, n_ctx: int) -> int:
        """KV cells the context gets: a shared pool, or `n_ctx` for each sequence id."""
        return max(self.kv_size, n_ctx) if self.unified else n_ctx * self.sequences

    @classmethod
    def from_settings(cls, settings: Settings) -> BatchConfig:
        sequences = settings.batch_max_size + settings.batch_prefix_pool
        unified = settings.n_ctx * sequences > settings.batch_kv_size
        return cls(
            settings.batch_max_size,
            settings.batch_max_wait_ms / 1000,
            settings.batch_kv_size if unified else 0,
            unified,
            settings.batch_prefix_pool,
        )


def batching_engine(config: EngineConfig, batch: BatchConfig) -> BatchingEngine:
    """The process's batching engine for this model and batch configuration (made once)."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get((config, batch))
        if engine is None or engine.closed:
            engine = _ENGINES[(config, batch)] = BatchingEngine(config, batch)
        return engine


class BatchingEngine(LlamaEngine):
    """A `LlamaEngine` whose fields share one llama.cpp context and are decoded together."""

    def __init__(self, config: EngineConfig, batch: BatchConfig) -> None:
        super().__init__(config)  # the model itself: loaded once per process, shared
        max_seqs = llama_cpp.llama_max_parallel_sequences()
        if not 1 <= batch.max_size <= batch.sequences <= max_seqs:
            raise ValueError(
                f"batch size {batch.max_size} + prefix pool {batch.prefix_pool} is outside "
                f"1..{max_seqs} sequences"
            )
        self.batch = batch
        # the model's own context parameters (threads, batch sizes, attention), more sequences
        params = llama_cpp.llama_context_params.from_buffer_copy(self.llm.context_params)
        params.n_seq_max = batch.sequences
        params.kv_unified = batch.unified
        params.n_ctx = batch.cells(config.n_ctx)
        self._ctx: Any = llama_cpp.llama_init_from_model(self.llm._model.model, params)
        if not self._ctx:
            raise GenerationError("llama.cpp could not create the batching context")
        self.kv_cells = int(llama_cpp.llama_n_ctx(self._ctx))  # all sequences' together
        self._cond = threading.Condition()
        self._pending: deque[Job] = deque()
        self._step = Step(
            self._ctx,
            self.llm._model.vocab,
            self.llm.n_batch,
            self.kv_cells,
            bos=self.llm.token_bos(),
            model=self.model_name,
            pool=(batch.max_size, batch.prefix_pool),
            reuse=batch.reuse_prefixes,
        )
        self.closed = False
        self._thread = threading.Thread(target=self._run, name="autoglm-batching", daemon=True)
        self._thread.start()
        _OPEN.add(self)

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        """One field (submitted alone, batched with whatever else is running)."""
        return self.generate_many([request], on_progress)[0]

    def generate_many(
        self, requests: Sequence[GenerationRequest], on_progress: ProgressCallback | None = None
    ) -> list[GenerationResult]:
        """Several independent fields at once; results in request order. Retries (each once)
        run together after the first round. An exception from ``on_progress`` ends that field
        and cancels the others of this call, and is raised here."""
        return generate_checked(
            requests, lambda attempts: self._run_attempts(attempts, on_progress)
        )

    def close(self) -> None:
        """Stop the loop (what is queued or running fails) and free the context."""
        with self._cond:
            if self.closed:
                return
            self.closed = True
            self._cond.notify_all()
        self._thread.join()
        llama_cpp.llama_free(self._ctx)
        self._ctx = None
        _OPEN.discard(self)

    def _run_attempts(
        self, attempts: Sequence[Attempt], on_progress: ProgressCallback | None
    ) -> list[GenerationResult]:
        if self.closed:  # checked before the lock too: a forked child's copy may hold it
            raise GenerationError("the batching engine is closed")
        group = JobGroup(len(attempts))
        jobs = []
        for attempt in attempts:  # all prompts are checked before any is submitted
            plan = plan_chat_completion(
                self.llm, attempt.request, attempt.grammar, attempt.seed, self.config.n_ctx
            )
            jobs.append(Job(attempt, plan, on_progress, group))
        with self._cond:
            if self.closed:
                raise GenerationError("the batching engine is closed")
            now = time.perf_counter()
            for job in jobs:
                job.submitted = now
            self._pending.extend(jobs)
            self._cond.notify_all()
        try:
            group.wait()
        finally:
            if not group.succeeded:
                self._cancel(jobs)
        return group.results(jobs)

    def _cancel(self, jobs: list[Job]) -> None:
        with self._cond:
            for job in jobs:
                job.cancelled = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            if not self._admit():
                break
            try:
                self._step.run()
            except Exception as exc:  # a broken step must not kill the loop
                self._step.fail_all(GenerationError(f"batched generation failed: {exc}"))
        error = GenerationError("the batching engine was closed")
        self._step.fail_all(error)
        with self._cond:
            while self._pending:
                self._pending.popleft().finish(None, error)

    def _admit(self) -> bool:
        """Wait for work and let in the jobs that fit now (False once closed). An idle loop
        lets the first job wait up to ``max_wait`` for company."""
        step = self._step
        with self._cond:
            while not step.active and not self._pending and not self.closed:
                self._cond.wait()
            if not step.active and self._pending and self.batch.max_size > 1:
                deadline = self._pending[0].submitted + self.batch.max_wait
                while not self.closed and len(self._pending) < self.batch.max_size:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            if self.closed:
                return False
            while self._pending and step.size < self.batch.max_size:
                job = self._pending[0]
                cells = job.reservation(self.config.n_ctx)
                if not job.cancelled and not step.make_room(cells):
                    break  # first come, first served: later jobs wait behind this one
                step.join(self._pending.popleft(), cells)
            return True


@atexit.register
def _close_all() -> None:
    for engine in list(_OPEN):
        engine.close()


def _after_fork_in_child() -> None:
    """A forked child has no loop threads: its copies of the engines fail fast, not hang, and
    `batching_engine` makes new ones there."""
    for engine in _OPEN:
        engine.closed = True
    _OPEN.clear()
    _ENGINES.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
