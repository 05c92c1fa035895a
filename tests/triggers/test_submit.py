"""Submission: permission, validation before queueing, idempotency, send after commit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.settings import Settings
from documents.errors import InputError
from registry.accounts import authenticate
from registry.errors import Conflict, Forbidden, Invalid, NotFound
from registry.models import Job
from tests import factories
from tests.jobs_support import RecordingQueue, publish
from triggers.submit import JobRequest, submit

SETTINGS = Settings()


def actor(session: Session, name: str, teams: list[str], roles: list[str]):  # type: ignore[no-untyped-def]
    return authenticate(session, factories.user(session, name, teams=teams, roles=roles).token)


def job_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Job)) or 0


def test_submission_commits_the_row_then_sends_it(session: Session) -> None:
    runner = actor(session, "ci", ["a"], ["runner"])
    publish(session)
    queue = RecordingQueue()
    result = submit(session, runner, JobRequest("weekly", {"team": "core"}), queue, SETTINGS)
    assert result.created
    assert queue.sent == [(result.job.id, 0.0)]
    job = session.get(Job, result.job.id)
    assert job is not None and job.status == "queued" and job.attempts == 0
    assert job.version.version == "1" and job.formats == ["pdf", "docx", "md"]
    assert job.max_attempts == 3 and job.timeout_seconds == 3600  # the defaults
    assert job.requested_by == "ci" and len(job.trace_id) == 32


def test_same_idempotency_key_gives_one_job(session: Session) -> None:
    runner = actor(session, "ci", ["a"], ["runner"])
    publish(session)
    queue = RecordingQueue()
    request = JobRequest("weekly", {"team": "core"}, idempotency_key="deploy-42")
    first = submit(session, runner, request, queue, SETTINGS)
    second = submit(session, runner, request, queue, SETTINGS)
    assert first.created and not second.created
    assert second.job.id == first.job.id
    assert job_count(session) == 1 and len(queue.sent) == 1
    changed = JobRequest("weekly", {"team": "other"}, idempotency_key="deploy-42")
    with pytest.raises(Conflict) as refused:
        submit(session, runner, changed, queue, SETTINGS)
    assert refused.value.code == "idempotency_key_reused"


def test_keys_are_scoped_to_the_requester(session: Session) -> None:
    one = actor(session, "ci-one", ["a"], ["runner"])
    two = actor(session, "ci-two", ["a"], ["runner"])
    publish(session)
    request = JobRequest("weekly", {"team": "core"}, idempotency_key="build-1")
    first = submit(session, one, request, RecordingQueue(), SETTINGS)
    second = submit(session, two, request, RecordingQueue(), SETTINGS)
    assert first.job.id != second.job.id


@pytest.mark.parametrize(
    ("inputs", "formats", "error", "text"),
    [
        ({}, None, InputError, "missing required input 'team'"),
        ({"team": "x", "count": "many"}, None, InputError, "input 'count'"),
        ({"team": "x", "colour": 1}, None, InputError, "unknown input 'colour'"),
        ({"team": "x"}, ["pdf", "odt"], Invalid, "unknown export format 'odt'"),
    ],
)
def test_bad_requests_queue_nothing(
    session: Session, inputs: dict[str, object], formats: list[str] | None, error: type, text: str
) -> None:
    runner = actor(session, "ci", ["a"], ["runner"])
    publish(session)
    queue = RecordingQueue()
    with pytest.raises(error) as refused:
        submit(session, runner, JobRequest("weekly", inputs, formats=formats), queue, SETTINGS)
    assert text in str(refused.value)
    assert job_count(session) == 0 and queue.sent == []


def test_permissions_decide_before_anything_is_stored(session: Session) -> None:
    viewer = actor(session, "viewer", ["a"], ["viewer"])
    outsider = actor(session, "outsider", ["b"], ["runner"])
    publish(session)
    queue = RecordingQueue()
    with pytest.raises(Forbidden):
        submit(session, viewer, JobRequest("weekly", {"team": "x"}), queue, SETTINGS)
    with pytest.raises(NotFound) as hidden:
        submit(session, outsider, JobRequest("weekly", {"team": "x"}), queue, SETTINGS)
    assert hidden.value.code == "template_not_found"
    assert job_count(session) == 0 and queue.sent == []


def test_a_failed_send_leaves_the_job_queued_for_the_sweeper(session: Session) -> None:
    runner = actor(session, "ci", ["a"], ["runner"])
    publish(session)
    result = submit(
        session, runner, JobRequest("weekly", {"team": "x"}), RecordingQueue(broken=True), SETTINGS
    )
    assert result.created
    job = session.get(Job, result.job.id, populate_existing=True)
    assert job is not None and job.status == "queued"
    assert job.dispatched_at is None  # so the very next sweep sends it


def test_a_named_version_and_formats_are_kept(session: Session) -> None:
    runner = actor(session, "ci", ["a"], ["runner"])
    publish(session)
    request = JobRequest("weekly", {"team": "x"}, version="1", formats=["markdown", "word"])
    job = submit(session, runner, request, RecordingQueue(), SETTINGS).job
    assert job.formats == ["md", "docx"]
    with pytest.raises(NotFound) as missing:
        submit(
            session,
            runner,
            JobRequest("weekly", {"team": "x"}, version="9"),
            RecordingQueue(),
            SETTINGS,
        )
    assert missing.value.code == "version_not_found"
