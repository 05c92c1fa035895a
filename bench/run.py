"""Benchmark: model load, generation speed (engine vs bare llama-cpp-python), export, memory.

Run from the repository root::

    .venv/bin/python bench/run.py            # full run (about 1 minute on 2 CPU cores)
    .venv/bin/python bench/run.py --quick    # smoke run (a few seconds of generation)

Every figure is a median unless its label says otherwise. See bench/README.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the repository packages importable
    sys.path.insert(0, str(ROOT))

import llama_cpp  # noqa: E402
from pypdf import PdfReader  # noqa: E402

from core.settings import Settings  # noqa: E402
from documents.document import Document  # noqa: E402
from documents.spec import ExportOptions  # noqa: E402
from exporters.registry import get_exporter  # noqa: E402
from generation import llama as engine_module  # noqa: E402
from generation.llama import LlamaEngine  # noqa: E402
from generation.protocol import GenerationRequest  # noqa: E402

PROMPTS: tuple[str, ...] = (
    "Write a short paragraph about the history of the printing press.",
    "List five tips for writing clear release notes.",
    "Explain what an API reference document is, in three sentences.",
    "Summarise the benefits of weekly status reports for a software team.",
    "Describe how to prepare for a project kickoff meeting.",
    "Write a brief introduction for the user guide of a note-taking app.",
)
FORMATS: tuple[str, ...] = ("pdf", "docx", "md")
TEMPERATURE = 0.7
BASE_SEED = 1234
# Sections of `section_markdown` per document: tuned so that the body (without the TOC page)
# is 1 and 10 A4 pages with the default export options.
ONE_PAGE_SECTIONS = 1
TEN_PAGE_SECTIONS = 11


# --------------------------------------------------------------------------- output helpers


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  " + "  ".join(parts).rstrip()

    rule = "  " + "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def heading(text: str) -> None:
    print(f"\n{text}\n{'=' * len(text)}")


def ms(seconds: float) -> str:
    """Milliseconds with enough decimals to tell sub-millisecond timings apart."""
    value = seconds * 1000
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size; Linux reports ``ru_maxrss`` in KiB."""
    return resource.getrusage(who).ru_maxrss / 1024


def load_average() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


class OtherCpu:
    """CPU time used by other processes since construction, from /proc/stat (Linux only)."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.own = self._own()
        self.system = self._system()

    @staticmethod
    def _own() -> float:
        """CPU seconds of this process and of its finished children (the load probes)."""
        times = os.times()
        return times.user + times.system + times.children_user + times.children_system

    @staticmethod
    def _system() -> float | None:
        try:
            fields = Path("/proc/stat").read_text(encoding="utf-8").splitlines()[0].split()
        except (OSError, IndexError):
            return None
        # cpu user nice system idle iowait irq softirq steal ...: busy = all but idle, iowait
        ticks = [int(x) for x in fields[1:9]]
        busy = sum(ticks) - ticks[3] - ticks[4]
        return busy / os.sysconf("SC_CLK_TCK")

    def share(self) -> float | None:
        """Others' CPU seconds per wall second (1.0 = one core fully busy), or None."""
        system = self._system()
        if system is None or self.system is None:
            return None
        others = (system - self.system) - (self._own() - self.own)
        return max(others, 0.0) / (time.perf_counter() - self.wall)


def cpu_model() -> str:
    name = platform.processor()
    if name:
        return name
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def total_memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


# --------------------------------------------------------------------------- 1. model load


def load_probe() -> None:
    """Child-process mode: time the first engine construction in a fresh process, as JSON."""
    started = time.perf_counter()
    engine = LlamaEngine.from_settings(Settings())
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "model": str(engine.config.model_path)}))


def bench_load(runs: int) -> None:
    heading("1. Model load (LlamaEngine.from_settings(Settings()))")
    cold: list[float] = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--load-probe"],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        cold.append(float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"]))

    reload: list[float] = []
    for _ in range(runs):
        engine_module._LOADED.clear()
        started = time.perf_counter()
        LlamaEngine.from_settings(Settings())
        reload.append(time.perf_counter() - started)

    cached: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        LlamaEngine.from_settings(Settings())
        cached.append(time.perf_counter() - started)
    engine_module._LOADED.clear()

    rows = [
        [
            "first load in a fresh process",
            ms(statistics.median(cold)),
            ms(min(cold)),
            ms(max(cold)),
        ],
        [
            "reload in-process (_LOADED cleared)",
            ms(statistics.median(reload)),
            ms(min(reload)),
            ms(max(reload)),
        ],
        ["cached (_LOADED hit)", ms(statistics.median(cached)), ms(min(cached)), ms(max(cached))],
    ]
    print(table(["case", "median ms", "min ms", "max ms"], rows))
    print(f"  ({runs} runs each; imports are not timed; the GGUF file is in the OS page cache)")


