"""The webhooks API: manage with `schedule:write`, deliver with a signature; 401 queues nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry import audit
from registry.models import Job
from tests.factories import User
from tests.jobs_support import RecordingQueue
from triggers.webhooks import sign

SECRET = "a-long-enough-secret"
HOOK = {"name": "on-push", "template": "weekly", "inputs": {"team": "$.repository.name"}}
PAYLOAD = json.dumps({"repository": {"name": "docgen"}}).encode()


@pytest.fixture
def hook(api: TestClient, alice: User, published: str) -> dict[str, Any]:
    response = api.post("/webhooks", json=HOOK | {"secret": SECRET}, headers=alice.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Job)) or 0


def deliver(api: TestClient, body: bytes = PAYLOAD, *, secret: str = SECRET, **headers: str) -> Any:
    signature = {"X-Hub-Signature-256": sign(secret, body)} if secret else {}
    extra = {k.replace("_", "-"): v for k, v in headers.items()}
    return api.post(
        "/hooks/on-push",
        content=body,
        headers={"Content-Type": "application/json"} | signature | extra,
    )


def test_create_shows_the_secret_once(
    api: TestClient, alice: User, published: str, session: Session
) -> None:
    created = api.post("/webhooks", json=HOOK, headers=alice.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == body["url"] == "/webhooks/on-push"
    assert body["hook_url"] == "/hooks/on-push" and body["owner"] == "alice"
    assert body["template"] == "weekly" and body["inputs"] == HOOK["inputs"]
    assert len(body["secret"]) >= 32  # generated
    for response in (
        api.get("/webhooks/on-push", headers=alice.headers),
        api.get("/webhooks", headers=alice.headers),
    ):
        assert response.status_code == 200
        assert "secret" not in response.text and body["secret"] not in response.text
    [entry] = audit.entries(session, target_type="webhook", target="on-push")
    assert entry.action == "webhook.create" and body["secret"] not in json.dumps(entry.details)


def test_list_get_and_delete(
    api: TestClient, alice: User, admin: User, hook: dict[str, Any], session: Session
) -> None:
    assert [h["name"] for h in api.get("/webhooks", headers=alice.headers).json()] == ["on-push"]
    assert [h["name"] for h in api.get("/webhooks", headers=admin.headers).json()] == ["on-push"]
    assert api.delete("/webhooks/on-push", headers=alice.headers).status_code == 204
    gone = api.get("/webhooks/on-push", headers=alice.headers)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "webhook_not_found"
    assert deliver(api).status_code == 404  # deliveries stop with it
    actions = [e.action for e in audit.entries(session, target_type="webhook")]
    assert actions == ["webhook.delete", "webhook.create"]


def test_only_schedule_writers_of_the_template_see_and_manage_it(
    api: TestClient, bob: User, reader: User, hook: dict[str, Any]
) -> None:
    # bob (another team) cannot see the template: 404, exactly like a missing webhook.
    assert api.get("/webhooks", headers=bob.headers).json() == []
    for response in (
        api.get("/webhooks/on-push", headers=bob.headers),
        api.delete("/webhooks/on-push", headers=bob.headers),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "webhook_not_found"
    hidden = api.post("/webhooks", json=HOOK | {"name": "b"}, headers=bob.headers)
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "template_not_found"
    # reader (team a, viewer) sees the template but lacks schedule:write: 403.
    assert api.get("/webhooks", headers=reader.headers).json() == []
    assert api.get("/webhooks/on-push", headers=reader.headers).status_code == 403
    assert api.delete("/webhooks/on-push", headers=reader.headers).status_code == 403
    refused = api.post("/webhooks", json=HOOK | {"name": "r"}, headers=reader.headers)
    assert refused.status_code == 403 and "schedule:write" in refused.json()["error"]["message"]
    assert api.get("/webhooks").status_code == 401  # managing needs a bearer token


@pytest.mark.parametrize(
    ("change", "status", "code", "needle"),
    [
        ({"name": "On Push"}, 422, "invalid_name", "lowercase letters, digits"),
        ({"name": "-x"}, 422, "invalid_name", "starting with a letter or digit"),
        ({"name": "on-push\n"}, 422, "invalid_name", "lowercase letters, digits"),
        ({"secret": "short"}, 422, "invalid_secret", "secret must be 16 to 200"),
        ({"inputs": {"team": "$.a..b"}}, 422, "invalid_inputs", "is not a payload path"),
        ({"inputs": {"colour": "red"}}, 422, "invalid_inputs", "no such variable"),
        ({"formats": ["tiff"]}, 422, "invalid_formats", "unknown export format 'tiff'"),
        ({"version": "9"}, 404, "version_not_found", "has no version '9'"),
        ({"template": "nope"}, 404, "template_not_found", "template 'nope' not found"),
        ({"surprise": 1}, 422, "invalid_request", "surprise"),
    ],
)
def test_bad_webhooks_are_refused_clearly(
    api: TestClient,
    alice: User,
    published: str,
    change: dict[str, Any],
    status: int,
    code: str,
    needle: str,
) -> None:
    response = api.post("/webhooks", json=HOOK | change, headers=alice.headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert needle in response.json()["error"]["message"]
    assert api.get("/webhooks", headers=alice.headers).json() == []


def test_a_taken_name_is_a_conflict(api: TestClient, alice: User, hook: dict[str, Any]) -> None:
    again = api.post("/webhooks", json=HOOK, headers=alice.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "webhook_exists"


def test_a_signed_delivery_queues_a_job_without_a_bearer_token(
    api: TestClient, alice: User, hook: dict[str, Any], queue: RecordingQueue
) -> None:
    response = deliver(api, X_GitHub_Delivery="delivery-1", X_Trace_Id="trace-9")
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == job["url"] == f"/jobs/{job['id']}"
    assert job["status"] == "queued" and job["inputs"] == {"team": "docgen"}
    assert job["requested_by"] == "alice" and job["trace_id"] == "trace-9"
    assert job["idempotency_key"] == "webhook:on-push:delivery-1"
    assert queue.sent == [(job["id"], 0.0)]
    seen = api.get("/webhooks/on-push", headers=alice.headers).json()
    assert seen["last_delivery_at"] is not None


def test_the_secret_as_bearer_token_also_delivers(
    api: TestClient, hook: dict[str, Any], queue: RecordingQueue
) -> None:
    response = deliver(api, secret="", Authorization=f"Bearer {SECRET}")
    assert response.status_code == 202, response.text
    assert len(queue.sent) == 1


@pytest.mark.parametrize(
    ("body", "secret", "headers", "code", "needle"),
    [
        (PAYLOAD, "", {"X-Hub-Signature-256": sign(SECRET, b"{}")}, "bad_signature", "match"),
        (PAYLOAD, "wrong-secret-wrong-secret", {}, "bad_signature", "does not match"),
        (PAYLOAD, "", {}, "missing_signature", "missing signature"),
        (PAYLOAD, "", {"Authorization": "Bearer nope"}, "bad_signature", "bearer token"),
    ],
)
def test_a_bad_signature_is_401_and_queues_nothing(
    api: TestClient,
    hook: dict[str, Any],
    queue: RecordingQueue,
    session: Session,
    body: bytes,
    secret: str,
    headers: dict[str, str],
    code: str,
    needle: str,
) -> None:
    response = deliver(api, body, secret=secret, **headers)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == code
    assert needle in response.json()["error"]["message"]
    assert count(session) == 0 and queue.sent == []


def test_a_repeated_delivery_id_returns_the_same_job(
    api: TestClient, hook: dict[str, Any], queue: RecordingQueue, session: Session
) -> None:
    first = deliver(api, X_GitHub_Delivery="same-id")
    second = deliver(api, X_GitHub_Delivery="same-id")
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] == second.json()["id"]
    assert count(session) == 1 and len(queue.sent) == 1


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        (b"{oops", "invalid_json", "the delivery body is not valid JSON"),
        (b'{"repository": {}}', "payload_path_missing", "no value at $.repository.name"),
    ],
)
def test_an_unusable_payload_is_422_and_queues_nothing(
    api: TestClient,
    hook: dict[str, Any],
    queue: RecordingQueue,
    session: Session,
    body: bytes,
    code: str,
    needle: str,
) -> None:
    response = deliver(api, body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert needle in response.json()["error"]["message"]
    assert count(session) == 0 and queue.sent == []


def test_an_unknown_hook_is_404(api: TestClient, published: str) -> None:
    response = deliver(api)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "webhook_not_found"
