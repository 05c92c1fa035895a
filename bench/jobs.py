"""Benchmark: the job pipeline's own overhead, throughput with 1 and 2 worker processes, and
model jobs with 1 and 8 in flight on one worker process.

Run from the repository root (PostgreSQL and Redis up, as `scripts/services` leaves them)::

    .venv/bin/python bench/jobs.py                        # about 10 minutes on 2 cores
    .venv/bin/python bench/jobs.py --quick                # fewer jobs
    .venv/bin/python bench/jobs.py --sections in-flight   # only the jobs-in-flight figure
    .venv/bin/python bench/jobs.py --sections in-flight --in-flight-stack embedded

Overhead per job = job wall time (created -> finished, server clocks) minus the generation
and export time the worker measured: queueing, claiming, rendering, storing, bookkeeping.
Throughput uses a template without generated fields (Markdown only), so it measures the
pipeline, not the model; 300 jobs, so a worker process's start-up (it loads the model) is a
small part of the window.

In flight: jobs/min of a two-field template (two short generated fields, Markdown only) run by
one worker process with ``AUTOGLM_WORKER_JOBS_PER_PROCESS=1`` against ``=8``: with 8, eight
jobs run at once over the process's one model and their fields share its batches. On
PostgreSQL + Redis + Celery (the default) every job is queued before the worker starts (`autoglm
worker --concurrency 1`: one process, its Celery thread pool that many threads); embedded, a
fresh `autoglm serve` (SQLite, its in-process queue with that many threads) runs them while
they are submitted. Jobs/min come from the server's timestamps, the first attempt's start to
the last finish; the two settings take turns over the repetitions (swapping order), a fresh
worker each time, and every job's team name is new so that the result cache never answers.
Every figure is a median unless its label says otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import OtherCpu  # noqa: E402
from registry.models import FINAL_STATUSES  # noqa: E402
from tests.autoglm.run import autoglm  # noqa: E402
from tests.jobs_support import REPORT, STATIC  # noqa: E402
from tests.stack import Stack, distributed_stack  # noqa: E402

PAIR = """\
name: pair
version: "1"
variables: [team]
generate:
  summary:
    prompt: "Summarise the week of the {{ team }} team in two sentences."
    max_tokens: 32
    temperature: 0.7
  risk:
    prompt: "Name one risk for the {{ team }} team next week, in one sentence."
    max_tokens: 32
    temperature: 0.7
body: |
  # Two fields for {{ team }}

  {{ generated.summary }}

  Risk: {{ generated.risk }}
export:
  formats: [md]