# --------------------------------------------------------------------------- 2. generation


@dataclass(frozen=True)
class Run:
    """One generation call: completion tokens, wall seconds, the text."""

    tokens: int
    wall: float
    text: str
    reported: float = 0.0  # GenerationResult.seconds (engine only)
    attempts: int = 1

    @property
    def rate(self) -> float:
        return self.tokens / self.wall


def bare_generate(llm: llama_cpp.Llama, prompt: str, max_tokens: int, seed: int) -> tuple[int, str]:
    response: Any = llm.create_chat_completion(
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=TEMPERATURE,
        seed=seed,
    )
    text = (response["choices"][0]["message"]["content"] or "").strip()
    return int(response["usage"]["completion_tokens"]), text


def totals(runs: Sequence[Run]) -> tuple[int, float]:
    """Total completion tokens and wall seconds."""
    return sum(r.tokens for r in runs), sum(r.wall for r in runs)


def bench_generation(reps: int, max_tokens: int, prompts: Sequence[str]) -> None:
    engine = LlamaEngine.from_settings(Settings())
    config = engine.config
    bare = llama_cpp.Llama(
        model_path=str(config.model_path),
        n_gpu_layers=config.n_gpu_layers,
        n_ctx=config.n_ctx,
        n_threads=config.n_threads,
        verbose=False,
    )
    heading("2. Generation speed: our engine vs bare llama-cpp-python")
    print(
        f"  model {config.model_path.name}, n_ctx={config.n_ctx}, "
        f"n_threads={config.n_threads} (effective {engine.llm.n_threads}), "
        f"n_gpu_layers={config.n_gpu_layers}, max_tokens={max_tokens}, "
        f"temperature={TEMPERATURE}, {len(prompts)} prompts x {reps} reps per side"
    )

    def run_engine(prompt: str, seed: int) -> Run:
        request = GenerationRequest(
            name="bench", prompt=prompt, max_tokens=max_tokens, temperature=TEMPERATURE, seed=seed
        )
        started = time.perf_counter()
        result = engine.generate(request)
        wall = time.perf_counter() - started
        return Run(result.completion_tokens, wall, result.text, result.seconds, result.attempts)

    def run_bare(prompt: str, seed: int) -> Run:
        started = time.perf_counter()
        tokens, text = bare_generate(bare, prompt, max_tokens, seed)
        return Run(tokens, time.perf_counter() - started, text)

    # Warm-up: first calls pay for buffer allocation and page faults on both instances.
    for prompt in prompts[:2]:
        run_engine(prompt, BASE_SEED - 1)
        run_bare(prompt, BASE_SEED - 1)

    others = OtherCpu()
    engine_runs: dict[str, list[Run]] = {p: [] for p in prompts}
    bare_runs: dict[str, list[Run]] = {p: [] for p in prompts}
    pair = 0
    for rep in range(reps):  # reps outer, prompts inner: each prompt's runs spread over time
        seed = BASE_SEED + rep
        for prompt in prompts:
            if pair % 2 == 0:  # alternate which side goes first in each pair
                engine_runs[prompt].append(run_engine(prompt, seed))
                bare_runs[prompt].append(run_bare(prompt, seed))
            else:
                bare_runs[prompt].append(run_bare(prompt, seed))
                engine_runs[prompt].append(run_engine(prompt, seed))
            pair += 1

    rows: list[list[str]] = []
    for index, prompt in enumerate(prompts):
        eng, bar = engine_runs[prompt], bare_runs[prompt]
        eng_rate = statistics.median(r.rate for r in eng)
        bare_rate = statistics.median(r.rate for r in bar)
        same = sum(a.text == b.text for a, b in zip(eng, bar, strict=True))
        rows.append(
            [
                f"p{index + 1} {prompt[:38]}",
                f"{statistics.median(r.tokens for r in eng):.0f}",
                f"{eng_rate:.1f}",
                f"{bare_rate:.1f}",
                f"{eng_rate / bare_rate:.3f}",
                f"{same}/{reps}",
            ]
        )
    print(table(["prompt", "tokens", "engine tok/s", "bare tok/s", "ratio", "same text"], rows))

    all_engine = [r for runs in engine_runs.values() for r in runs]
    all_bare = [r for runs in bare_runs.values() for r in runs]
    side_rows: list[list[str]] = []
    rates: list[float] = []
    for label, runs in (("engine", all_engine), ("bare llama-cpp-python", all_bare)):
        tokens, wall = totals(runs)
        rates.append(tokens / wall)
        side_rows.append([label, str(tokens), f"{wall:.2f}", f"{tokens / wall:.1f}"])
    busy = others.share()
    print()
    print(
        table(["overall (total tokens / total seconds)", "tokens", "seconds", "tok/s"], side_rows)
    )
    pair_ratios = [
        e.rate / b.rate for p in prompts for e, b in zip(engine_runs[p], bare_runs[p], strict=True)
    ]
    print(f"  ratio engine/bare, overall tok/s:          {rates[0] / rates[1]:.3f}")
    print(f"  ratio engine/bare, median of the run pairs: {statistics.median(pair_ratios):.3f}")
    count = len(all_engine)
    retries = sum(r.attempts - 1 for r in all_engine)
    same_texts = sum(
        e.text == b.text for p in prompts for e, b in zip(engine_runs[p], bare_runs[p], strict=True)
    )
    overhead = sum(r.wall - r.reported for r in all_engine) / count
    print(
        f"  engine retries: {retries}; identical texts: {same_texts}/{count}; engine time "
        f"outside GenerationResult.seconds: {ms(overhead)} ms/call"
    )
    if busy is not None:
        print(f"  other processes used {busy:.0%} of one CPU during the timed generation runs")
        if busy > 0.1:
            print("  WARNING: the machine was not idle; rerun for trustworthy tokens/s")
    engine_module._LOADED.clear()  # the engine and `bare` are freed when this returns


