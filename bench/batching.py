"""Benchmark: the continuous-batching engine against one field at a time.

Run from the repository root, on an otherwise idle machine::

    .venv/bin/python bench/batching.py            # about 3 minutes on 2 CPU cores
    .venv/bin/python bench/batching.py --quick    # smoke run
    .venv/bin/python bench/batching.py --unified  # the shared-pool KV cache

1. Aggregate tokens/s with 1, 2, 4, 8, 16 sequences: `BatchingEngine.generate_many` on N
   fields (an engine with N slots) against bare llama-cpp-python (`create_chat_completion` on
   its own `Llama`, same model and parameters) on the same N prompts one after another.
   Tokens are completion tokens; seconds are the wall time of the whole call(s), prompt
   processing included. *same text* counts fields whose texts are identical on both sides.
   Both sides decode only what a prompt does not share with an earlier one (`Llama` reuses
   its previous prompt's cells, the engine a running sequence's). A bare call whose prompt
   is its previous call's starts from `Llama.reset()`: llama-cpp-python would re-evaluate
   only the last prompt token, which rounds differently from a whole-prompt evaluation and
   can change the text (the size-1 runs repeat their prompt).
2. An 8-field document (7 prose fields and a JSON field): `generate_many` on an 8-slot engine
   against `LlamaEngine.generate` field after field (what the pipeline does today).

The one-at-a-time side runs in a child process: with llama.cpp's OpenMP build, two live
threads of one process that have both run llama.cpp each decode about 2x slower (libgomp
stops spinning at its barriers when it has more threads than CPUs), which would slow down
both sides here, although a worker only ever decodes on the engine's thread. The two sides
take turns (never at the same time) and swap order every repetition, so that drift in machine
speed hits both alike. Every figure is the median over the repetitions; *other* is the CPU
that other processes used meanwhile (1.00 = one core): a run above 0.10 is disturbed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the repository packages importable
    sys.path.insert(0, str(ROOT))

import llama_cpp  # noqa: E402

from bench.run import OtherCpu, heading, print_header, table  # noqa: E402
from core.settings import Settings  # noqa: E402
from generation.batching import BatchConfig, BatchingEngine  # noqa: E402
from generation.llama import EngineConfig, LlamaEngine  # noqa: E402
from generation.protocol import GenerationRequest  # noqa: E402

TOPICS = (
    "a lighthouse keeper", "a lost map", "a city under the sea", "a clockwork bird",
    "the last train home", "a dragon who fears fire", "a library that never closes",
    "a storm over the desert", "a robot learning to paint", "a village in the clouds",
    "a secret garden", "a ship made of glass", "the first snow", "a talking river",
    "a market at midnight", "an old violin",
)  # fmt: skip
DOCUMENT: tuple[tuple[str, str, int], ...] = (
    ("summary", "Summarise this week for the platform team: login page shipped, 3 bugs fixed.", 80),
    ("highlights", "Describe the main highlight of shipping a new login page.", 64),
    ("risks_text", "Explain the risks of migrating the user database next week.", 80),
    ("next_steps", "List the next steps for the platform team after a release.", 64),
    ("team_notes", "Write a short thank-you note to the team for a good week.", 48),
    ("metrics", "Describe how to measure the success of a login page.", 64),
    ("outlook", "Write an outlook for next week: database migration and load testing.", 64),
)
SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": 3,
    "items": {"type": "string", "maxLength": 60},
}
TEMPERATURE = 0.7
Measured = tuple[float, float | None, int, list[str]]  # seconds, other CPU, tokens, texts


def field(i: int, max_tokens: int) -> GenerationRequest:
    prompt = f"Write a detailed story about {TOPICS[i % len(TOPICS)]}."
    return GenerationRequest(f"story{i}", prompt, max_tokens, TEMPERATURE, 1000 + i)


def document() -> list[GenerationRequest]:
    fields = [
        GenerationRequest(n, p, t, TEMPERATURE, 500 + i) for i, (n, p, t) in enumerate(DOCUMENT)
    ]
    risks = "List three risks of the database migration."
    return [*fields, GenerationRequest("risks", risks, 120, 0.2, 507, json_schema=SCHEMA)]


def measure(run: Callable[[], tuple[int, list[str]]]) -> Measured:
    other = OtherCpu()
    started = time.perf_counter()
    tokens, texts = run()
    return time.perf_counter() - started, other.share(), tokens, texts


# --------------------------------------------------------------------------- one at a time (child)


class Bare:
    """Plain llama-cpp-python: `create_chat_completion`, one request after another."""

    def __init__(self, llm: llama_cpp.Llama) -> None:
        self.llm, self.last_prompt = llm, ""

    def texts(self, requests: Sequence[GenerationRequest]) -> tuple[int, list[str]]:
        tokens, texts = 0, []
        for request in requests:
            if request.prompt == self.last_prompt:  # see the docstring
                self.llm.reset()  # type: ignore[no-untyped-call]
            self.last_prompt = request.prompt
            response: Any = self.llm.create_chat_completion(
                messages=[{"role": "user", "content": request.prompt}],
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                seed=request.seed,
            )
            tokens += response["usage"]["completion_tokens"]
            texts.append((response["choices"][0]["message"]["content"] or "").strip())
        return tokens, texts


def engine_texts(
    engine: LlamaEngine, requests: Sequence[GenerationRequest]
) -> tuple[int, list[str]]:
    results = [engine.generate(request) for request in requests]
    return sum(r.completion_tokens for r in results), [r.text for r in results]


def child(n_ctx: int) -> None:
    """Serve one-at-a-time runs: a JSON line in (side, requests), a JSON line out."""
    config = EngineConfig.from_settings(Settings(n_ctx=n_ctx, batch_max_size=1))
    engine = LlamaEngine(config)
    bare = Bare(llama_cpp.Llama(
        model_path=str(config.model_path), n_ctx=config.n_ctx, n_threads=config.n_threads,
        n_gpu_layers=config.n_gpu_layers, verbose=False,
    ))  # fmt: skip
    for line in sys.stdin:
        order = json.loads(line)
        requests = [GenerationRequest(**r) for r in order["requests"]]
        if order["side"] == "bare":
            result = measure(partial(bare.texts, requests))
        else:
            result = measure(partial(engine_texts, engine, requests))
        print(json.dumps(result), flush=True)


class OneAtATime:
    """The child process, seen from here."""

    def __init__(self, n_ctx: int) -> None:
        command = [sys.executable, __file__, "--child", "--n-ctx", str(n_ctx)]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def run(self, side: str, requests: Sequence[GenerationRequest]) -> Measured:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(
            json.dumps({"side": side, "requests": [asdict(r) for r in requests]}) + "\n"
        )
        self.process.stdin.flush()
        seconds, other, tokens, texts = json.loads(self.process.stdout.readline())
        return seconds, other, tokens, texts

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


# --------------------------------------------------------------------------- the two benchmarks


def batched_texts(
    engine: BatchingEngine, requests: Sequence[GenerationRequest]
) -> tuple[int, list[str]]:
    results = engine.generate_many(requests)
    return sum(r.completion_tokens for r in results), [r.text for r in results]


def compare(
    batched: Callable[[], Measured], single: Callable[[], Measured], reps: int
) -> tuple[list[Measured], list[Measured]]:
    """Both sides ``reps`` times, taking turns and swapping the order every repetition."""
    runs: tuple[list[Measured], list[Measured]] = ([], [])
    for rep in range(reps):
        for side in (0, 1) if rep % 2 == 0 else (1, 0):
            runs[side].append((batched, single)[side]())
    return runs


def other_max(*sides: list[Measured]) -> str:
    known = [m[1] for side in sides for m in side if m[1] is not None]
    return f"{max(known):.2f}" if known else "?"


def same_texts(a: list[Measured], b: list[Measured]) -> int:
    return sum(
        x == y for ma, mb in zip(a, b, strict=True) for x, y in zip(ma[3], mb[3], strict=True)
    )


def bench_throughput(
    config: EngineConfig,
    single: OneAtATime,
    sizes: Sequence[int],
    reps: int,
    max_tokens: int,
    unified: bool,
) -> None:
    mode = "unified KV pool" if unified else f"{config.n_ctx} KV cells per sequence"
    heading(f"1. Aggregate generation tokens/s ({max_tokens} max tokens per field, {mode})")
    rows = []
    for size in sizes:
        requests = [field(i, max_tokens) for i in range(size)]
        kv = config.n_ctx * min(size, 4) if unified else 0
        engine = BatchingEngine(config, BatchConfig(size, 0.0, kv, unified))
        try:
            batched_texts(engine, requests[:1])  # warm-up
            single.run("bare", requests[:1])
            engine_runs, bare_runs = compare(
                partial(measure, partial(batched_texts, engine, requests)),
                partial(single.run, "bare", requests),
                reps,
            )
        finally:
            engine.close()
        e = statistics.median(m[2] / m[0] for m in engine_runs)
        b = statistics.median(m[2] / m[0] for m in bare_runs)
        same = f"{same_texts(engine_runs, bare_runs)}/{size * reps}"
        rows.append(
            [
                str(size),
                f"{e:.1f}",
                f"{b:.1f}",
                f"{e / b:.2f}",
                same,
                other_max(engine_runs, bare_runs),
            ]
        )
    print(
        table(
            ["sequences", "engine tok/s", "bare sequential tok/s", "ratio", "same text", "other"],
            rows,
        )
    )


def bench_document(config: EngineConfig, single: OneAtATime, reps: int, unified: bool) -> None:
    heading("2. An 8-field document (7 prose fields + 1 JSON field)")
    requests = document()
    engine = BatchingEngine(
        config, BatchConfig(8, 0.0, config.n_ctx * 4 if unified else 0, unified)
    )
    try:
        warm_up = [field(0, 16)]  # not a document field: see the note on repeated prompts above
        batched_texts(engine, warm_up)
        single.run("engine", warm_up)
        batched, sequential = compare(
            partial(measure, partial(batched_texts, engine, requests)),
            partial(single.run, "engine", requests),
            reps,
        )
    finally:
        engine.close()
    rows = [
        [
            name,
            f"{statistics.median(m[0] for m in runs):.2f}",
            str(statistics.median(m[2] for m in runs)),
        ]
        for name, runs in (
            ("batched (generate_many)", batched),
            ("sequential (LlamaEngine)", sequential),
        )
    ]
    print(table(["side", "wall s", "completion tokens"], rows))
    ratio = statistics.median(m[0] for m in batched) / statistics.median(m[0] for m in sequential)
    pairs = statistics.median(a[0] / b[0] for a, b in zip(batched, sequential, strict=True))
    print(f"  batched ÷ sequential wall time: {ratio:.2f} (median of the run pairs {pairs:.2f})")
    same = same_texts(batched, sequential)
    print(f"  fields with the same text on both sides: {same}/{len(requests) * reps}")
    print(f"  other processes' CPU, worst run: {other_max(batched, sequential)}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 rep, sizes 1 and 4, 16 tokens")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument(
        "--unified", action="store_true", help="a shared KV pool of 4 × n_ctx cells"
    )
    parser.add_argument("--n-ctx", type=int, default=1024, help="per-sequence context")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.n_ctx)
        return
    if args.quick:
        args.reps, args.sizes, args.max_tokens = 1, [1, 4], 16
    config = EngineConfig.from_settings(Settings(n_ctx=args.n_ctx))
    print_header()
    print(f"  model {config.model_path.name}, n_ctx {config.n_ctx}, {config.n_threads} threads")
    single = OneAtATime(args.n_ctx)
    try:
        bench_throughput(config, single, args.sizes, args.reps, args.max_tokens, args.unified)
        bench_document(config, single, args.reps, args.unified)
    finally:
        single.close()


if __name__ == "__main__":
    main()
