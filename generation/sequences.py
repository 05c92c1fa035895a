"""The batching loop's parts: submitted jobs, and the sequences one context decodes together."""

from __future__ import annotations

import ctypes
import threading
import time
from typing import Any

import llama_cpp
import numpy as np

from generation import metrics
from generation.answers import Attempt
from generation.chat import CompletionPlan, CompletionText
from generation.prefix import PrefixPool, reuse_prefix
from generation.protocol import GenerationError, GenerationResult, ProgressCallback
from generation.sampling import SamplerChain
from generation.token_batch import TokenBatch

# llama-cpp-python lets a completion run up to 3 tokens past max_tokens while it waits for the
# end of a UTF-8 character; all but the last sampled token are decoded, so they need KV cells.
_UTF8_SLACK = 2


class JobGroup:
    """The jobs of one submission: the submitter waits until all are done or one failed."""

    def __init__(self, size: int) -> None:
        self._cond = threading.Condition()
        self._left = size
        self._failed = False

    def done(self, failed: bool) -> None:
        with self._cond:
            self._left -= 1
            self._failed = self._failed or failed
            self._cond.notify_all()

    def wait(self) -> None:
        with self._cond:
            while self._left and not self._failed:
                self._cond.wait()

    @property
    def succeeded(self) -> bool:
        with self._cond:
            return not self._left and not self._failed

    @staticmethod
    def results(jobs: list[Job]) -> list[GenerationResult]:
        """The jobs' results in order, or the first (in order) of their errors, raised."""
        for job in jobs:
            if job.error is not None:
                raise job.error
        results = [job.result for job in jobs if job.result is not None]
        if len(results) != len(jobs):
            raise GenerationError("batched generation was cancelled")
        return results


class Job:
    """One attempt at one field, from submission until its result (or error) is handed back."""

    def __init__(
        self,
        attempt: Attempt,
        plan: CompletionPlan,
        on_progress: ProgressCallback | None,
        group: JobGroup,
    ) -> None:
        self.attempt, self.plan, self.on_progress, self.group = attempt, plan, on_progress, group
        self.submitted = 0.0
        self.cancelled = False
        self.result: GenerationResult | None = None
        self.error: BaseException | None = None

    def reservation(self, n_ctx: int) -> int:
        """KV cells this job may need: its prompt and every token it may generate."""
        return min(len(self.plan.prompt_tokens) + self.plan.max_tokens + _UTF8_SLACK, n_ctx)

    def finish(self, result: GenerationResult | None, error: BaseException | None) -> None:
        self.result, self.error = result, error
        self.group.done(result is None)


class _Sequence:
    __slots__ = ("cells", "chain", "job", "pos", "prompt", "slot", "started", "text", "token")

    def __init__(
        self, job: Job, slot: int, cells: int, chain: SamplerChain, text: CompletionText
    ) -> None:
        self.job, self.slot, self.cells, self.chain, self.text = job, slot, cells, chain, text
        self.prompt = np.asarray(job.plan.prompt_tokens, dtype=np.int32)
        self.pos = 0  # position of the next token to decode
        self.token = 0  # the last sampled token, decoded on the next step
        self.started = time.perf_counter()


