"""Live progress in the database and the events made from it, on PostgreSQL."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from registry import job_events, jobs, progress
from registry.accounts import authenticate
from registry.errors import NotFound
from registry.job_events import Changes, frame
from registry.models import Job
from registry.progress import SoFar
from tests import factories
from tests.jobs_support import RecordingQueue, publish
from triggers.submit import JobRequest, submit

TWO_FIELDS = """\
name: live
version: "1"
variables: [team]
generate:
  summary:
    prompt: "About {{ team }}"
  risks:
    prompt: "Risks of {{ team }}"
"""


def running_job(session: Session) -> tuple[str, int]:
    publish(session, TWO_FIELDS)
    user = factories.user(session, "ci", teams=["a"], roles=["runner"])
    actor = authenticate(session, user.token)
    job = submit(session, actor, JobRequest("live", {"team": "ops"}), RecordingQueue(), Settings())
    claim = jobs.claim(session, job.job.id, "w1", 60)
    assert claim is not None
    return job.job.id, claim.attempt


def record(name: str, text: str) -> dict[str, object]:
    return {
        "name": name,
        "prompt": "p",
        "model": "m",
        "seed": 1,
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "seconds": 0.5,
        "finish_reason": "stop",
        "text": text,
    }


def test_progress_is_stored_only_for_the_attempt_that_runs_the_job(session: Session) -> None:
    job_id, attempt = running_job(session)
    assert progress.record(session, job_id, attempt, {"summary": SoFar("Ops is", 2, 0.1)})
    assert progress.record(session, job_id, attempt, {"summary": SoFar("Ops is fine", 3, 0.2)})
    assert [(r.name, r.text, r.tokens) for r in progress.of_job(session, job_id)] == [
        ("summary", "Ops is fine", 3)
    ]
    assert not progress.record(session, job_id, attempt + 1, {"summary": SoFar("x", 1, 0.1)})
    assert progress.of_job(session, job_id)[0].text == "Ops is fine"


def test_a_finished_job_keeps_no_live_text_and_refuses_more(session: Session) -> None:
    job_id, attempt = running_job(session)
    progress.record(session, job_id, attempt, {"summary": SoFar("Ops", 1, 0.1)})
    assert jobs.complete(
        session, job_id, attempt, generation=[record("summary", "Ops.")], artifacts=[], timings={}
    )
    assert progress.of_job(session, job_id) == []
    assert not progress.record(session, job_id, attempt, {"summary": SoFar("late", 1, 0.1)})


def test_a_failed_attempt_forgets_its_live_text(session: Session) -> None:
    job_id, attempt = running_job(session)
    progress.record(session, job_id, attempt, {"risks": SoFar("Some", 1, 0.1)})
    job = session.get(Job, job_id)
    assert job is not None
    assert jobs.fail(session, job, attempt, "boom", permanent=False) is not None
    assert progress.of_job(session, job_id) == []


def test_a_snapshot_joins_finished_and_running_fields_in_the_templates_order(
    session: Session,
) -> None:
    job_id, attempt = running_job(session)
    owner = factories.user(session, "reader", teams=["a"], roles=["runner"])
    actor = authenticate(session, owner.token)
    snap = job_events.snapshot(session, actor, job_id)
    assert snap.job["status"] == "running" and not snap.final
    assert list(snap.fields) == ["risks", "summary"]
    assert all(not f["done"] and f["text"] == "" for f in snap.fields.values())

    progress.record(session, job_id, attempt, {"risks": SoFar("Few", 1, 0.1)})
    jobs.record_field(session, job_id, attempt, record("summary", "Ops is fine."))
    snap = job_events.snapshot(session, actor, job_id)
    assert snap.fields["risks"] == {
        "name": "risks",
        "done": False,
        "text": "Few",
        "tokens": 1,
        "seconds": 0.1,
    }
    assert snap.fields["summary"]["done"] and snap.fields["summary"]["text"] == "Ops is fine."


def test_another_team_cannot_follow_the_job(session: Session) -> None:
    job_id, _ = running_job(session)
    stranger = factories.user(session, "stranger", teams=["b"], roles=["runner"])
    actor = authenticate(session, stranger.token)
    try:
        job_events.snapshot(session, actor, job_id)
    except NotFound as exc:
        assert job_id in str(exc)
    else:
        raise AssertionError("a job of another team was visible")


def test_changes_tell_each_difference_once_and_end_on_a_final_status() -> None:
    changes = Changes()
    job = {"status": "running", "attempts": 1}
    running = job_events.Snapshot(job, {"a": {"name": "a", "text": "x", "done": False}})
    assert [e for e, _ in changes.since_last(running)] == ["job", "field"]
    assert changes.since_last(running) == []
    grown = job_events.Snapshot(job, {"a": {"name": "a", "text": "xy", "done": False}})
    assert changes.since_last(grown) == [("field", {"name": "a", "text": "xy", "done": False})]
    done = job_events.Snapshot({**job, "status": "succeeded"}, grown.fields)
    assert changes.since_last(done) == [
        ("job", {"status": "succeeded", "attempts": 1}),
        ("end", {"status": "succeeded"}),
    ]


def test_an_event_is_one_json_line_whatever_the_text_holds() -> None:
    text = frame("field", {"text": "line one\n\ndata: two\r\n"}, 7)
    lines = text.split("\n")
    assert lines[:2] == ["id: 7", "event: field"]
    assert lines[2].startswith("data: ") and lines[3:] == ["", ""]
    assert json.loads(lines[2][6:]) == {"text": "line one\n\ndata: two\r\n"}


def test_the_stream_ends_after_a_finished_jobs_state(db: sessionmaker[Session]) -> None:
    with db() as session:
        job_id, attempt = running_job(session)
        jobs.complete(
            session,
            job_id,
            attempt,
            generation=[record("summary", "Ops.")],
            artifacts=[],
            timings={},
        )
        actor = authenticate(
            session, factories.user(session, "r", teams=["a"], roles=["runner"]).token
        )

    async def collect() -> list[str]:
        async def connected() -> bool:
            return False

        stream = job_events.events(db, actor, job_id, connected, 0.01)
        return [chunk async for chunk in stream]

    chunks = asyncio.run(collect())
    assert chunks[0] == "retry: 2000\n\n"
    names = [c.split("\n")[1] for c in chunks[1:]]
    assert names == ["event: job", "event: field", "event: field", "event: end"]