"""
SECTIONS = ("overhead", "throughput", "in-flight")
JOBS_PER_PROCESS = "AUTOGLM_WORKER_JOBS_PER_PROCESS"


def seconds(job: dict[str, Any], start: str, end: str) -> float:
    return (datetime.fromisoformat(job[end]) - datetime.fromisoformat(job[start])).total_seconds()


def overhead(stack: Stack, runs: int) -> dict[str, float]:
    """Jobs one at a time with the real model; what is left after generation and export."""
    walls, left = [], []
    for n in range(runs):
        job = stack.submit({"template": "weekly", "inputs": {"team": f"team {n}"}})
        done = stack.wait_status(job["id"], set(FINAL_STATUSES), 300)
        assert done["status"] == "succeeded", done["error"]
        wall = seconds(done, "created_at", "finished_at")
        timings = done["timings"]
        walls.append(wall)
        left.append(wall - timings["generation_seconds"] - timings["export_seconds"])
    return {"wall_s": statistics.median(walls), "overhead_ms": 1000 * statistics.median(left)}


def throughput(stack: Stack, jobs: int, start_workers: Callable[[], None] | None = None) -> float:
    """Jobs per minute for `jobs` static jobs: from the first attempt's start to the last
    finish (server clocks). With `start_workers`, every job is queued before any worker runs,
    so the figure measures the workers, not how fast this script submits."""
    ids = [
        stack.submit({"template": "static", "inputs": {"team": str(n)}})["id"] for n in range(jobs)
    ]
    if start_workers is not None:
        start_workers()
    finished = [stack.wait_status(i, set(FINAL_STATUSES), 600) for i in ids]
    assert all(j["status"] == "succeeded" for j in finished)
    first = min(datetime.fromisoformat(j["started_at"]) for j in finished)
    last = max(datetime.fromisoformat(j["finished_at"]) for j in finished)
    attempt_ms = 1000 * statistics.median(j["timings"]["total_seconds"] for j in finished)
    print(f"  (median attempt inside the worker: {attempt_ms:.1f} ms)")
    return 60 * jobs / (last - first).total_seconds()


def finished_window(stack: Stack, ids: list[str], timeout: float) -> list[dict[str, Any]]:
    finished = [stack.wait_status(i, set(FINAL_STATUSES), timeout) for i in ids]
    failed = [j for j in finished if j["status"] != "succeeded"]
    assert not failed, failed[0]["error"]
    return finished


def jobs_per_minute(finished: list[dict[str, Any]]) -> float:
    first = min(datetime.fromisoformat(j["started_at"]) for j in finished)
    last = max(datetime.fromisoformat(j["finished_at"]) for j in finished)
    return 60 * len(finished) / (last - first).total_seconds()


InFlight = tuple[float, float, float, float | None]  # jobs/min, job wall s, generation s, other


def in_flight_run(stack: Stack, jobs: int, at_once: int, tag: str, embedded: bool) -> InFlight:
    """`jobs` two-field jobs through one fresh worker process running `at_once` of them."""
    other = OtherCpu()  # the worker's CPU counts as this process's once it has been waited for
    if embedded:  # a fresh `autoglm serve` whose in-process queue runs them
        stack.env[JOBS_PER_PROCESS] = str(at_once)
        stack.serve()
    inputs = [{"team": f"{tag} {n}"} for n in range(jobs)]
    ids = [stack.submit({"template": "pair", "inputs": i})["id"] for i in inputs]
    if not embedded:
        stack.start("worker", "--concurrency", "1", **{JOBS_PER_PROCESS: str(at_once)})
    try:
        finished = finished_window(stack, ids, 900)
    finally:
        stack.kill(stack.processes[-1])
    walls = [seconds(j, "started_at", "finished_at") for j in finished]
    generation = [j["timings"]["generation_seconds"] for j in finished]
    rate = jobs_per_minute(finished)
    return rate, statistics.median(walls), statistics.median(generation), other.share()


def in_flight(stack: Stack, jobs: int, reps: int, embedded: bool) -> None:
    where = "embedded (SQLite, in-process queue)" if embedded else "PostgreSQL + Redis + Celery"
    print(f"\nin flight: {jobs} two-field jobs (2 × 32 tokens, md) on one process, {where}")
    settings = (1, 8)
    runs: dict[int, list[InFlight]] = {n: [] for n in settings}
    for rep in range(reps):
        for at_once in settings if rep % 2 == 0 else settings[::-1]:
            runs[at_once].append(in_flight_run(stack, jobs, at_once, f"r{rep}x{at_once}", embedded))
            rate, wall, _, share = runs[at_once][-1]
            busy = "?" if share is None else f"{share:.2f}"
            print(
                f"  rep {rep + 1}, {at_once} at once: {rate:.1f} jobs/min, "
                f"job wall {wall:.2f} s, other {busy}"
            )
    rates = {n: statistics.median(r[0] for r in runs[n]) for n in settings}
    for n in settings:
        wall = statistics.median(r[1] for r in runs[n])
        generation = statistics.median(r[2] for r in runs[n])
        print(
            f"  {JOBS_PER_PROCESS}={n}: {rates[n]:.1f} jobs/min "
            f"(job wall {wall:.2f} s, generation {generation:.2f} s per job)"
        )
    print(f"  8 ÷ 1 jobs/min: {rates[8] / rates[1]:.2f}× (target ≥ 1.4×)")
    print("  (other: CPU of other processes, the API server's included; above 0.10: disturbed)")


@contextmanager
def embedded_stack(folder: Path, serve: bool = True) -> Iterator[Stack]:
    """`autoglm serve` on embedded defaults with the templates uploaded. ``serve`` False stops
    that server once the templates are in: the caller starts `stack.serve()` itself, e.g.
    with other settings in ``stack.env``."""
    env = {
        "AUTOGLM_DATABASE_URL": f"sqlite:///{folder / 'autoglm.db'}",
        "AUTOGLM_ARTIFACT_DIR": str(folder / "artifacts"),
        "AUTOGLM_BROKER_URL": "",
        "AUTOGLM_LOG_LEVEL": "WARNING",
    }
    autoglm("db", "upgrade", env=env)
    token = autoglm("admin", "init", env=env).stdout.strip()
    stack = Stack(env=env, database_url=env["AUTOGLM_DATABASE_URL"], artifacts=folder, token=token)
    try:
        stack.serve()
        for template in (REPORT, STATIC, PAIR):
            stack.upload(template)
        if not serve:
            stack.kill(stack.processes[-1])
        yield stack
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--reps", type=int, default=3, help="in-flight repetitions")
    parser.add_argument("--in-flight-jobs", type=int, default=16)
    parser.add_argument(
        "--in-flight-stack", choices=("distributed", "embedded"), default="distributed"
    )
    args = parser.parse_args()
    runs, batch = (3, 10) if args.quick else (10, 300)
    if args.quick:
        args.reps, args.in_flight_jobs = 1, 8
    sections = set(args.sections)
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        if sections & {"overhead", "throughput"}:
            print(f"jobs: {runs} model jobs one at a time; {batch} static jobs at once")
            pipeline(folder, sections, runs, batch)
        if "in-flight" in sections:
            if args.in_flight_stack == "embedded":
                with embedded_stack(folder / "in-flight", serve=False) as stack:
                    in_flight(stack, args.in_flight_jobs, args.reps, embedded=True)
            else:
                quiet = {"AUTOGLM_LOG_LEVEL": "WARNING"}
                with distributed_stack(folder / "in-flight", PAIR, **quiet) as stack:
                    in_flight(stack, args.in_flight_jobs, args.reps, embedded=False)


def pipeline(folder: Path, sections: set[str], runs: int, batch: int) -> None:
    """The overhead and static-throughput figures, embedded and distributed."""
    with embedded_stack(folder / "embedded") as stack:
        if "overhead" in sections:
            figures = overhead(stack, runs)
            print(
                f"embedded (SQLite, in-process queue): job wall {figures['wall_s']:.2f} s, "
                f"pipeline overhead {figures['overhead_ms']:.0f} ms/job"
            )
        if "throughput" in sections:
            rate = throughput(stack, batch)
            print(f"embedded: {rate:.0f} static jobs/min (1 worker thread, submitting meanwhile)")
    quiet = {"AUTOGLM_LOG_LEVEL": "WARNING"}
    with distributed_stack(folder / "pg", REPORT, **quiet) as stack:
        stack.upload(STATIC)
        if "overhead" in sections:
            worker = stack.start("worker", "--concurrency", "1")
            figures = overhead(stack, runs)
            print(
                f"PostgreSQL + Redis + Celery: job wall {figures['wall_s']:.2f} s, "
                f"pipeline overhead {figures['overhead_ms']:.0f} ms/job"
            )
            stack.kill(worker)
        if "throughput" in sections:
            for processes in (1, 2):
                worker_args = ("worker", "--concurrency", str(processes))

                def start(worker_args: tuple[str, ...] = worker_args) -> None:
                    stack.start(*worker_args)

                rate = throughput(stack, batch, start)
                stack.kill(stack.processes[-1])
                print(f"PostgreSQL + Redis + Celery: {rate:.0f} static jobs/min, {processes} proc")


if __name__ == "__main__":
    main()
