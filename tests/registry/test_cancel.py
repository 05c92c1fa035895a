"""Cancelling jobs in the registry, on PostgreSQL: each state's answer, the requests a cancel
blocks (claims, completions, failures), who may cancel, and a cancel racing a completion."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from registry import accounts, audit, job_events, jobs, progress
from registry.accounts import authenticate
from registry.errors import Conflict, Forbidden, NotFound
from registry.jobs import StoredArtifact
from registry.models import Job, JobArtifact, utcnow
from registry.permissions import Actor, Permission
from registry.progress import SoFar
from registry.storage import LocalArtifactStore, attempt_key
from tests import factories
from tests.committed import committed_database
from tests.factories import OPERATOR
from tests.jobs_support import RecordingQueue, publish
from triggers.events import completion_event
from triggers.submit import JobRequest, submit

ARTIFACT = StoredArtifact("md", "weekly-1.md", "file://j/1/weekly-1.md", "text/markdown", 3, "0")


def submitted(session: Session, actor: Actor) -> Job:
    request = JobRequest("weekly", {"team": "ops"})
    return submit(session, actor, request, RecordingQueue(), Settings()).job


@pytest.fixture
def ci(session: Session) -> Actor:
    """A runner of team a: submits the jobs."""
    publish(session)
    return authenticate(session, factories.user(session, "ci", teams=["a"], roles=["runner"]).token)


@pytest.fixture
def queued(session: Session, ci: Actor) -> Job:
    return submitted(session, ci)


def running(session: Session, job: Job) -> int:
    claim = jobs.claim(session, job.id, "w1", 60)
    assert claim is not None
    return claim.attempt


def reread(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None
    return job


def test_a_queued_job_is_cancelled_at_once_and_never_claimed(
    session: Session, ci: Actor, queued: Job
) -> None:
    outcome = jobs.cancel(session, ci, queued.id)
    assert (outcome.ended, outcome.changed) == (True, True)
    job = reread(session, queued.id)
    assert job.status == "cancelled" and job.finished_at is not None
    assert job.cancel_requested_at is not None and job.error == "cancelled by ci"
    assert jobs.claim(session, queued.id, "w1", 60) is None
    assert jobs.seconds_until_due(session, queued.id) is None
    entry = audit.entries(session, target_type="job", target=queued.id)[0]
    assert (entry.action, entry.actor_name) == ("job.cancel", "ci")
    assert entry.details == {"from": "queued", "outcome": "cancelled"}


def test_a_job_waiting_for_its_retry_is_cancelled_and_its_files_removed(
    session: Session, ci: Actor, queued: Job, tmp_path: Path
) -> None:
    attempt = running(session, queued)
    store = LocalArtifactStore(tmp_path)
    store.put(
        attempt_key(queued.id, attempt, "left.md"), b"half", "text/markdown"
    )  # stored, never recorded
    outcome = jobs.fail(session, reread(session, queued.id), attempt, "boom", permanent=False)
    assert outcome is not None and outcome.status == "failed"
    session.execute(update(Job).where(Job.id == queued.id).values(next_attempt_at=utcnow()))
    session.commit()

    assert jobs.cancel(session, ci, queued.id, store).ended
    job = reread(session, queued.id)
    assert (job.status, job.next_attempt_at, job.error) == ("cancelled", None, "cancelled by ci")
    assert jobs.claim(session, queued.id, "w1", 60) is None
    assert not (tmp_path / queued.id).exists()


def test_a_running_job_is_asked_to_stop_and_its_attempt_ends_it_cancelled(
    session: Session, ci: Actor, queued: Job
) -> None:
    attempt = running(session, queued)
    assert progress.record(session, queued.id, attempt, {"summary": SoFar("so far", 2, 0.1)})
    outcome = jobs.cancel(session, ci, queued.id)
    assert (outcome.ended, outcome.changed) == (False, True)
    job = reread(session, queued.id)
    assert job.status == "running" and job.cancel_requested_at is not None
    assert jobs.cancel_requested(session, queued.id)

    # The attempt can neither succeed nor fail any more: it can only end cancelled.
    done = jobs.complete(
        session, queued.id, attempt, generation=[], artifacts=[ARTIFACT], timings={}
    )
    assert not done
    assert jobs.fail(session, reread(session, queued.id), attempt, "x", permanent=True) is None
    assert not jobs.end_cancelled(session, queued.id, attempt + 1, {})  # not its attempt
    assert jobs.end_cancelled(session, queued.id, attempt, {"total_seconds": 1.5})

    job = reread(session, queued.id)
    assert (job.status, job.error, job.timings) == (
        "cancelled",
        "cancelled by ci",
        {"total_seconds": 1.5},
    )
    assert job.artifacts == [] and progress.of_job(session, queued.id) == []
    assert session.scalars(select(JobArtifact).where(JobArtifact.job_id == job.id)).all() == []
    assert [e.details["outcome"] for e in audit.entries(session, target=job.id)] == [
        "cancel requested"
    ]


def test_cancelling_again_is_idempotent(session: Session, ci: Actor, queued: Job) -> None:
    attempt = running(session, queued)
    first = jobs.cancel(session, ci, queued.id)
    asked_at = reread(session, queued.id).cancel_requested_at
    again = jobs.cancel(session, ci, queued.id)
    assert (again.ended, again.changed) == (False, False)
    assert reread(session, queued.id).cancel_requested_at == asked_at
    assert first.changed
    assert jobs.end_cancelled(session, queued.id, attempt, {})
    last = jobs.cancel(session, ci, queued.id)
    assert (last.ended, last.changed, last.job.status) == (True, False, "cancelled")
    assert len(audit.entries(session, target=queued.id)) == 1


@pytest.mark.parametrize("final", ["succeeded", "dead"])
def test_a_finished_job_cannot_be_cancelled(
    session: Session, ci: Actor, queued: Job, final: str
) -> None:
    attempt = running(session, queued)
    if final == "succeeded":
        assert jobs.complete(
            session, queued.id, attempt, generation=[], artifacts=[ARTIFACT], timings={}
        )
    else:
        assert jobs.fail(session, reread(session, queued.id), attempt, "no", permanent=True)
    with pytest.raises(Conflict) as refused:
        jobs.cancel(session, ci, queued.id)
    assert refused.value.code == "job_finished"
    assert reread(session, queued.id).cancel_requested_at is None


def test_a_running_job_whose_worker_is_gone_is_cancelled_by_the_request(
    session: Session, ci: Actor, queued: Job
) -> None:
    attempt = running(session, queued)
    expire_lease(session, queued.id)
    assert jobs.cancel(session, ci, queued.id).ended
    assert reread(session, queued.id).status == "cancelled"
    assert not jobs.end_cancelled(session, queued.id, attempt, {})  # the late worker loses


def test_a_cancel_requested_job_whose_worker_died_is_not_reclaimed_and_the_sweeper_ends_it(
    session: Session, ci: Actor, queued: Job
) -> None:
    running(session, queued)
    jobs.cancel(session, ci, queued.id)
    expire_lease(session, queued.id)
    assert jobs.claim(session, queued.id, "w2", 60) is None
    assert queued.id not in [j.id for j in jobs.due_for_resend(session, 0.0)]
    assert jobs.bury_lost(session) == []
    assert jobs.cancel_abandoned(session) == [queued.id]
    job = reread(session, queued.id)
    assert (job.status, job.error) == ("cancelled", "cancelled by ci")


def expire_lease(session: Session, job_id: str) -> None:
    gone = utcnow() - timedelta(seconds=1)
    session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=gone))
    session.commit()


def test_who_may_cancel(session: Session, ci: Actor, queued: Job) -> None:
    other_reader = factories.user(session, "viewer", teams=["a"], roles=["viewer"])
    outsider = factories.user(session, "bob", teams=["b"], roles=["maintainer"])
    with pytest.raises(NotFound) as hidden:
        jobs.cancel(session, authenticate(session, outsider.token), queued.id)
    assert hidden.value.code == "job_not_found"
    with pytest.raises(Forbidden) as refused:
        jobs.cancel(session, authenticate(session, other_reader.token), queued.id)
    assert refused.value.code == "cancel_forbidden"
    assert reread(session, queued.id).status == "queued"

    # The requester keeps the right to cancel their own job after losing `job:create`.
    accounts.grant_role(session, OPERATOR, "ci", "viewer")
    accounts.revoke_role(session, OPERATOR, "ci", "runner")
    session.commit()
    requester = authenticate(session, accounts.issue_token(session, OPERATOR, "ci").secret)
    assert Permission.JOB_CREATE not in requester.permissions
    assert jobs.cancel(session, requester, queued.id).ended


def test_a_cancelled_job_is_announced_as_cancelled_and_its_stream_ends(
    session: Session, ci: Actor, queued: Job
) -> None:
    jobs.cancel(session, ci, queued.id)
    assert queued.id in [j.id for j in jobs.unannounced(session)]
    event = completion_event(reread(session, queued.id))
    assert (event["status"], event["error"], event["artifacts"]) == (
        "cancelled",
        "cancelled by ci",
        [],
    )
    assert job_events.snapshot(session, ci, queued.id).final


# A cancel racing the completion, on committed rows and two connections.

ROUNDS = 12


@pytest.fixture(scope="module")
def committed() -> Iterator[sessionmaker[Session]]:
    with committed_database("autoglm_cancel") as factory:
        with factory() as session:
            factories.user(session, "ci", teams=["a"], roles=["runner"])
        yield factory


def race(factory: sessionmaker[Session], ci: Actor, delay: float) -> tuple[str, dict[str, object]]:
    """Complete a running job's attempt and cancel it at once (the completion `delay` s
    later); the job's final status and what each side was told."""
    with factory() as session:
        job = submitted(session, ci)
        attempt = running(session, job)
    barrier, answers = threading.Barrier(2), dict[str, object]()

    def finish() -> None:
        with factory() as session:
            barrier.wait()
            time.sleep(delay)
            answers["complete"] = jobs.complete(
                session, job.id, attempt, generation=[], artifacts=[ARTIFACT], timings={}
            )
            if not answers["complete"]:  # what the worker does when its completion is refused
                answers["ended_cancelled"] = jobs.end_cancelled(session, job.id, attempt, {})

    def stop() -> None:
        with factory() as session:
            barrier.wait()
            try:
                answers["cancel"] = jobs.cancel(session, ci, job.id).ended
            except Conflict as exc:
                answers["cancel"] = exc.code

    threads = [threading.Thread(target=finish), threading.Thread(target=stop)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with factory() as session:
        final = reread(session, job.id)
        if final.status == "succeeded":
            assert final.cancel_requested_at is None and len(final.artifacts) == 1
            assert answers == {"complete": True, "cancel": "job_finished"}
        else:
            assert final.status == "cancelled" and final.artifacts == []
            assert answers == {"complete": False, "ended_cancelled": True, "cancel": False}
        return final.status, answers


def test_a_cancel_at_the_moment_of_completion_ends_in_one_consistent_state(
    committed: sessionmaker[Session],
) -> None:
    with committed() as session:
        token = accounts.issue_token(session, OPERATOR, "ci").secret
        session.commit()
        ci = authenticate(session, token)
    endings = [race(committed, ci, delay=0.01 * (i % 4))[0] for i in range(ROUNDS)]
    assert set(endings) <= {"succeeded", "cancelled"}
    assert "cancelled" in endings  # the later completions lose to the cancel
