"""The job runner on PostgreSQL with a fake generator: outcomes, retries, fencing, timeouts."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.db import make_engine, session_factory
from core.errors import ConfigError
from core.settings import Settings
from generation.protocol import GenerationError, GenerationRequest, GenerationResult
from registry import jobs
from registry.accounts import authenticate
from registry.models import Job, utcnow
from registry.storage import LocalArtifactStore
from tests import factories
from tests.fakes import EchoGenerator
from tests.jobs_support import RecordingQueue, publish, runner
from tests.readers import markdown_headings, open_docx, pdf_text, squash
from triggers.submit import JobRequest, submit

RETRYING = """\
name: flaky
version: "1"
variables: [team]
generate:
  summary:
    prompt: "About {{ team }}"
schedule:
  expression: "0 0 * * *"
  timeout: 30
  retry:
    max_attempts: 3
    backoff: exponential
    delay: 0.2
"""


class AlwaysFails(EchoGenerator):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[float] = []

    def generate(self, request: GenerationRequest, on_progress=None) -> GenerationResult:  # type: ignore[no-untyped-def,override]
        self.calls.append(time.monotonic())
        raise GenerationError(f"field {request.name!r}: no valid JSON (call {len(self.calls)})")


def queued_job(session: Session, template: str = "weekly", **inputs: object) -> Job:
    user = factories.user(session, "ci", teams=["a"], roles=["runner"])
    actor = authenticate(session, user.token)
    request = JobRequest(template, dict(inputs))
    return submit(session, actor, request, RecordingQueue(), Settings()).job


def reload(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None
    return job


def test_a_job_runs_to_succeeded_with_one_artifact_per_format(
    db: sessionmaker[Session], session: Session, tmp_path: Path
) -> None:
    publish(session)
    job = queued_job(session, team="Платформа")
    runner(db, EchoGenerator({"summary": "All green this week."}), tmp_path).run(job.id)
    done = reload(session, job.id)
    assert done.status == "succeeded" and done.attempts == 1 and done.error is None
    assert [r["name"] for r in done.generation] == ["summary"]
    assert done.generation[0]["model"] == "echo" and "Платформа" in done.generation[0]["prompt"]
    assert {a.format for a in done.artifacts} == {"pdf", "docx", "md"}
    store = LocalArtifactStore(tmp_path)
    files = {a.format: store.local_path(a.uri) for a in done.artifacts}
    assert all(p is not None and p.parent == tmp_path / done.id / "1" for p in files.values())
    assert all(p.is_file() for p in files.values())
    assert "Allgreenthisweek." in squash(pdf_text(files["pdf"].read_bytes(), tmp_path))
    paragraphs = [p.text for p in open_docx(files["docx"].read_bytes()).paragraphs]
    assert "All green this week." in paragraphs
    headings = markdown_headings(files["md"].read_text(encoding="utf-8"))
    assert (1, "Weekly report: Платформа") in headings
    for artifact in done.artifacts:
        assert artifact.size == files[artifact.format].stat().st_size
    assert done.timings["generation_seconds"] >= 0 and done.timings["export_seconds"] > 0


def test_a_finished_job_is_not_run_again(
    db: sessionmaker[Session], session: Session, tmp_path: Path
) -> None:
    publish(session)
    job = queued_job(session, team="x")
    generator = EchoGenerator()
    worker = runner(db, generator, tmp_path)
    worker.run(job.id)
    worker.run(job.id)  # a redelivered message
    assert len(generator.requests) == 1
    assert reload(session, job.id).attempts == 1


def test_failing_generation_retries_with_backoff_then_dies(
    db: sessionmaker[Session], session: Session, tmp_path: Path
) -> None:
    publish(session, RETRYING)
    job = queued_job(session, "flaky", team="x")
    generator, queue = AlwaysFails(), RecordingQueue()
    worker = runner(db, generator, tmp_path, queue)
    worker.run(job.id)
    failed = reload(session, job.id)
    assert failed.status == "failed" and failed.attempts == 1
    assert "call 1" in (failed.error or "")
    assert queue.sent == [(job.id, pytest.approx(0.2))]
    worker.run(job.id)  # too early: the backoff has not passed; sent again for later
    assert len(generator.calls) == 1
    assert queue.sent[-1][0] == job.id and 0 < queue.sent[-1][1] <= 0.2
    queue.sent.pop()
    time.sleep(0.2)
    worker.run(job.id)
    assert queue.sent[-1] == (job.id, pytest.approx(0.4))  # doubled
    time.sleep(0.4)
    worker.run(job.id)
    dead = reload(session, job.id)
    assert dead.status == "dead" and dead.attempts == 3 and dead.finished_at is not None
    assert "GenerationError" in (dead.error or "") and "call 3" in (dead.error or "")
    gaps = [b - a for a, b in zip(generator.calls, generator.calls[1:], strict=False)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4
    assert len(queue.sent) == 2  # nothing sent after the last attempt
    assert not any((tmp_path / job.id).glob("*"))


def test_a_template_error_at_render_time_is_dead_at_once(
    db: sessionmaker[Session], session: Session, tmp_path: Path
) -> None:
    publish(
        session,
        'name: broken\nversion: "1"\nvariables: [team]\nbody: "{{ team.missing.deeper }}"\n',
    )
    job = queued_job(session, "broken", team="x")
    runner(db, EchoGenerator(), tmp_path).run(job.id)
    dead = reload(session, job.id)
    assert dead.status == "dead" and dead.attempts == 1
    assert "RenderError" in (dead.error or "")


def test_an_allocation_bomb_is_dead_at_once_with_the_reason(
    db: sessionmaker[Session], session: Session, tmp_path: Path
) -> None:
    bomb = "{{ ('{:>' ~ '9' * 9 ~ '}').format(team) }}"  # built at runtime: upload cannot see it
    publish(session, f'name: bomb\nversion: "1"\nvariables: [team]\nbody: "{bomb}"\n')
    job = queued_job(session, "bomb", team="x")
    runner(db, EchoGenerator(), tmp_path).run(job.id)
    dead = reload(session, job.id)
    assert dead.status == "dead" and dead.attempts == 1
    assert "refused unsafe access: format width" in (dead.error or "")
    assert not any((tmp_path / job.id).rglob("*.*"))


def test_an_attempt_past_its_timeout_fails(
    db: sessionmaker[Session], session: Session, tmp_path: Path
) -> None:
    publish(session, RETRYING.replace("timeout: 30", "timeout: 1"))

    class Slow(EchoGenerator):
        def generate(self, request, on_progress=None):  # type: ignore[no-untyped-def]
            for tokens in range(30):
                time.sleep(0.05)
                if on_progress:
                    on_progress(request.name, tokens, 0.0, "x" * tokens)
            return super().generate(request, on_progress)

    job = queued_job(session, "flaky", team="x")
    runner(db, Slow(), tmp_path).run(job.id)
    failed = reload(session, job.id)
    assert failed.status == "failed"
    assert "JobTimeout: the job ran past its timeout of 1 s" in (failed.error or "")


def test_a_worker_that_lost_its_lease_cannot_finish(
    db: sessionmaker[Session], session: Session, tmp_path: Path
) -> None:
    publish(session)
    job = queued_job(session, team="x")
    first = jobs.claim(session, job.id, "w1", lease_seconds=60)
    assert first is not None and first.attempt == 1
    assert jobs.claim(session, job.id, "w2", lease_seconds=60) is None  # lease is live
    session.execute(
        update(Job).where(Job.id == job.id).values(lease_expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    second = jobs.claim(session, job.id, "w2", lease_seconds=60)
    assert second is not None and second.attempt == 2
    assert not jobs.complete(session, job.id, 1, generation=[], artifacts=[], timings={})
    assert not jobs.renew_lease(session, job.id, 1, 60)
    assert jobs.complete(session, job.id, 2, generation=[], artifacts=[], timings={})
    assert reload(session, job.id).status == "succeeded"


def test_a_worker_configuration_error_is_retried_not_blamed_on_the_job(
    db: sessionmaker[Session], session: Session, tmp_path: Path
) -> None:
    publish(session)
    job = queued_job(session, team="x")

    class Misconfigured(EchoGenerator):
        def generate(self, request, on_progress=None):  # type: ignore[no-untyped-def]
            raise ConfigError("AUTOGLM_MODEL_PATH: /models/missing.gguf does not exist")

    queue = RecordingQueue()
    runner(db, Misconfigured(), tmp_path, queue).run(job.id)
    failed = reload(session, job.id)
    assert failed.status == "failed" and failed.attempts == 1
    assert "missing.gguf" in (failed.error or "")
    assert [job_id for job_id, _ in queue.sent] == [job.id]


def test_a_claim_during_a_database_outage_is_retried_then_handed_back(tmp_path: Path) -> None:
    """Nothing listens on port 1: every claim fails to connect. The task neither raises
    OperationalError into the task log nor loses the job: it retries, then resends."""
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/unreachable")
    queue = RecordingQueue()
    started = time.monotonic()
    runner(
        session_factory(engine), EchoGenerator(), tmp_path, queue, database_retry_seconds=0.6
    ).run("some-job")
    assert time.monotonic() - started >= 0.6  # retried for the whole window
    assert queue.sent == [("some-job", 0.6)]
    engine.dispose()


def test_a_claim_that_meets_a_restarted_database_succeeds_on_retry(
    db: sessionmaker[Session], session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(session)
    job = queued_job(session, team="x")
    real_claim, failures = jobs.claim, []

    def flaky_claim(*args: object, **kwargs: object) -> jobs.Claim | None:
        if len(failures) < 2:  # the first two tries meet a dropped connection
            failures.append(1)
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return real_claim(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jobs, "claim", flaky_claim)
    runner(db, EchoGenerator(), tmp_path).run(job.id)
    assert reload(session, job.id).status == "succeeded"


THREE_FIELDS = """\
name: three
version: "1"
variables: [team]
generate:
  intro: {prompt: "Introduce {{ team }}."}
  risks: {prompt: "Risks for {{ team }}.", schema: {type: array, items: {type: string}}}
  outro: {prompt: "Close for {{ team }}."}
