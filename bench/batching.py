"""Benchmark: the continuous-batching engine against one field at a time.

Run from the repository root, on an otherwise idle machine::

    .venv/bin/python bench/batching.py            # ~35 min on 2 cores (Qwen2.5-0.5B)
    .venv/bin/python bench/batching.py --quick    # smoke run (about 2 minutes)
    .venv/bin/python bench/batching.py --unified  # the shared-pool KV cache (sections 1, 2)
    .venv/bin/python bench/batching.py --sections batched-bench prefix memory

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

3. Engine vs llama-batched-bench: aggregate *generation* tokens/s (S_TG, prompt processing
   left out) at 1, 2, 4, 8, 16, 32 sequences, our `BatchingEngine` (per-sequence KV cache of
   ``--stg-n-ctx`` cells) on N story fields of ``--stg-tokens`` max tokens against llama.cpp's
   own `llama-batched-bench` (bench/llama_batched_bench.py builds it) with ``-npp 128 -ntg
   128`` on the same model, threads, batch sizes and per-sequence cells. batched-bench's S_TG
   is ``N × ntg / T_TG``: N sequences decode ntg tokens in lockstep after their prompts. The
   engine's is taken the same way from the fields' progress callbacks: every field's first
   token comes from its prompt, every later one costs one decoded token, so S_TG = (sampled
   tokens − N) / (last token's time − the latest time a field sampled its first token); all
   N fields join at once, so every first token comes before any second one. The story prompts
   are about 128 tokens long with the chat template, like batched-bench's. Fields that stop
   at end-of-text before their max tokens leave the batch (batched-bench's never do):
   *generated* shows how many tokens there were. batched-bench runs once per size and
   repetition, in turns with the engine.
4. Prefix reuse: prompt tokens decoded and copied (reused) per document, the 8-field document
   of 2. run twice in a row on a fresh 8-slot engine with a prefix pool of 4, with prefix
   reuse (`BatchConfig.reuse_prefixes`, the default) against without; from the counters
   `autoglm_generation_prompt_tokens_decoded_total` and `..._reused_total`.
5. Peak memory: peak RSS (``VmHWM``) of a fresh child process holding the engine
   `LlamaEngine.from_settings(Settings(batch_max_size=N))` builds (the default n_ctx, KV size
   and prefix pool; N=1 is a plain `LlamaEngine`) after it ran N short fields at once, and the
   KV cells the engine allocated.

The one-at-a-time side runs in a child process: with llama.cpp's OpenMP build, two live
threads of one process that have both run llama.cpp each decode about 2x slower (libgomp
stops spinning at its barriers when it has more threads than CPUs), which would slow down
both sides here, although a worker only ever decodes on the engine's thread. The two sides
take turns (never at the same time) and swap order every repetition, so that drift in machine
speed hits both alike. Every figure is the median over the repetitions; *other* is the CPU
that other processes used meanwhile (1.00 = one core): a run above 0.10 is disturbed.

Sections: ``--sections throughput document batched-bench prefix memory`` (default: all).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the repository packages importable
    sys.path.insert(0, str(ROOT))

import llama_cpp  # noqa: E402
from prometheus_client import REGISTRY  # noqa: E402

from bench import llama_batched_bench  # noqa: E402
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
STORY = (
    "Write a long, detailed story about {topic}. Give the main character a name, a home and a "
    "reason to set out. Describe the place where the story begins, the people the hero meets "
    "on the way, what each of them wants and what they say. Tell what goes wrong in the "
    "middle, how the hero feels about it and what they decide to do. End with a surprising "
    "turn and a quiet final scene. Use vivid details, several paragraphs and some dialogue."
)  # 126-128 prompt tokens with the chat template (Qwen2.5, SmolLM2): like -npp 128
TEMPERATURE = 0.7
SECTIONS = ("throughput", "document", "batched-bench", "prefix", "memory")
Measured = tuple[float, float | None, int, list[str]]  # seconds, other CPU, tokens, texts


def field(i: int, max_tokens: int) -> GenerationRequest:
    prompt = f"Write a detailed story about {TOPICS[i % len(TOPICS)]}."
    return GenerationRequest(f"story{i}", prompt, max_tokens, TEMPERATURE, 1000 + i)


def story(i: int, max_tokens: int) -> GenerationRequest:
    prompt = STORY.format(topic=TOPICS[i % len(TOPICS)])
    return GenerationRequest(f"story{i}", prompt, max_tokens, TEMPERATURE, 2000 + i)


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


# --------------------------------------------------------------------------- 3. vs batched-bench


TgMeasured = tuple[float, float | None, int, int]  # S_TG tokens/s, other CPU, generated, prompt


def engine_tg(engine: BatchingEngine, requests: Sequence[GenerationRequest]) -> TgMeasured:
    """The engine's generation rate on ``requests`` (all submitted at once), as batched-bench
    counts it: see the module docstring."""
    first: dict[str, float] = {}
    sampled: dict[str, int] = {}
    last = 0.0

    def progress(name: str, tokens: int, elapsed: float, text: str) -> None:
        nonlocal last
        last = time.perf_counter()
        first.setdefault(name, last)
        sampled[name] = max(tokens, sampled.get(name, 0))

    other = OtherCpu()
    results = engine.generate_many(requests, progress)
    share = other.share()
    window = last - max(first.values())
    steps = sum(sampled.values()) - len(requests)
    rate = steps / window if window > 0 and steps > 0 else float("nan")
    generated = sum(r.completion_tokens for r in results)
    prompt = int(statistics.median(r.prompt_tokens for r in results))
    return rate, share, generated, prompt


def bench_tg(binary: Path, sizes: Sequence[int], reps: int, n_ctx: int, max_tokens: int) -> None:
    heading(
        f"3. Engine vs llama-batched-bench: generation tokens/s (S_TG), {max_tokens} tokens "
        f"per sequence, {n_ctx} KV cells per sequence"
    )
    config = EngineConfig.from_settings(Settings(n_ctx=n_ctx))
    bench = llama_batched_bench.BenchConfig.like_engine(n_ctx)
    line = " ".join(llama_batched_bench.command(binary, bench, [1], 128, max_tokens))
    print(f"  batched-bench, 1 sequence: {line}")
    print(f"  (N sequences: -npl N -c N×{n_ctx}; its prompts are 128 random tokens)")

    def bench_tg_run(size: int) -> TgMeasured:
        other = OtherCpu()
        row = llama_batched_bench.run(binary, bench, [size], 128, max_tokens)[size]
        return row.s_tg, other.share(), row.sequences * row.tg, 128

    rows = []
    for size in sizes:
        requests = [story(i, max_tokens) for i in range(size)]
        engine = BatchingEngine(config, BatchConfig(size, 0.0))
        try:
            batched_texts(engine, [story(size, 8)])  # warm-up (batched-bench warms up itself)
            runs: tuple[list[TgMeasured], list[TgMeasured]] = ([], [])
            for rep in range(reps):
                for side in (0, 1) if rep % 2 == 0 else (1, 0):
                    if side == 0:
                        runs[0].append(engine_tg(engine, requests))
                    else:
                        runs[1].append(bench_tg_run(size))
        finally:
            engine.close()
        e = statistics.median(m[0] for m in runs[0])
        b = statistics.median(m[0] for m in runs[1])
        others = [m[1] for side in runs for m in side if m[1] is not None]
        rows.append(
            [
                str(size),
                f"{e:.1f}",
                f"{b:.1f}",
                f"{e / b:.2f}",
                f"{statistics.median(m[2] for m in runs[0]):.0f}/{size * max_tokens}",
                str(statistics.median(m[3] for m in runs[0])),
                f"{max(others):.2f}" if others else "?",
            ]
        )
    print(
        table(
            [
                "sequences",
                "engine S_TG",
                "batched-bench S_TG",
                "ratio",
                "generated",
                "prompt tok",
                "other",
            ],
            rows,
        )
    )
    print("  target: ratio ≥ 0.90 at 8 and 16 sequences (issue 12)")


# --------------------------------------------------------------------------- 4. prefix reuse

DECODED = "autoglm_generation_prompt_tokens_decoded_total"
REUSED = "autoglm_generation_prompt_tokens_reused_total"


def prompt_counters() -> tuple[float, float]:
    return REGISTRY.get_sample_value(DECODED) or 0.0, REGISTRY.get_sample_value(REUSED) or 0.0


DocRun = tuple[float, float, float, list[str]]  # decoded, reused, wall seconds, texts


def documents_twice(config: EngineConfig, reuse: bool, cap: int | None) -> list[DocRun]:
    """The 8-field document twice in a row on a fresh 8-slot engine with a prefix pool of 4
    (``cap``: at most this many tokens for each prose field)."""
    requests = [
        replace(r, max_tokens=min(r.max_tokens, cap)) if cap and not r.json_schema else r
        for r in document()
    ]
    engine = BatchingEngine(config, BatchConfig(8, 0.0, prefix_pool=4, reuse_prefixes=reuse))
    runs = []
    try:
        for _ in range(2):
            decoded, reused = prompt_counters()
            started = time.perf_counter()
            texts = batched_texts(engine, requests)[1]
            wall = time.perf_counter() - started
            after = prompt_counters()
            runs.append((after[0] - decoded, after[1] - reused, wall, texts))
    finally:
        engine.close()
    return runs


def bench_prefix(config: EngineConfig, reps: int, cap: int | None = None) -> None:
    heading("4. Prefix reuse: the 8-field document twice on an 8-slot engine, prefix pool 4")
    if cap:
        print(f"  (prose fields cut to {cap} max tokens: prompt counts are unchanged by it)")
    sides: tuple[list[list[DocRun]], list[list[DocRun]]] = ([], [])
    others: list[float] = []
    for rep in range(reps):
        for side in (0, 1) if rep % 2 == 0 else (1, 0):
            other = OtherCpu()
            sides[side].append(documents_twice(config, side == 0, cap))
            share = other.share()
            if share is not None:
                others.append(share)
    rows = []
    for side, label in ((0, "with reuse"), (1, "without reuse")):
        for doc in (0, 1):
            runs = [rep[doc] for rep in sides[side]]
            decoded = statistics.median(r[0] for r in runs)
            reused = statistics.median(r[1] for r in runs)
            rows.append(
                [
                    f"{label}, document {doc + 1}",
                    f"{decoded:.0f}",
                    f"{reused:.0f}",
                    f"{decoded + reused:.0f}",
                    f"{statistics.median(r[2] for r in runs):.2f}",
                ]
            )
    print(table(["side", "decoded", "reused", "prompt tokens", "wall s"], rows))
    same = sum(
        x == y
        for a, b in zip(sides[0], sides[1], strict=True)
        for doc in (0, 1)
        for x, y in zip(a[doc][3], b[doc][3], strict=True)
    )
    print(f"  fields with the same text on both sides: {same}/{2 * len(document()) * reps}")
    print(f"  other processes' CPU, worst run: {max(others):.2f}" if others else "")


# --------------------------------------------------------------------------- 5. peak memory


def bench_memory(sizes: Sequence[int], max_tokens: int) -> None:
    heading("5. Peak memory: LlamaEngine.from_settings(Settings(batch_max_size=N)), N fields")
    probe_script = str(Path(__file__).with_name("memory_probe.py"))
    rows = []
    for size in sizes:
        out = subprocess.run(
            [sys.executable, probe_script, str(size), str(max_tokens)],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        probe = json.loads(out.stdout.strip().splitlines()[-1])
        if probe["engine"] == "LlamaEngine":
            cells = f"{probe['kv_cells']} (the model's own)"
        else:
            kind = "unified pool" if probe["unified"] else "per sequence"
            cells = f"{probe['kv_cells']} ({kind}, {probe['sequences']} seq ids)"
        rows.append(
            [
                str(size),
                probe["engine"],
                cells,
                f"{probe['imports_mib']:.1f}",
                f"{probe['built_mib']:.1f}",
                f"{probe['peak_mib']:.1f}",
                str(probe["tokens"]),
            ]
        )
    headers = ["N", "engine", "KV cells", "imports MiB", "built MiB", "peak RSS MiB", "tokens"]
    print(table(headers, rows))
    print(
        "  (a fresh bench/memory_probe.py process each: peak RSS after the imports, after "
        "building the engine, after the N fields; a batching engine keeps the model's own "
        "n_ctx-cell context besides its own)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 rep, small sizes, few tokens"
    )
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64, help="section 1")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16], help="section 1")
    parser.add_argument(
        "--unified", action="store_true", help="a shared KV pool of 4 × n_ctx cells (1, 2)"
    )
    parser.add_argument("--n-ctx", type=int, default=1024, help="per-sequence context (1, 2, 4)")
    parser.add_argument(
        "--stg-sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32], help="section 3"
    )
    parser.add_argument("--stg-tokens", type=int, default=128, help="section 3: tokens per seq")
    parser.add_argument("--stg-n-ctx", type=int, default=512, help="section 3: cells per seq")
    parser.add_argument("--memory-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--memory-tokens", type=int, default=16, help="section 5")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.n_ctx)
        return
    if args.quick:
        args.reps, args.sizes, args.max_tokens = 1, [1, 4], 16
        args.stg_sizes, args.stg_tokens, args.memory_tokens = [1, 4], 32, 8
    sections = set(args.sections)
    binary = None
    if "batched-bench" in sections:  # built (once, cached) before anything is timed
        binary = llama_batched_bench.build()
    config = EngineConfig.from_settings(Settings(n_ctx=args.n_ctx))
    started = time.perf_counter()
    print_header()
    print(f"  model {config.model_path.name}, n_ctx {config.n_ctx}, {config.n_threads} threads")
    if sections & {"throughput", "document"}:
        single = OneAtATime(args.n_ctx)
        try:
            if "throughput" in sections:
                bench_throughput(
                    config, single, args.sizes, args.reps, args.max_tokens, args.unified
                )
            if "document" in sections:
                bench_document(config, single, args.reps, args.unified)
        finally:
            single.close()
    if binary is not None:
        bench_tg(binary, args.stg_sizes, args.reps, args.stg_n_ctx, args.stg_tokens)
    if "prefix" in sections:
        bench_prefix(config, args.reps, 16 if args.quick else None)
    if "memory" in sections:
        bench_memory(args.memory_sizes, args.memory_tokens)
    print(f"\ntotal wall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
