"""Webhook deliveries: signatures on the raw body, payload paths, one job per delivery id, RBAC
checked as the owner at delivery time, and nothing queued on any failure."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.settings import Settings
from registry import accounts, webhooks
from registry.accounts import authenticate
from registry.errors import Forbidden, Invalid, NotFound, Unauthenticated
from registry.models import Job, Webhook, utcnow
from registry.permissions import Actor
from tests import factories
from tests.factories import OPERATOR
from tests.jobs_support import RecordingQueue, publish
from triggers.webhooks import deliver, map_inputs, sign, verify

SETTINGS = Settings()
SECRET = "s3cret-s3cret-s3cret"
BODY = json.dumps({"repository": {"name": "docgen"}, "commits": [{"id": "abc"}]}).encode()
MAPPING = {"team": "$.repository.name", "count": 3}


def maintainer(session: Session, name: str = "alice") -> Actor:
    user = factories.user(session, name, teams=["a"], roles=["maintainer"])
    return authenticate(session, user.token)


def hook(session: Session, owner: Actor, name: str = "on-push") -> str:
    publish(session)
    webhooks.create(session, owner, name=name, template="weekly", inputs=MAPPING, secret=SECRET)
    session.commit()
    return name


def signed(
    body: bytes = BODY, secret: str = SECRET, extra: dict[str, str] | None = None
) -> dict[str, str]:
    return {"X-Hub-Signature-256": sign(secret, body)} | (extra or {})


def job_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Job)) or 0


def test_a_matching_signature_passes_in_either_hex_case() -> None:
    verify(SECRET, BODY, signed())
    verify(SECRET, BODY, {"x-hub-signature-256": sign(SECRET, BODY).upper().replace("SHA", "sha")})


@pytest.mark.parametrize(
    ("headers", "code", "needle"),
    [
        (signed(BODY + b" "), "bad_signature", "does not match the body"),
        (signed(secret="another-secret-value"), "bad_signature", "does not match the body"),
        ({"X-Hub-Signature-256": "sha1=abc"}, "bad_signature", "malformed X-Hub-Signature-256"),
        ({}, "missing_signature", "missing signature: send X-Hub-Signature-256"),
        ({"X-Other": "1"}, "missing_signature", "or Authorization: Bearer"),
        ({"Authorization": "Bearer wrong"}, "bad_signature", "bearer token does not match"),
        ({"Authorization": f"Basic {SECRET}"}, "bad_signature", "malformed Authorization"),
    ],
)
def test_a_bad_or_missing_signature_is_refused_with_a_reason(
    headers: dict[str, str], code: str, needle: str
) -> None:
    with pytest.raises(Unauthenticated) as refused:
        verify(SECRET, BODY, headers)
    assert refused.value.code == code
    assert needle in str(refused.value)


def test_the_secret_as_a_bearer_token_passes() -> None:
    verify(SECRET, BODY, {"Authorization": f"Bearer {SECRET}"})
    verify(SECRET, b"anything", {"authorization": f"bearer {SECRET}"})


def test_map_inputs_reads_paths_and_keeps_literals() -> None:
    payload = {"a": {"b": [{"c": "deep"}, 7]}, "flag": False}
    mapping = {
        "x": "$.a.b.0.c",
        "y": "$.a.b.1",
        "z": "$.flag",
        "whole": "$.a",
        "literal": "plain text",
        "n": 5,
        "items": ["$.not.a.path.inside.a.list"],
    }
    assert map_inputs(mapping, payload) == {
        "x": "deep",
        "y": 7,
        "z": False,
        "whole": {"b": [{"c": "deep"}, 7]},
        "literal": "plain text",
        "n": 5,
        "items": ["$.not.a.path.inside.a.list"],
    }


@pytest.mark.parametrize("path", ["$.a.missing", "$.a.b.2", "$.a.b.x", "$.flag.deeper"])
def test_a_missing_path_names_the_path_and_the_input(path: str) -> None:
    payload = {"a": {"b": [1, 2]}, "flag": True}
    with pytest.raises(Invalid) as refused:
        map_inputs({"team": path}, payload)
    assert refused.value.code == "payload_path_missing"
    assert f"no value at {path} (for input 'team')" in str(refused.value)


def test_a_delivery_makes_one_job_and_a_repeat_returns_it(session: Session) -> None:
    name = hook(session, maintainer(session))
    queue = RecordingQueue()
    headers = signed(extra={"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"})
    first = deliver(session, name, BODY, headers, dispatcher=queue, settings=SETTINGS)
    second = deliver(session, name, BODY, headers, dispatcher=queue, settings=SETTINGS)
    assert first.created and not second.created
    assert second.job.id == first.job.id and job_count(session) == 1
    assert queue.sent == [(first.job.id, 0.0)]
    job = first.job
    assert job.inputs == {"team": "docgen", "count": 3} and job.requested_by == "alice"
    assert job.idempotency_key == f"webhook:{name}:72d3162e-cc78-11e3-81ab-4c9367dc0958"
    row = session.scalar(select(Webhook).where(Webhook.name == name))
    assert row is not None and row.last_delivery_at is not None


def test_delivery_id_headers_in_order_and_none_means_a_new_job(session: Session) -> None:
    name = hook(session, maintainer(session))
    queue = RecordingQueue()
    by_id = deliver(
        session,
        name,
        BODY,
        signed(extra={"X-Delivery-Id": "d-1"}),
        dispatcher=queue,
        settings=SETTINGS,
    )
    assert by_id.job.idempotency_key == f"webhook:{name}:d-1"
    by_key = deliver(
        session,
        name,
        BODY,
        signed(extra={"Idempotency-Key": "k-1"}),
        dispatcher=queue,
        settings=SETTINGS,
    )
    assert by_key.job.idempotency_key == f"webhook:{name}:k-1"
    both = signed(extra={"X-GitHub-Delivery": "g-1", "X-Delivery-Id": "d-2"})
    assert deliver(
        session, name, BODY, both, dispatcher=queue, settings=SETTINGS
    ).job.idempotency_key.endswith(":g-1")
    plain_one = deliver(session, name, BODY, signed(), dispatcher=queue, settings=SETTINGS)
    plain_two = deliver(session, name, BODY, signed(), dispatcher=queue, settings=SETTINGS)
    assert plain_one.created and plain_two.created and plain_one.job.id != plain_two.job.id
    assert job_count(session) == 5


def test_the_trace_id_follows_the_jobs_api_rule(session: Session) -> None:
    name = hook(session, maintainer(session))
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    traced = deliver(
        session,
        name,
        BODY,
        signed(extra={"traceparent": parent}),
        dispatcher=RecordingQueue(),
        settings=SETTINGS,
    )
    assert traced.job.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    ("body", "headers", "error", "needle"),
    [
        (BODY, signed(BODY.replace(b"docgen", b"evil")), Unauthenticated, "does not match"),
        (BODY, {}, Unauthenticated, "missing signature"),
        (b"{not json", signed(b"{not json"), Invalid, "not valid JSON"),
        (b"[NaN]", signed(b"[NaN]"), Invalid, "not valid JSON"),
        (b"{}", signed(b"{}"), Invalid, "no value at $.repository.name"),
        (BODY, signed(extra={"X-Delivery-Id": "has space"}), Invalid, "X-Delivery-Id must be"),
    ],
)
def test_a_failed_delivery_queues_nothing(
    session: Session, body: bytes, headers: dict[str, str], error: type, needle: str
) -> None:
    name = hook(session, maintainer(session))
    queue = RecordingQueue()
    with pytest.raises(error) as refused:
        deliver(session, name, body, headers, dispatcher=queue, settings=SETTINGS)
    assert needle in str(refused.value)
    assert job_count(session) == 0 and queue.sent == []


def test_an_unknown_webhook_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound) as missing:
        deliver(session, "nope", BODY, signed(), dispatcher=RecordingQueue(), settings=SETTINGS)
    assert missing.value.code == "webhook_not_found"


def test_the_owner_is_checked_at_delivery_time(session: Session) -> None:
    name = hook(session, maintainer(session))
    accounts.revoke_role(session, OPERATOR, "alice", "maintainer")
    accounts.grant_role(session, OPERATOR, "alice", "viewer")  # sees it, may not run it
    session.commit()
    queue = RecordingQueue()
    with pytest.raises(Forbidden) as refused:
        deliver(session, name, BODY, signed(), dispatcher=queue, settings=SETTINGS)
    assert "lacks job:create" in str(refused.value)
    assert job_count(session) == 0 and queue.sent == []


def test_a_disabled_owner_stops_the_webhook(session: Session) -> None:
    name = hook(session, maintainer(session))
    accounts.get_principal(session, "alice").disabled_at = utcnow()
    session.commit()
    queue = RecordingQueue()
    with pytest.raises(Forbidden) as refused:
        deliver(session, name, BODY, signed(), dispatcher=queue, settings=SETTINGS)
    assert refused.value.code == "webhook_owner_unavailable"
    assert job_count(session) == 0 and queue.sent == []
