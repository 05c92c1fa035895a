"""Benchmark: PDF throughput of the exporter beside bare WeasyPrint, in one run.

The document is the 10-page Chinese/English report of ``bench/report/template.yaml`` (cover,
abstract, TOC, eight sections with paragraphs, an 8x5 table, a list and a code block; A4,
1.5 cm margins, Noto Sans CJK SC), filled with fixed text instead of a model. Contenders:

- ``exporter``: ``exporters.pdf.export_pdf`` of this checkout, in a process warmed up the way
  a worker's export processes are (``exporters.pool.warm_up``);
- ``bare``: ``weasyprint.HTML(string=html).write_pdf()`` on the very HTML and CSS the exporter
  lays out (the floor for that layout: what WeasyPrint itself costs);
- ``baseline``: the exporter of an older revision (``--baseline``, default the one before
  issue 14), from a ``git worktree``, on the same Markdown with the options it knows;
- ``bare-baseline``: bare WeasyPrint on the baseline's HTML (the issue's reference figure).

Each round runs every contender once, in turn, as one process per CPU core rendering
``--docs`` documents each after a warm-up: documents/min with all cores busy, CPU seconds per
document, and, from a lone process, the median seconds per document. Run from the root::

    .venv/bin/python bench/pdf.py                  # 3 rounds (about 4 minutes on 2 cores)
    .venv/bin/python bench/pdf.py --rounds 1 --docs 3
    .venv/bin/python bench/pdf.py --memory 200     # also: resident memory over 200 renders
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(os.environ.get("BENCH_ROOT") or Path(__file__).resolve().parent.parent)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if os.environ.get("BENCH_ROOT"):  # an old revision: never fall back on this checkout's modules
    sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]

BASELINE = "af3797b"  # the exporter before issue 14
CONTENDERS = ("exporter", "bare", "baseline", "bare-baseline")
TEMPLATE = Path(__file__).resolve().parent / "report" / "template.yaml"

ENGLISH = (
    "During the quarter the {name} team moved the remaining services onto the shared "
    "platform, retired two legacy clusters and cut the median build time by a third. The "
    "work was planned in small steps so that every change could be rolled back within "
    "minutes, and each step was reviewed by two engineers before it reached production. "
    "Customers saw fewer timeouts, and the on-call load fell to its lowest level this year."
)
CHINESE = (
    "本季度{name_zh}团队完成了剩余服务向统一平台的迁移，下线了两个旧集群，并把构建时间的中位数"
    "缩短了三分之一。所有改动都按小步推进，每一步都能在几分钟内回滚，上线前均由两位工程师审查。"
    "客户遇到的超时明显减少，值班压力降到了今年的最低水平。下一季度将继续完善监控与容量规划，"
    "并把发布流程中的人工步骤全部自动化。"
)
AREAS = [
    ("Storage", "存储"),
    ("Networking", "网络"),
    ("Build system", "构建系统"),
    ("Observability", "可观测性"),
    ("Identity", "身份认证"),
    ("Data pipelines", "数据管道"),
    ("Release tooling", "发布工具"),
    ("Developer portal", "开发者门户"),
]


def report_inputs() -> tuple[dict[str, Any], dict[str, Any]]:
    """Inputs and generated values for the report template (fixed text: no model)."""
    areas = []
    for name, name_zh in AREAS:
        metrics = [
            [f"Metric {n} 指标", f"{100 + n * 7}", f"{90 + n * 5}", f"-{n * 3} %", "platform"]
            for n in range(1, 9)
        ]
        changes = [
            f"{name}: change {n} shipped behind a flag, then enabled for every tenant"
            for n in range(1, 5)
        ] + [f"{name_zh}：第五项改动已全部上线"]
        areas.append({"name": name, "name_zh": name_zh, "metrics": metrics, "changes": changes})
    inputs = {
        "title": "平台工程季度报告 Platform Engineering Report",
        "subtitle": "2026 年第三季度 · Quarter 3, 2026",
        "period": "2026-07-01 — 2026-09-30",
        "areas": areas,
    }
    generated = {
        "abstract": "\n\n".join(
            [ENGLISH.format(name="platform"), CHINESE.format(name_zh="平台工程")]
        ),
        "notes": [
            {
                "en": "\n\n".join([ENGLISH.format(name=name)] * 2),
                "zh": "\n\n".join([CHINESE.format(name_zh=name_zh)] * 2),
            }
            for name, name_zh in AREAS
        ],
    }
    return inputs, generated


def report_markdown() -> str:
    from documents.loader import load_template_file
    from documents.render import render_document

    inputs, generated = report_inputs()
    return render_document(load_template_file(TEMPLATE), inputs, generated).markdown


# --------------------------------------------------------------------------- worker side


def _document(markdown: str) -> Any:
    """The report as a `Document` of the checkout on sys.path (old revisions know fewer
    options: those get the ones they have)."""
    from documents.document import Document
    from documents.spec import ExportOptions

    options: dict[str, Any] = {"margin": "1.5cm", "font": "Noto Sans CJK SC"}
    fields = ExportOptions.model_fields
    if "cover" in fields:
        from documents.loader import load_template_file

        options = load_template_file(TEMPLATE).spec.export.options.model_dump()
    else:
        options["include_toc"] = True
    return Document(
        title="平台工程季度报告 Platform Engineering Report",
        markdown=markdown,
        template_name="quarterly-platform-report",
        template_version="1",
        options=ExportOptions.model_validate(options),
        author="Platform Engineering",
        category="reporting",
    )


def _bare_html(document: Any) -> str:
    """The exporter's HTML with its stylesheets inlined: the same layout, WeasyPrint alone."""
    if "cover" in type(document.options).model_fields:
        from exporters import pdf_html, pdf_style

        css = pdf_style.BASE_CSS + pdf_style.page_css(document.options, document.title)
        html = pdf_html.build_html(document)
    else:  # the baseline: one module
        from exporters import pdf

        css = pdf.BASE_CSS + pdf._page_css(document)  # type: ignore[attr-defined]
        html = pdf.build_html(document)  # type: ignore[attr-defined]
    return html.replace("</head>", f"<style>{css}</style></head>", 1)


