"""Benchmark: the default model, the light model and the router, on the shipped templates.

Run from the repository root, on an otherwise idle machine::

    .venv/bin/python bench/models.py             # 3 templates x 3 configurations x 3 reps
    .venv/bin/python bench/models.py --quick     # smoke run: weekly_report only, 1 rep
    .venv/bin/python bench/models.py --templates api_reference --reps 5
    .venv/bin/python bench/models.py --quick --texts   # also print every field's text

For every shipped template (``templates/<name>.yaml`` with its example inputs
``templates/examples/<name>.inputs.yaml``) it times `workers.pipeline.fill_template`, i.e.
generation and rendering of the body, no export, under three configurations:

- *default*: ``Settings(model="qwen2.5-coder-0.5b-instruct")``, every field on the default model;
- *light*: ``Settings(model="smollm2")``, every field on the light model;
- *routed*: ``Settings(route="auto")``, each field on the light (SmolLM2) or the heavy (the
  default Qwen) model by its complexity score (`generation.router.complexity`).

All three have ``batch_max_size=1`` (a plain `LlamaEngine` per model, one field at a time), so
the comparison is about the models, not about batching. `fill_template` would write the fields
of a `ModelRouter` in threads (the router is a `BatchGenerator`), which for *routed* runs
fields of different models at the same time on the same cores; here the router is wrapped so
that it offers only `generate`, and the fields are written one after another on the main
thread (see bench/batching.py on why llama.cpp should run on one thread of a process).

Each configuration's router is built once (`generation.router.router_for`; the routed one
loads both of its models before anything is timed; loaded models are shared per process, so
*routed* uses the same Qwen `Llama` as *default*), then fills every template once as a
warm-up. Every fill starts from reset models (`Llama.reset()`, outside the timing), so no fill
reuses a prompt prefix that another configuration's or repetition's fill left in a model; the
base seed is fixed (fields' seeds follow from it and their names), so a configuration writes
the same texts every repetition (*same text* counts the timed fills whose text equals the
warm-up's). Every timed repetition fills each template with the three configurations in turn,
their order reversed every repetition, so that drift in machine speed hits them alike.

Figures are medians over the repetitions: *wall s* is the wall time of the `fill_template` call,
*tokens* its fields' completion tokens, *tok/s* tokens / wall seconds (prompt processing and
rendering included). Per field, from the document's provenance: the model that *served* it
(`served_by`), why (`route`), its completion tokens and the engine's own seconds for it.
*other* is the CPU other processes used during a configuration's worst fill (1.00 = one
core): a run above 0.10 is disturbed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the repository packages importable
    sys.path.insert(0, str(ROOT))

from autoglm.inputs import read_input_file  # noqa: E402
from bench.run import OtherCpu, heading, print_header, table  # noqa: E402
from core.settings import Settings  # noqa: E402
from documents.document import FieldRecord  # noqa: E402
from documents.loader import LoadedTemplate, load_template_file  # noqa: E402
from generation import llama as engine_module  # noqa: E402
from generation.models import DEFAULT_MODEL, LIGHT_MODEL  # noqa: E402
from generation.protocol import GenerationRequest, GenerationResult, ProgressCallback  # noqa: E402
from generation.router import DEFAULT, ModelRouter, router_for  # noqa: E402
from workers.pipeline import fill_template  # noqa: E402

TEMPLATES = ("api_reference", "weekly_report", "release_notes")
CONFIGS = ("default", "light", "routed")
BASE_SEED = 1234
DISTURBED = 0.10  # other processes' CPU (1.00 = one core) above which a run is not clean


def settings_for(config: str) -> Settings:
    """The configuration's settings; what defines it is pinned, so AUTOGLM_* variables (and
    .env) only change the rest (threads, context, GPU layers)."""
    pinned: dict[str, Any] = {
        "model_path": None,
        "models": {},
        "route_light": LIGHT_MODEL,
        "route_heavy": DEFAULT,
        "route_threshold": 0.5,
        "batch_max_size": 1,
        "seed": BASE_SEED,
    }
    if config == "default":
        return Settings(model=DEFAULT_MODEL, route="off", **pinned)
    if config == "light":
        return Settings(model=LIGHT_MODEL, route="off", **pinned)
    return Settings(model=DEFAULT_MODEL, route="auto", **pinned)


class OneAtATime:
    """The router without `generate_many`: `fill_template` then writes the fields one after
    another on the calling thread instead of all at once in threads."""

    def __init__(self, router: ModelRouter) -> None:
        self.router = router

    @property
    def model_name(self) -> str:
        return self.router.model_name

    def model_name_for(self, request: GenerationRequest) -> str:
        return self.router.model_name_for(request)

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        return self.router.generate(request, on_progress)


@dataclass(frozen=True)
class Fill:
    wall: float
    other: float | None
    fields: tuple[FieldRecord, ...]

    @property
    def tokens(self) -> int:
        return sum(f.completion_tokens for f in self.fields)


@dataclass(frozen=True)
class Case:
    name: str
    template: LoadedTemplate
    inputs: dict[str, Any]


def load_case(name: str) -> Case:
    template = load_template_file(ROOT / "templates" / f"{name}.yaml")
    inputs = read_input_file(ROOT / "templates" / "examples" / f"{name}.inputs.yaml")
    return Case(name, template, inputs)


def fill(case: Case, generator: OneAtATime, settings: Settings) -> Fill:
    for loaded in engine_module._LOADED.values():  # no prompt prefix left by an earlier fill
        loaded.llm.reset()  # type: ignore[no-untyped-call]
    other = OtherCpu()
    started = time.perf_counter()
    document = fill_template(
        case.template, case.inputs, lambda: generator, settings, seed=BASE_SEED
    )
    wall = time.perf_counter() - started
    return Fill(wall, other.share(), document.provenance)


def build(config: str, settings: Settings) -> tuple[OneAtATime, float]:
    """The configuration's router with every model it may use loaded, and the seconds that
    took (0 where the models were already loaded by an earlier configuration)."""
    started = time.perf_counter()
    router = router_for(settings)
    if settings.route == "auto":
        router.engine(settings.route_light)
        router.engine(settings.route_heavy)
    return OneAtATime(router), time.perf_counter() - started


def worst_other(fills: Sequence[Fill]) -> float | None:
    known = [f.other for f in fills if f.other is not None]
    return max(known) if known else None


def fmt_other(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "?"


def report_case(
    index: int, case: Case, runs: dict[str, list[Fill]], warm: dict[str, Fill], texts: bool
) -> float:
    """Print one template's tables; return its routed ÷ default wall-time ratio."""
    fields = list(case.template.spec.generate)
    heading(f"{index}. {case.name} (templates/{case.name}.yaml, {len(fields)} generated fields)")
    rows = []
    for config in CONFIGS:
        fills = runs[config]
        walls = [f.wall for f in fills]
        rows.append(
            [
                config,
                f"{statistics.median(walls):.2f}",
                f"{min(walls):.2f}",
                f"{max(walls):.2f}",
                f"{statistics.median(f.tokens for f in fills):.0f}",
                f"{statistics.median(f.tokens / f.wall for f in fills):.1f}",
                fmt_other(worst_other(fills)),
            ]
        )
    print(table(["config", "wall s", "min s", "max s", "tokens", "tok/s", "other"], rows))
    default = statistics.median(f.wall for f in runs["default"])
    routed = statistics.median(f.wall for f in runs["routed"])
    pairs = statistics.median(
        r.wall / d.wall for r, d in zip(runs["routed"], runs["default"], strict=True)
    )
    ratio = routed / default
    print(f"  routed ÷ default wall time: {ratio:.2f} (median of the rep pairs {pairs:.2f})")
    rows = []
    for config in CONFIGS:
        for i, name in enumerate(fields):
            records = [f.fields[i] for f in runs[config]]
            first = records[0]
            same = sum(r.text == warm[config].fields[i].text for r in records)
            seconds = statistics.median(r.seconds for r in records)
            tokens = statistics.median(r.completion_tokens for r in records)
            rows.append(
                [
                    config,
                    name,
                    first.served_by,
                    first.model,
                    first.route,
                    f"{tokens:.0f}",
                    f"{seconds:.2f}",
                    f"{tokens / seconds:.1f}" if seconds > 0 else "-",
                    first.finish_reason,
                    str(max(r.attempts for r in records)),
                    f"{same}/{len(records)}",
                ]
            )
            if any((r.served_by, r.route) != (first.served_by, first.route) for r in records):
                rows[-1][2] += " (varied)"
    print(
        table(
            [
                "config",
                "field",
                "served_by",
                "model",
                "route",
                "tokens",
                "s",
                "tok/s",
                "finish",
                "attempts",
                "same text",
            ],
            rows,
        )
    )
    if texts:
        for config in CONFIGS:
            for record in warm[config].fields:
                print(f"  --- {config} / {record.name} ({record.model}):")
                print(textwrap.indent(record.text, "    "))
    return ratio


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3, help="timed fills per template and config")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 rep, weekly_report only")
    parser.add_argument("--templates", nargs="+", choices=TEMPLATES, default=list(TEMPLATES))
    parser.add_argument(
        "--texts", action="store_true", help="also print every field's text (warm-up fill)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.reps, args.templates = 1, ["weekly_report"]
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    started = time.perf_counter()
    print_header()
    cases = [load_case(name) for name in args.templates]
    settings = {config: settings_for(config) for config in CONFIGS}
    threads = engine_module.EngineConfig.from_settings(settings["default"]).n_threads
    print(f"  batch_max_size=1 (LlamaEngine), base seed {BASE_SEED}, {threads} threads")
    generators: dict[str, OneAtATime] = {}
    for config in CONFIGS:
        generators[config], seconds = build(config, settings[config])
        router = generators[config].router
        s = settings[config]
        models = router.engine(DEFAULT).model_name
        if s.route == "auto":
            light = router.engine(s.route_light).model_name
            heavy = router.engine(s.route_heavy).model_name
            models = f"light {s.route_light} = {light}, heavy {s.route_heavy} = {heavy}"
        print(f"  {config}: model={s.model} route={s.route} -> {models} (built in {seconds:.2f} s)")

    warm: dict[str, dict[str, Fill]] = {case.name: {} for case in cases}
    for case in cases:  # warm-up: first-call costs (grammar compilation, ...) out of the timing
        for config in CONFIGS:
            warm[case.name][config] = fill(case, generators[config], settings[config])
    runs: dict[str, dict[str, list[Fill]]] = {
        case.name: {config: [] for config in CONFIGS} for case in cases
    }
    for rep in range(args.reps):
        order = CONFIGS if rep % 2 == 0 else tuple(reversed(CONFIGS))
        for case in cases:
            for config in order:
                runs[case.name][config].append(fill(case, generators[config], settings[config]))

    ratios = {
        case.name: report_case(i, case, runs[case.name], warm[case.name], args.texts)
        for i, case in enumerate(cases, start=1)
    }
    heading("Summary: median wall seconds of fill_template per template")
    rows = []
    for case in cases:
        medians = [statistics.median(f.wall for f in runs[case.name][c]) for c in CONFIGS]
        rows.append([case.name, *(f"{m:.2f}" for m in medians), f"{ratios[case.name]:.2f}"])
    print(table(["template", *(f"{c} s" for c in CONFIGS), "routed ÷ default"], rows))
    worst = worst_other([f for r in runs.values() for fills in r.values() for f in fills])
    print(f"  other processes' CPU, worst fill: {fmt_other(worst)}")
    if worst is not None and worst > DISTURBED:
        print(
            f"  WARNING: other processes used more than {DISTURBED:.2f} of a CPU during a timed "
            "fill; discard this run"
        )
    print(f"  ({args.reps} reps, order reversed every rep; warm-up fills not counted)")
    print(f"\ntotal wall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
