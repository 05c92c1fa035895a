"""The sweeper resends what a lost message left behind and buries jobs whose worker died."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.settings import Settings
from registry import jobs
from registry.accounts import authenticate
from registry.models import Job, utcnow
from registry.storage import LocalArtifactStore, attempt_key
from tests import factories
from tests.jobs_support import RecordingQueue, publish
from triggers.submit import JobRequest, submit
from triggers.sweeper import sweep


def submitted(session: Session, key: str) -> Job:
    user = factories.user(session, f"ci-{key}", teams=["a"], roles=["runner"])
    actor = authenticate(session, user.token)
    request = JobRequest("weekly", {"team": key})
    return submit(session, actor, request, RecordingQueue(), Settings()).job


def age(session: Session, job_id: str, **values: object) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(**values))
    session.commit()


def test_sweep_resends_stuck_jobs_once_and_buries_lost_last_attempts(session: Session) -> None:
    publish(session)
    past = utcnow() - timedelta(minutes=10)
    fresh = submitted(session, "fresh")
    lost_message = submitted(session, "lost")
    age(session, lost_message.id, dispatched_at=past)
    crashed = submitted(session, "crashed")
    assert jobs.claim(session, crashed.id, "w", 60) is not None
    age(session, crashed.id, lease_expires_at=past, dispatched_at=past)
    last = submitted(session, "last")
    age(session, last.id, attempts=2)
    assert jobs.claim(session, last.id, "w", 60) is not None
    age(session, last.id, lease_expires_at=past)

    queue = RecordingQueue()
    assert sweep(session, queue, resend_after=60) == 2
    assert sorted(job_id for job_id, _ in queue.sent) == sorted([lost_message.id, crashed.id])
    assert fresh.id not in {job_id for job_id, _ in queue.sent}
    buried = session.get(Job, last.id, populate_existing=True)
    assert buried is not None and buried.status == "dead"
    assert "lease expired" in (buried.error or "")
    assert sweep(session, queue, resend_after=60) == 0  # just resent: not again yet


def test_a_job_waiting_in_a_backlog_is_resent_ever_more_rarely(session: Session) -> None:
    publish(session)
    waiting = submitted(session, "backlog")
    now = utcnow()
    # Created 40 minutes ago, last sent 30 minutes ago (after 10 minutes of waiting): with
    # resend_after 5 minutes it is due again (30 >= max(5, 10)).
    age(
        session,
        waiting.id,
        created_at=now - timedelta(minutes=40),
        dispatched_at=now - timedelta(minutes=30),
    )
    queue = RecordingQueue()
    assert sweep(session, queue, resend_after=300) == 1
    # Just sent after 40 minutes of waiting: not again for 40 minutes, though 5 have passed.
    age(session, waiting.id, dispatched_at=utcnow() - timedelta(minutes=6))
    assert sweep(session, queue, resend_after=300) == 0
    # Created 80 minutes ago, sent 41 minutes ago after 39 minutes of waiting: due again.
    age(
        session,
        waiting.id,
        created_at=utcnow() - timedelta(minutes=80),
        dispatched_at=utcnow() - timedelta(minutes=41),
    )
    assert sweep(session, queue, resend_after=300) == 1


def test_a_cancel_whose_worker_died_ends_cancelled_and_its_files_go(
    session: Session, tmp_path: Path
) -> None:
    publish(session)
    store = LocalArtifactStore(tmp_path)
    job = submitted(session, "cancel-lost")
    assert jobs.claim(session, job.id, "w", 60) is not None
    uri = store.put(attempt_key(job.id, 1, "weekly.pdf"), b"%PDF-", "application/pdf")
    age(session, job.id, cancel_requested_at=utcnow(), lease_expires_at=utcnow() - timedelta(1))

    sweep(session, RecordingQueue(), resend_after=60, store=store)

    ended = session.get(Job, job.id, populate_existing=True)
    assert ended is not None and ended.status == "cancelled" and not ended.artifacts
    assert not store.exists(uri)
    assert not (tmp_path / job.id).exists()
