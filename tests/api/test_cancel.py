"""`POST /jobs/{id}/cancel`: 200 cancelled now, 202 asked to stop, 409 finished, 403/404 by
who asks, the same answer on a repeat, and the OpenAPI description."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from registry import jobs
from registry.models import AuditEntry
from tests import factories
from tests.factories import User
from tests.jobs_support import publish

BODY = {"template": "weekly", "inputs": {"team": "core"}}


def submit(api: TestClient, user: User) -> dict[str, Any]:
    response = api.post("/jobs", json=BODY, headers=user.headers)
    assert response.status_code == 202, response.text
    return dict(response.json())


def claimed(api: TestClient, user: User, session: Session) -> tuple[str, int]:
    """A job `user` submitted, claimed by a worker: its id and the attempt number."""
    claim = jobs.claim(session, submit(api, user)["id"], "w1", 60)
    assert claim is not None
    return claim.job.id, claim.attempt


def cancel(api: TestClient, user: User, job_id: str) -> Any:
    return api.post(f"/jobs/{job_id}/cancel", headers=user.headers)


def test_a_queued_job_is_cancelled_with_200_and_a_repeat_answers_the_same(
    api: TestClient, alice: User, published: str, session: Session
) -> None:
    job = submit(api, alice)
    first = cancel(api, alice, job["id"])
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "cancelled" and body["error"] == "cancelled by alice"
    assert body["cancel_requested_at"] and body["finished_at"] and body["artifacts"] == []
    again = cancel(api, alice, job["id"])
    assert again.status_code == 200 and again.json() == body
    assert api.get(job["url"], headers=alice.headers).json()["status"] == "cancelled"
    audits = session.scalars(select(AuditEntry).where(AuditEntry.target == job["id"])).all()
    assert [a.action for a in audits] == ["job.cancel"]


def test_a_running_job_answers_202_until_its_worker_ends_it(
    api: TestClient, alice: User, published: str, session: Session
) -> None:
    job_id, attempt = claimed(api, alice, session)
    asked = cancel(api, alice, job_id)
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "running" and asked.json()["cancel_requested_at"]
    repeat = cancel(api, alice, job_id)
    assert repeat.status_code == 202
    assert repeat.json()["cancel_requested_at"] == asked.json()["cancel_requested_at"]
    assert jobs.end_cancelled(session, job_id, attempt, {"total_seconds": 0.5})
    done = cancel(api, alice, job_id)
    assert done.status_code == 200 and done.json()["status"] == "cancelled"


def test_a_finished_job_answers_409_job_finished(
    api: TestClient, alice: User, published: str, session: Session
) -> None:
    job_id, attempt = claimed(api, alice, session)
    assert jobs.complete(session, job_id, attempt, generation=[], artifacts=[], timings={})
    refused = cancel(api, alice, job_id)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "job_finished"
    assert api.get(f"/jobs/{job_id}", headers=alice.headers).json()["status"] == "succeeded"


def test_only_creators_and_the_requester_may_cancel(
    api: TestClient, alice: User, bob: User, reader: User, published: str, session: Session
) -> None:
    job = submit(api, alice)
    hidden = cancel(api, bob, job["id"])
    missing = cancel(api, bob, "0" * 32)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["code"] == missing.json()["error"]["code"] == "job_not_found"
    refused = cancel(api, reader, job["id"])
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "cancel_forbidden"
    teammate = factories.user(session, "carol", teams=["a"], roles=["runner"])
    assert cancel(api, teammate, job["id"]).status_code == 200  # job:create on the template
    assert api.post(f"/jobs/{job['id']}/cancel").status_code == 401


def test_cancel_is_described_in_openapi(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    operation = spec["paths"]["/jobs/{job_id}/cancel"]["post"]
    assert {"200", "202", "403", "404", "409"} <= set(operation["responses"])
    assert "job_finished" in operation["description"]
    schema = operation["responses"]["202"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/JobOut")


def test_the_same_answers_on_postgresql_and_sqlite(
    any_api: TestClient, any_db: sessionmaker[Session]
) -> None:
    with any_db() as session:
        publish(session)
        owner = factories.user(session, "dana", teams=["a"], roles=["runner"])
        queued, (running, attempt) = submit(any_api, owner), claimed(any_api, owner, session)
    assert cancel(any_api, owner, queued["id"]).json()["status"] == "cancelled"
    assert cancel(any_api, owner, running).status_code == 202
    with any_db() as session:
        assert jobs.claim(session, queued["id"], "w2", 60) is None
        assert not jobs.complete(session, running, attempt, generation=[], artifacts=[], timings={})
        assert jobs.end_cancelled(session, running, attempt, {})
    assert [cancel(any_api, owner, i).status_code for i in (queued["id"], running)] == [200, 200]