class Step:
    """The loop thread's view of the context. Sequence ids are kept dense (the active
    sequences are always ids 0..n-1: a finished one's id goes to the last one), because
    llama.cpp splits a batch over per-sequence caches only along consecutive ids. A joining
    sequence's prompt is decoded on its own, as `Llama.eval` would (what it shares with a
    running sequence's prompt is copied from that one); then every generating sequence
    decodes one token per step, and each samples from its own logits."""

    def __init__(
        self,
        ctx: Any,
        vocab: Any,
        n_batch: int,
        cells: int,
        *,
        bos: int,
        model: str,
        pool: tuple[int, int] = (0, 0),
        reuse: bool = True,
    ) -> None:
        """``pool`` is (first spare sequence id, how many) for the `PrefixPool`; ``reuse``
        False decodes every prompt whole."""
        self._ctx, self._vocab, self._bos, self._model = ctx, vocab, bos, model
        self._reuse = reuse
        self._mem = llama_cpp.llama_get_memory(ctx)
        self.pool = PrefixPool(self._mem, *pool)
        self._batch = TokenBatch(n_batch)
        self._pieces: dict[int, bytes] = {}
        self._joining: list[tuple[Job, int]] = []
        self.free_cells = cells
        self.active: list[_Sequence] = []

    @property
    def size(self) -> int:
        return len(self.active) + len(self._joining)

    def make_room(self, cells: int) -> bool:
        """Whether ``cells`` are free, after dropping pooled prefixes if that is what it takes."""
        if cells > self.free_cells + self.pool.cells:
            return False  # dropping every pooled prompt would not make room: keep them
        while cells > self.free_cells:
            freed = self.pool.drop_oldest()
            if not freed:
                return False
            self.free_cells += freed
        return True

    def join(self, job: Job, cells: int) -> None:
        """Reserve ``cells`` of KV cache for ``job``; it starts on the next `run`."""
        self.free_cells -= cells
        self._joining.append((job, cells))

    def run(self) -> None:
        """Start the joining sequences, then decode one token for every generating one."""
        for seq in [s for s in self.active if s.job.cancelled]:
            self._end(seq, None, None)
        joining, self._joining = self._joining, []
        for job, cells in joining:
            self._start(job, cells)
        if not self.active:
            return
        stepping = self.active  # in id order, ids 0..n-1
        tokens, positions = [s.token for s in stepping], [s.pos for s in stepping]
        first = self._batch.add_steps(tokens, positions, range(len(stepping)), clear=True)
        code = self._batch.decode(self._ctx)
        if code != 0:
            raise GenerationError(f"llama_decode returned {code}")
        metrics.BATCH_SIZE.observe(len(stepping))
        now = time.perf_counter()
        for i, seq in enumerate(list(stepping)):
            seq.pos += 1
            self._sample(seq, first + i, now)

    def _start(self, job: Job, cells: int) -> None:
        metrics.QUEUE_WAIT.observe(time.perf_counter() - job.submitted)
        if job.cancelled:
            self.free_cells += cells
            job.finish(None, None)
            return
        try:
            chain = SamplerChain(self._vocab, job.plan)
        except Exception as exc:
            self.free_cells += cells
            job.finish(None, GenerationError(f"field {job.attempt.request.name!r}: {exc}"))
            return
        text = CompletionText(job.plan, self._piece, self._is_end, self._bos)
        seq = _Sequence(job, len(self.active), cells, chain, text)
        prompt, n_batch = seq.prompt, self._batch.capacity
        candidates = [*((s.slot, s.prompt) for s in self.active), *self.pool.entries()]
        source, reused = reuse_prefix(
            self._mem, seq.slot, prompt, candidates if self._reuse else []
        )
        if source in self.pool:
            self.pool.used(source)
            metrics.PREFIX_POOL_HITS.inc()
        self.active.append(seq)
        metrics.PROMPT_TOKENS_REUSED.inc(reused)
        metrics.PROMPT_TOKENS_DECODED.inc(len(prompt) - reused)
        for start in range(reused, len(prompt), n_batch):  # the chunks `Llama.eval` decodes
            end = min(start + n_batch, len(prompt))
            last = self._batch.add_span(prompt[start:end], start, seq.slot, clear=True)
            code = self._batch.decode(self._ctx)
            if code != 0:
                self._end(seq, None, GenerationError(f"llama_decode returned {code}"))
                return
        seq.pos = len(prompt)
        self._sample(seq, last, time.perf_counter())

    def _sample(self, seq: _Sequence, index: int, now: float) -> None:
        seq.token = seq.chain.sample(self._ctx, index)
        done = seq.text.add(seq.token)
        if seq.job.on_progress is not None:
            try:
                name = seq.job.attempt.request.name
                seq.job.on_progress(name, seq.text.sampled, now - seq.started, seq.text.partial)
            except BaseException as exc:  # e.g. the job's deadline: this field stops here
                self._end(seq, None, exc)
                return
        if not done and seq.pos + 1 > seq.cells:  # its KV reservation is used up
            done = seq.text.cut()
        if done:
            self._end(seq, self._result(seq, now), None)

    def _result(self, seq: _Sequence, now: float) -> GenerationResult:
        attempt, text = seq.job.attempt, seq.text.text.strip()
        return GenerationResult(
            name=attempt.request.name,
            text=text,
            value=text,
            model=self._model,
            seed=attempt.seed,
            prompt_tokens=len(seq.prompt),
            completion_tokens=len(seq.text.tokens),
            seconds=now - seq.started,
            finish_reason=seq.text.finish_reason or "stop",
            attempts=attempt.number,
        )

    def _end(
        self, seq: _Sequence, result: GenerationResult | None, error: BaseException | None
    ) -> None:
        mem = self._mem
        if result is not None and self._reuse:  # its prompt may start the next look-alike
            self.free_cells -= self.pool.keep(seq.slot, seq.prompt)
        llama_cpp.llama_memory_seq_rm(mem, seq.slot, -1, -1)
        last = self.active.pop()
        if last is not seq:  # keep ids dense: the last sequence takes over the freed id
            llama_cpp.llama_memory_seq_cp(mem, last.slot, seq.slot, -1, -1)
            llama_cpp.llama_memory_seq_rm(mem, last.slot, -1, -1)
            last.slot = seq.slot
            self.active[seq.slot] = last
        seq.chain.close()
        self.free_cells += seq.cells
        if result is not None:
            metrics.TOKENS.inc(result.completion_tokens)
        seq.job.finish(result, error)

    def fail_all(self, error: BaseException) -> None:
        for seq in list(self.active):
            self._end(seq, None, error)
        for job, cells in self._joining:
            self.free_cells += cells
            job.finish(None, error)
        self._joining = []
        llama_cpp.llama_memory_clear(self._mem, True)
        self.free_cells += self.pool.cells
        self.pool.forget()

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            size = 64
            buffer = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buffer, size, 0, False)
            if n < 0:
                size = -n
                buffer = ctypes.create_string_buffer(size)
                n = llama_cpp.llama_token_to_piece(self._vocab, token, buffer, size, 0, False)
            piece = self._pieces[token] = buffer.raw[:n]
        return piece

    def _is_end(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))