# --------------------------------------------------------------------------- 3. export


def section_markdown(n: int) -> str:
    """One section (about 0.9 A4 page in the PDF): headings, prose, list, table, code, Chinese."""
    return f"""## {n}. Release area {n}: storage and synchronisation

This section describes the changes made to storage area {n} during the release cycle. The
team reworked the write path so that documents are flushed in batches, which reduced the
number of disk operations and made the nightly export noticeably faster on slow volumes.
Each change was reviewed by two engineers and covered by integration tests before merging.

### {n}.1 Highlights

- Batched writes: up to 64 documents per flush, configurable per workspace.
- Retry with exponential back-off when the object store answers *503 Slow Down*.
- New `sync --dry-run` flag that prints the plan without touching remote data.
- Metrics for queue depth and flush latency, exported in the Prometheus format.

| Metric | Before | After | Change |
|---|---:|---:|---:|
| Flush latency p50 | 182 ms | 71 ms | -61 % |
| Flush latency p99 | 1.9 s | 0.6 s | -68 % |
| Disk writes / min | 4 100 | 950 | -77 % |
| Failed syncs / day | 12 | 1 | -92 % |

```python
def flush(batch: list[Doc], store: Store) -> int:
    \"\"\"Write a batch of documents and return how many were stored.\"\"\"
    written = 0
    for chunk in chunks(batch, size=64):
        written += store.put_many(chunk, retry=Backoff(base=0.2, limit=5))
    return written
```

### {n}.2 中文说明

本节介绍第 {n} 个存储区域在本次发布周期中的改进。团队重写了写入路径，文档现在按批次刷新，
磁盘操作次数大幅减少，夜间导出在慢速存储卷上也明显更快。所有改动都经过两位工程师审查，
并在合并前通过了集成测试。同步命令新增了预演模式，可以在不修改远程数据的情况下打印执行计划。

Known limitations: very large attachments (over 2 GB) are still uploaded in a single request,
and the dry-run output does not yet include the estimated transfer size. Both are planned for
the next minor release; see the issue tracker for progress and workarounds.
"""


def document_markdown(sections: int, title: str) -> str:
    intro = (
        f"# {title}\n\nThis report was produced by the benchmark script to measure export "
        "speed. It mixes headings, paragraphs, lists, tables, code and Chinese text.\n\n"
    )
    return intro + "\n".join(section_markdown(n) for n in range(1, sections + 1))


def make_document(sections: int, title: str, *, toc: bool = True) -> Document:
    return Document(
        title=title,
        markdown=document_markdown(sections, title),
        template_name="bench",
        template_version="1",
        options=ExportOptions(include_toc=toc),
    )


def pdf_pages(data: bytes) -> int:
    return len(PdfReader(io.BytesIO(data)).pages)


def timed(func: Callable[[], bytes]) -> tuple[float, bytes]:
    started = time.perf_counter()
    data = func()
    return time.perf_counter() - started, data


