"""`autoglm scheduler` end to end: cron fires on PostgreSQL + Redis, run by a real worker."""

from __future__ import annotations

import functools
import itertools
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.jobs_support import REPORT
from tests.readers import markdown_headings
from tests.stack import Stack, distributed_stack, wait_for

pytestmark = pytest.mark.model
EVERY = timedelta(seconds=2)


def fired(stack: Stack) -> list[tuple[datetime, datetime, str]]:
    """(tick, job created at, job id) of every scheduled job, oldest tick first."""
    response = httpx.get(
        f"{stack.url}/jobs", params={"template": "weekly", "limit": 500}, headers=stack.headers
    )
    out = []
    for job in response.json():
        tick = datetime.fromisoformat(job["idempotency_key"].split(":", 2)[2])
        out.append((tick, datetime.fromisoformat(job["created_at"]), job["id"]))
    return sorted(out)


def running(stack: Stack, index: int) -> bool:
    return any(line["event"] == "scheduler running" for line in stack.log_lines(index))


def test_schedulers_fire_each_tick_once_on_time_and_once_after_downtime(tmp_path: Path) -> None:
    heartbeat = tmp_path / "heartbeat"
    with distributed_stack(
        tmp_path,
        REPORT,
        AUTOGLM_SCHEDULE_POLL_SECONDS="0.2",
        AUTOGLM_HEARTBEAT_FILE=str(heartbeat),
    ) as stack:
        stack.start("worker")
        first, second = stack.start("scheduler"), stack.start("scheduler")
        for index in (2, 3):
            wait_for(functools.partial(running, stack, index), 60, "the schedulers to start")
        response = httpx.post(
            f"{stack.url}/schedules",
            json={"template": "weekly", "expression": "*/2 * * * * *", "inputs": {"team": "Cron"}},
            headers=stack.headers,
        )
        assert response.status_code == 201, response.text
        wait_for(lambda: len(fired(stack)) >= 5, 60, "five fires")
        assert time.time() - heartbeat.stat().st_mtime < 2  # what the compose health check reads
        stack.kill(first)
        stack.kill(second)
        before = fired(stack)
        schedule = httpx.get(
            f"{stack.url}/schedules/{response.json()['id']}", headers=stack.headers
        )
        missed = datetime.fromisoformat(schedule.json()["next_fire_at"])  # the oldest unfired tick

        ticks = [tick for tick, _, _ in before]
        assert all(later - earlier == EVERY for earlier, later in itertools.pairwise(ticks))
        lateness = [created - tick for tick, created, _ in before]
        # On time: every fire before the next tick (polls every 0.2 s; measured ~0.03-0.15 s late).
        assert all(timedelta(0) <= late < EVERY for late in lateness), lateness
        done = stack.wait_status(before[0][2], {"succeeded", "dead"}, 120)
        assert done["status"] == "succeeded", done["error"]
        markdown = stack.download(done["id"], "md").content.decode("utf-8")
        assert (1, "Weekly report: Cron") in markdown_headings(markdown)

        time.sleep(7)  # three or more ticks pass with no scheduler running
        stack.start("scheduler")
        wait_for(lambda: len(fired(stack)) >= len(before) + 2, 60, "fires after the restart")
        restarted = [
            datetime.fromisoformat(line["tick"])
            for line in stack.log_lines(4)
            if line["event"] == "schedule fired"
        ]
        # The oldest missed tick fires first, once. A scheduler killed between submitting a
        # tick's job and recording the fire leaves that job: the restart records it without a
        # second job.
        assert restarted[0] == missed
        every_tick = [tick for tick, _, _ in fired(stack)]
        assert len(every_tick) == len(set(every_tick))  # no tick ever made two jobs
        after = fired(stack)[len(before) :]
        assert after[0][0] == missed or (missed == ticks[-1] and after[0][0] > missed + EVERY)
        assert restarted[1] > restarted[0] + EVERY  # the other missed ticks did not fire
        next_fire = next(f for f in after if f[0] == restarted[1])
        assert next_fire[1] - next_fire[0] < EVERY  # then back on the schedule