def worker(contender: str, docs: int, markdown_file: Path) -> dict[str, Any]:
    document = _document(markdown_file.read_text(encoding="utf-8"))
    if contender.startswith("bare"):
        from weasyprint import HTML

        html = _bare_html(document)

        def render() -> bytes:
            return bytes(HTML(string=html).write_pdf())
    else:
        from exporters.pdf import export_pdf

        try:  # as a worker's export process starts (exporters/pool.py)
            from exporters.pool import warm_up

            warm_up()
        except ImportError:  # the baseline had no pool
            pass

        def render() -> bytes:
            return export_pdf(document)

    data = render()  # warm-up: imports, fonts, caches
    seconds, cpu, rss = [], [], []
    for _ in range(docs):
        wall, own = time.perf_counter(), time.process_time()
        render()
        seconds.append(time.perf_counter() - wall)
        cpu.append(time.process_time() - own)
        rss.append(_rss_mib())
    from pypdf import PdfReader

    pages = len(PdfReader(io.BytesIO(data)).pages)
    return {"seconds": seconds, "cpu": cpu, "rss": rss, "pages": pages, "bytes": len(data)}


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --------------------------------------------------------------------------- driver side


def _command(
    contender: str, docs: int, markdown_file: Path, baseline: Path
) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if contender.endswith("baseline"):
        env["BENCH_ROOT"] = str(baseline)
    else:
        env.pop("BENCH_ROOT", None)
    script = str(Path(__file__).resolve())
    args = [
        sys.executable,
        script,
        "--worker",
        contender,
        "--docs",
        str(docs),
        "--markdown",
        str(markdown_file),
    ]
    return args, env


def run_parallel(
    contender: str, processes: int, docs: int, markdown_file: Path, baseline: Path
) -> dict[str, Any]:
    """`processes` workers at once; throughput from the time the last one finishes rendering."""
    args, env = _command(contender, docs, markdown_file, baseline)
    procs = [
        subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True) for _ in range(processes)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"{contender} worker failed ({proc.returncode})")
        results.append(json.loads(out.splitlines()[-1]))
    # Each worker's busy span is the sum of its render times; all ran at once.
    span = max(sum(r["seconds"]) for r in results)
    total = processes * docs
    return {
        "docs_per_min": total / span * 60,
        "cpu_per_doc": statistics.median(c for r in results for c in r["cpu"]),
        "pages": results[0]["pages"],
        "bytes": results[0]["bytes"],
    }


