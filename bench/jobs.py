"""Benchmark: the job pipeline's own overhead, and throughput with 1 and 2 worker processes.

Run from the repository root (PostgreSQL and Redis up, as `scripts/services` leaves them)::

    .venv/bin/python bench/jobs.py           # about 5 minutes on 2 CPU cores
    .venv/bin/python bench/jobs.py --quick   # fewer jobs

Overhead per job = job wall time (created -> finished, server clocks) minus the generation
and export time the worker measured: queueing, claiming, rendering, storing, bookkeeping.
Throughput uses a template without generated fields (Markdown only), so it measures the
pipeline, not the model; 300 jobs, so a worker process's start-up (it loads the model) is a
small part of the window. Every figure is a median unless its label says otherwise.
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

from tests.autoglm.run import autoglm  # noqa: E402
from tests.jobs_support import REPORT, STATIC  # noqa: E402
from tests.stack import Stack, distributed_stack  # noqa: E402


def seconds(job: dict[str, Any], start: str, end: str) -> float:
    return (datetime.fromisoformat(job[end]) - datetime.fromisoformat(job[start])).total_seconds()


def overhead(stack: Stack, runs: int) -> dict[str, float]:
    """Jobs one at a time with the real model; what is left after generation and export."""
    walls, left = [], []
    for n in range(runs):
        job = stack.submit({"template": "weekly", "inputs": {"team": f"team {n}"}})
        done = stack.wait_status(job["id"], {"succeeded", "dead"}, 300)
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
    finished = [stack.wait_status(i, {"succeeded", "dead"}, 600) for i in ids]
    assert all(j["status"] == "succeeded" for j in finished)
    first = min(datetime.fromisoformat(j["started_at"]) for j in finished)
    last = max(datetime.fromisoformat(j["finished_at"]) for j in finished)
    attempt_ms = 1000 * statistics.median(j["timings"]["total_seconds"] for j in finished)
    print(f"  (median attempt inside the worker: {attempt_ms:.1f} ms)")
    return 60 * jobs / (last - first).total_seconds()


@contextmanager
def embedded_stack(folder: Path) -> Iterator[Stack]:
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
        stack.upload(REPORT)
        stack.upload(STATIC)
        yield stack
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs, batch = (3, 10) if args.quick else (10, 300)
    print(f"jobs: {runs} model jobs one at a time; {batch} static jobs at once")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        with embedded_stack(folder / "embedded") as stack:
            figures = overhead(stack, runs)
            print(
                f"embedded (SQLite, in-process queue): job wall {figures['wall_s']:.2f} s, "
                f"pipeline overhead {figures['overhead_ms']:.0f} ms/job"
            )
            rate = throughput(stack, batch)
            print(f"embedded: {rate:.0f} static jobs/min (1 worker thread, submitting meanwhile)")
        quiet = {"AUTOGLM_LOG_LEVEL": "WARNING"}
        with distributed_stack(folder / "pg", REPORT, **quiet) as stack:
            stack.upload(STATIC)
            worker = stack.start("worker", "--concurrency", "1")
            figures = overhead(stack, runs)
            print(
                f"PostgreSQL + Redis + Celery: job wall {figures['wall_s']:.2f} s, "
                f"pipeline overhead {figures['overhead_ms']:.0f} ms/job"
            )
            stack.kill(worker)
            for processes in (1, 2):
                args = ("worker", "--concurrency", str(processes))
                rate = throughput(stack, batch, lambda args=args: stack.start(*args))
                stack.kill(stack.processes[-1])
                print(f"PostgreSQL + Redis + Celery: {rate:.0f} static jobs/min, {processes} proc")


if __name__ == "__main__":
    main()
