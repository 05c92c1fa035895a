"""The job runner and cancel requests, on a committed PostgreSQL database (the watcher polls
from its own thread): a running attempt stops at its next token, a cancel that lands after
the files were stored still wins, and neither leaves files or artifacts behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from generation.protocol import GenerationRequest, GenerationResult, ProgressCallback
from registry import jobs, progress
from registry.accounts import authenticate
from registry.models import Job
from registry.permissions import Actor
from registry.storage import LocalArtifactStore
from tests import factories
from tests.committed import committed_database
from tests.fakes import EchoGenerator
from tests.jobs_support import RecordingQueue, runner
from tests.stack import wait_for
from triggers.submit import JobRequest, submit
from workers import metrics

FAST_POLL: dict[str, object] = {"cancel_poll_seconds": 0.05, "progress_interval_seconds": 0.05}


class Endless(EchoGenerator):
    """Writes a token every 10 ms for up to a minute, telling each one to the callback."""

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        for token in range(1, 6000):
            if on_progress is not None:
                on_progress(request.name, token, token * 0.01, "word " * token)
            time.sleep(0.01)
        return super().generate(request, on_progress)


def cancelling_store(root: Path, asked: threading.Event) -> LocalArtifactStore:
    """A store that asks for the cancel right after storing a file and waits until it is
    made: the attempt has passed its last check, so only the refused completion can stop it."""
    store = LocalArtifactStore(root)
    put = store.put

    def put_then_cancel(*args: Any, **kwargs: Any) -> str:
        uri = put(*args, **kwargs)
        asked.set()
        wait_for(lambda: not asked.is_set(), 10, "the cancel request")
        return uri

    store.put = put_then_cancel  # type: ignore[method-assign]
    return store


@pytest.fixture(scope="module")
def committed() -> Iterator[sessionmaker[Session]]:
    with committed_database("autoglm_cancel_worker") as factory:
        yield factory


@pytest.fixture(scope="module")
def ci(committed: sessionmaker[Session]) -> Actor:
    with committed() as session:
        user = factories.user(session, "ci", teams=["a"], roles=["runner"])
        return authenticate(session, user.token)


def queued(factory: sessionmaker[Session], actor: Actor) -> str:
    with factory() as session:
        request = JobRequest("weekly", {"team": "ops"})
        return submit(session, actor, request, RecordingQueue(), Settings()).job.id


def read(factory: sessionmaker[Session], job_id: str) -> Job:
    with factory() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job


def cancelled_attempts() -> float:
    return float(metrics.ATTEMPTS.labels("cancelled")._value.get())


def test_a_running_attempt_stops_at_its_next_token_and_keeps_nothing(
    committed: sessionmaker[Session], ci: Actor, tmp_path: Path
) -> None:
    job_id = queued(committed, ci)
    work = runner(committed, Endless(), tmp_path, None, **FAST_POLL)
    before = cancelled_attempts()
    thread = threading.Thread(target=work.run, args=(job_id,))
    thread.start()

    def writing() -> bool:
        with committed() as session:
            return any(row.tokens > 5 for row in progress.of_job(session, job_id))

    wait_for(writing, 20, "the field's text so far")
    with committed() as session:
        assert not jobs.cancel(session, ci, job_id).ended
    asked = time.monotonic()
    thread.join(20)
    assert not thread.is_alive()
    assert time.monotonic() - asked < 3  # a poll and a token, not the minute-long field

    job = read(committed, job_id)
    assert (job.status, job.error) == ("cancelled", "cancelled by ci")
    assert job.artifacts == [] and job.timings["total_seconds"] > 0
    with committed() as session:
        assert progress.of_job(session, job_id) == []
    assert not (tmp_path / job_id).exists()
    assert cancelled_attempts() == before + 1


def test_a_cancel_after_the_files_were_stored_wins_and_removes_them(
    committed: sessionmaker[Session], ci: Actor, tmp_path: Path
) -> None:
    job_id = queued(committed, ci)
    asked = threading.Event()
    work = runner(committed, EchoGenerator(), tmp_path, None, **FAST_POLL)
    work.store = cancelling_store(tmp_path, asked)
    thread = threading.Thread(target=work.run, args=(job_id,))
    thread.start()
    wait_for(asked.is_set, 20, "the first stored file")
    assert list((tmp_path / job_id).rglob("*.*"))  # stored, not recorded yet
    with committed() as session:
        jobs.cancel(session, ci, job_id)
    asked.clear()
    thread.join(20)

    job = read(committed, job_id)
    assert job.status == "cancelled" and job.artifacts == []
    assert job.cancel_requested_at is not None
    assert not (tmp_path / job_id).exists()