def run_alone(contender: str, docs: int, markdown_file: Path, baseline: Path) -> float:
    args, env = _command(contender, docs, markdown_file, baseline)
    out = subprocess.run(args, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
    seconds: list[float] = json.loads(out.splitlines()[-1])["seconds"]
    return statistics.median(seconds)


def baseline_tree(revision: str, where: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), revision],
        check=True,
        capture_output=True,
    )
    return where


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--docs", type=int, default=6, help="documents per process per round")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the old exporter")
    parser.add_argument("--memory", type=int, default=0, help="renders for the memory check")
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--markdown", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.docs, args.markdown)))
        return

    with tempfile.TemporaryDirectory(prefix="bench-pdf-") as scratch:
        markdown_file = Path(scratch) / "report.md"
        markdown_file.write_text(report_markdown(), encoding="utf-8")
        baseline = Path(scratch) / "baseline"
        if any(c.endswith("baseline") for c in args.contenders):
            baseline_tree(args.baseline, baseline)
        try:
            _report(args, markdown_file, baseline)
        finally:
            if baseline.exists():
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)],
                    check=False,
                )


def _report(args: argparse.Namespace, markdown_file: Path, baseline: Path) -> None:
    print(
        f"PDF throughput: {args.processes} processes x {args.docs} documents, "
        f"{args.rounds} rounds; baseline {args.baseline}"
    )
    rounds: dict[str, list[dict[str, Any]]] = {c: [] for c in args.contenders}
    for number in range(1, args.rounds + 1):
        # Alternate the order (ABCD, DCBA, ...) so that a machine that speeds up or slows
        # down during the run favours no contender.
        order = args.contenders if number % 2 else args.contenders[::-1]
        for contender in order:
            result = run_parallel(contender, args.processes, args.docs, markdown_file, baseline)
            rounds[contender].append(result)
            print(
                f"  round {number} {contender:14s} {result['docs_per_min']:6.1f} docs/min  "
                f"{result['cpu_per_doc']:.3f} CPU-s/doc  {result['pages']} pages",
                flush=True,
            )
    alone = {c: run_alone(c, args.docs, markdown_file, baseline) for c in args.contenders}
    medians = {c: statistics.median(r["docs_per_min"] for r in rounds[c]) for c in args.contenders}
    print()
    print(
        f"  {'contender':14s} {'docs/min':>9s} {'s/doc alone':>12s} {'CPU-s/doc':>10s} "
        f"{'pages':>6s} {'KiB':>6s}"
    )
    for c in args.contenders:
        cpu = statistics.median(r["cpu_per_doc"] for r in rounds[c])
        last = rounds[c][-1]
        print(
            f"  {c:14s} {medians[c]:9.1f} {alone[c]:12.3f} {cpu:10.3f} {last['pages']:6d} "
            f"{last['bytes'] / 1024:6.0f}"
        )
    print()
    if args.memory:
        args_, env = _command("exporter", args.memory, markdown_file, baseline)
        out = subprocess.run(args_, env=env, stdout=subprocess.PIPE, text=True, check=True)
        rss = json.loads(out.stdout.splitlines()[-1])["rss"]
        marks = sorted({min(10, len(rss)), len(rss) // 2, len(rss)})
        print(
            f"\n  exporter resident memory over {len(rss)} renders: "
            + ", ".join(f"{rss[n - 1]:.0f} MiB after {n}" for n in marks)
        )
    for a, b in (
        ("exporter", "bare"),
        ("exporter", "baseline"),
        ("exporter", "bare-baseline"),
        ("bare", "bare-baseline"),
    ):
        if a in medians and b in medians:
            ratios = [
                x["docs_per_min"] / y["docs_per_min"]
                for x, y in zip(rounds[a], rounds[b], strict=True)
            ]
            print(
                f"  {a} / {b}: {statistics.median(ratios):.2f}x documents/min "
                f"(median of the rounds' ratios; each round: "
                f"{', '.join(f'{r:.2f}' for r in ratios)})"
            )


if __name__ == "__main__":
    main()
