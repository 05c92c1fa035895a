"""The runner on committed databases, with its heartbeat thread live: it holds no transaction
while it works, and an attempt that loses its lease stops and leaves no files."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.orm import Session, sessionmaker

import migrations
from core.db import make_engine, session_factory
from core.settings import Settings
from generation.protocol import GenerationRequest, GenerationResult, ProgressCallback
from registry import jobs
from registry.accounts import authenticate
from registry.models import Job, utcnow
from registry.storage import LocalArtifactStore
from tests import factories
from tests.database import fresh_database
from tests.fakes import EchoGenerator
from tests.jobs_support import RecordingQueue, publish, runner
from triggers.submit import JobRequest, submit


@pytest.fixture(params=["sqlite", "postgresql"])
def committed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """Sessions on a real, committed database that several threads may use at once."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
        migrations.upgrade(url)
        engine = make_engine(url)
        yield session_factory(engine)
        engine.dispose()
        return
    with fresh_database("autoglm_runner") as url:
        migrations.upgrade(url)
        engine = make_engine(url)
        yield session_factory(engine)
        engine.dispose()


def queued(sessions: sessionmaker[Session]) -> str:
    with sessions() as session:
        user = factories.user(session, "ci", teams=["a"], roles=["runner"])
        publish(session)
        actor = authenticate(session, user.token)
        request = JobRequest("weekly", {"team": "x"})
        return submit(session, actor, request, RecordingQueue(), Settings()).job.id


class WritesWhileGenerating(EchoGenerator):
    """Writes through another session in the middle of generation, as the API would."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__()
        self.sessions = sessions

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        with self.sessions() as session:
            session.execute(text("UPDATE teams SET name = name"))
            session.commit()
        return super().generate(request, on_progress)


def test_no_transaction_is_held_while_the_job_works(
    committed: sessionmaker[Session], tmp_path: Path
) -> None:
    job_id = queued(committed)
    runner(committed, WritesWhileGenerating(committed), tmp_path / "files").run(job_id)
    with committed() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert job.status == "succeeded", job.error


class TakenOverMidway(EchoGenerator):
    """While generating, another worker takes the job over (this attempt's lease expired)."""

    def __init__(self, sessions: sessionmaker[Session], job_id: str) -> None:
        super().__init__()
        self.sessions, self.job_id = sessions, job_id

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        with self.sessions() as session:
            expired = utcnow() - timedelta(seconds=1)
            session.execute(
                update(Job).where(Job.id == self.job_id).values(lease_expires_at=expired)
            )
            session.commit()
            assert jobs.claim(session, self.job_id, "other-worker", 60) is not None
        for tokens in range(40):  # keep generating; the heartbeat notices within 0.1 s
            time.sleep(0.05)
            if on_progress is not None:
                on_progress(request.name, tokens, 0.0, "x" * tokens)
        return super().generate(request, on_progress)


def test_an_attempt_that_lost_its_lease_stops_and_writes_nothing(
    committed: sessionmaker[Session], tmp_path: Path
) -> None:
    job_id = queued(committed)
    files = tmp_path / "files"
    generator = TakenOverMidway(committed, job_id)
    runner(committed, generator, files, job_lease_seconds=0.3).run(job_id)
    with committed() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert (job.status, job.attempts, job.worker) == ("running", 2, "other-worker")
    assert generator.requests == []  # stopped before its answer
    assert not (files / job_id).exists()


def _recorded_files(sessions: sessionmaker[Session], job_id: str, files: Path) -> list[Path]:
    """The job's recorded artifacts, each checked to exist with its recorded SHA-256."""
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "succeeded", job and job.error
        paths = []
        for artifact in job.artifacts:
            path = files / artifact.uri.removeprefix("file:")
            assert hashlib.sha256(path.read_bytes()).hexdigest() == artifact.sha256
            paths.append(path)
        return paths


def test_a_stale_attempt_never_touches_the_winners_files(
    committed: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker paused right after its claim (SIGSTOP, a hung connection) resumes after
    another attempt has taken over and succeeded: it acts under its own attempt number, so it
    writes only into its own folder, fails the fence, and removes only that folder."""
    job_id, files = queued(committed), tmp_path / "files"
    real_claim, paused, resume = jobs.claim, threading.Event(), threading.Event()

    def claim_then_pause(
        session: Session, job: str, worker: str, lease: float
    ) -> jobs.Claim | None:
        claimed = real_claim(session, job, worker, lease)
        session.commit()  # holds no transaction while stopped
        if not paused.is_set() and claimed is not None:  # only the first (stale) worker stops
            paused.set()
            assert resume.wait(30)
            session.refresh(claimed.job)  # a read after the pause sees the winner's attempt
        return claimed

    monkeypatch.setattr(jobs, "claim", claim_then_pause)
    stale = runner(committed, EchoGenerator(), files)  # a long lease: no heartbeat in time
    thread = threading.Thread(target=stale.run, args=(job_id,))
    thread.start()
    assert paused.wait(10)
    with committed() as session:  # its lease runs out while it is stopped
        expired = utcnow() - timedelta(seconds=1)
        session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=expired))
        session.commit()
    runner(committed, EchoGenerator(), files).run(job_id)
    winners = _recorded_files(committed, job_id, files)
    assert {p.parent.name for p in winners} == {"2"}
    resume.set()
    thread.join(30)
    assert not thread.is_alive()
    assert _recorded_files(committed, job_id, files) == winners  # all still there, intact
    assert sorted(p.name for p in (files / job_id).iterdir()) == ["2"]


def test_files_of_an_attempt_killed_before_recording_are_removed_by_the_takeover(
    committed: sessionmaker[Session], tmp_path: Path
) -> None:
    job_id, files = queued(committed), tmp_path / "files"
    with committed() as session:  # attempt 1 claimed, stored its files, then was SIGKILLed
        assert jobs.claim(session, job_id, "killed-worker", 60) is not None
        expired = utcnow() - timedelta(seconds=1)
        session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=expired))
        session.commit()
    LocalArtifactStore(files).put(f"{job_id}/1/weekly.pdf", b"%PDF- left behind")
    runner(committed, EchoGenerator(), files).run(job_id)
    recorded = _recorded_files(committed, job_id, files)
    assert sorted(p.name for p in (files / job_id).iterdir()) == ["2"]
    assert sorted((files / job_id).rglob("*.*")) == sorted(recorded)