def bench_export(runs: int) -> None:
    heading("3. Export time (exporters.registry.get_exporter(fmt).export(doc))")
    docs = {
        "1-page": (ONE_PAGE_SECTIONS, make_document(ONE_PAGE_SECTIONS, "Benchmark: one page")),
        "10-page": (TEN_PAGE_SECTIONS, make_document(TEN_PAGE_SECTIONS, "Benchmark: ten pages")),
    }
    pdf = get_exporter("pdf")
    # First call in the process (font discovery, lazy imports), reported apart from the medians.
    first = {fmt: timed(partial(get_exporter(fmt).export, docs["1-page"][1]))[0] for fmt in FORMATS}

    rows: list[list[str]] = []
    for label, (sections, doc) in docs.items():
        body_pages = pdf_pages(pdf.export(make_document(sections, doc.title, toc=False)))
        for fmt in FORMATS:
            exporter = get_exporter(fmt)
            exporter.export(doc)  # warm-up for this document
            samples = [timed(partial(exporter.export, doc)) for _ in range(runs)]
            seconds = [s for s, _ in samples]
            data = samples[-1][1]
            pages = f"{pdf_pages(data)} (body {body_pages})" if fmt == "pdf" else "-"
            rows.append(
                [
                    f"{fmt} {label}",
                    ms(statistics.median(seconds)),
                    ms(min(seconds)),
                    ms(max(seconds)),
                    f"{len(data) / 1024:.1f}",
                    pages,
                ]
            )
    print(table(["format / document", "median ms", "min ms", "max ms", "KiB", "pages"], rows))
    chars = {label: len(doc.markdown) for label, (_, doc) in docs.items()}
    print(
        f"  ({runs} timed runs each after one warm-up; Markdown sizes: "
        + ", ".join(f"{label} {n} chars" for label, n in chars.items())
        + "; pages = PDF total with the TOC page, body = without TOC)"
    )
    print(
        "  first export call in the process (1-page doc): "
        + ", ".join(f"{fmt} {ms(s)} ms" for fmt, s in first.items())
    )


# --------------------------------------------------------------------------- 4. machine


def print_header() -> None:
    memory = total_memory_gib()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(f"open-autoglm benchmark, {date.today().isoformat()}")
    print(
        f"  machine: {cpu_model()}, os.cpu_count()={os.cpu_count()}"
        + (f" (usable {affinity})" if affinity is not None else "")
        + (f", {memory:.1f} GiB RAM" if memory is not None else "")
    )
    print(f"  platform.processor(): {platform.processor()!r}; {platform.platform()}")
    print(
        f"  Python {platform.python_version()}, llama-cpp-python {llama_cpp.__version__}, "
        f"GPU offload supported: {bool(llama_cpp.llama_supports_gpu_offload())}"
    )
    print(f"  {load_average()} (1, 5, 15 min) at start")


def print_memory(phases: Sequence[tuple[str, float]]) -> None:
    heading("4. Memory")
    rows = [[f"peak RSS after {name}", f"{mib:.1f}"] for name, mib in phases]
    rows.append(["peak RSS of a load-probe child", f"{peak_rss_mib(resource.RUSAGE_CHILDREN):.1f}"])
    print(table(["process", "MiB"], rows))
    print("  (ru_maxrss is a high-water mark; the generation phase holds two copies of the model)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--load-probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--load-runs", type=int, default=5)
    parser.add_argument("--reps", type=int, default=3, help="generation runs per prompt and side")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--export-runs", type=int, default=5)
    args = parser.parse_args(argv)
    if args.load_probe:
        load_probe()
        return
    prompts: Sequence[str] = PROMPTS
    if args.quick:
        args.load_runs, args.reps, args.max_tokens, args.export_runs = 2, 1, 32, 1
        prompts = PROMPTS[:2]

    started = time.perf_counter()
    others = OtherCpu()
    print_header()
    phases: list[tuple[str, float]] = [("imports", peak_rss_mib())]
    bench_load(args.load_runs)
    phases.append(("model load", peak_rss_mib()))
    bench_generation(args.reps, args.max_tokens, prompts)
    phases.append(("generation", peak_rss_mib()))
    bench_export(args.export_runs)
    phases.append(("export (whole run)", peak_rss_mib()))
    print_memory(phases)
    print(f"\ntotal wall time: {time.perf_counter() - started:.1f} s; {load_average()} at end")
    share = others.share()
    if share is not None:
        print(f"other processes used {share:.0%} of one CPU over the whole run")


if __name__ == "__main__":
    main()