schedule: {expression: "0 0 * * *", retry: {max_attempts: 3, backoff: none}}
body: "# {{ team }}\\n\\n{{ generated.intro }} {{ generated.risks | join(', ') }} \\
  {{ generated.outro }}"
"""


class DiesAt(EchoGenerator):
    """Writes fields until it reaches `field`, then fails like a killed process would."""

    def __init__(self, field: str) -> None:
        super().__init__({"risks": '["late", "over budget"]'})
        self.field = field

    def generate(self, request, on_progress=None):  # type: ignore[no-untyped-def]
        if request.name == self.field:
            raise GenerationError("the worker died here")
        return super().generate(request, on_progress)


def test_a_retry_regenerates_only_the_fields_the_failed_attempt_did_not_write(
    db: sessionmaker[Session], session: Session, tmp_path: Path
) -> None:
    publish(session, THREE_FIELDS)
    job = queued_job(session, "three", team="core")
    first = DiesAt("outro")
    runner(db, first, tmp_path).run(job.id)
    failed = reload(session, job.id)
    assert failed.status == "failed"
    assert [r["name"] for r in failed.generation] == ["intro", "risks"]  # checkpointed
    second = EchoGenerator({"risks": '["never asked"]'})
    runner(db, second, tmp_path).run(job.id)
    done = reload(session, job.id)
    assert done.status == "succeeded" and done.attempts == 2
    assert [r.name for r in second.requests] == ["outro"]  # only what was missing
    assert {r["name"]: r["reused"] for r in done.generation} == {
        "intro": True,
        "risks": True,
        "outro": False,
    }
    markdown = next((tmp_path / job.id).rglob("*.md")).read_text()
    assert "generated intro late, over budget generated outro" in markdown
