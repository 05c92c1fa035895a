"""Webhook secrets at rest: encrypted under the first key, decrypted by any of the ring, so a
key rotates without breaking deliveries; tokens record their last use, throttled."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from core.errors import ConfigError
from core.settings import Settings
from registry import accounts, secrets, webhooks
from registry.errors import Conflict
from registry.models import ApiToken, Webhook, utcnow
from registry.permissions import Actor
from tests.factories import User
from tests.jobs_support import RecordingQueue
from triggers.webhooks import sign

KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()
SECRET = "a-secret-nobody-may-read-at-rest"
PAYLOAD = json.dumps({"repository": {"name": "docgen"}}).encode()


def create(session: Session, actor: Actor, keys: str | None, name: str = "on-push") -> Webhook:
    hook, _ = webhooks.create(
        session,
        actor,
        name=name,
        template="weekly",
        inputs={"team": "$.repository.name"},
        secret=SECRET,
        settings=Settings(secret_keys=keys),
    )
    session.commit()
    return hook


@pytest.fixture
def owner(session: Session, alice: User, published: str) -> Actor:
    return accounts.authenticate(session, alice.token)


@pytest.fixture
def app_with(db: sessionmaker[Session]) -> Iterator[Callable[[str], TestClient]]:
    """`app_with(keys)`: a client of the real app whose key ring is `keys`."""
    clients: list[TestClient] = []

    def make(keys: str) -> TestClient:
        app = create_app(Settings(secret_keys=keys), sessions=db, dispatcher=RecordingQueue())
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def deliver(client: TestClient, delivery: str) -> int:
    headers = {"X-Hub-Signature-256": sign(SECRET, PAYLOAD), "X-Delivery-Id": delivery}
    status: int = client.post("/hooks/on-push", content=PAYLOAD, headers=headers).status_code
    return status


def test_no_text_column_of_the_database_holds_the_secret(session: Session, owner: Actor) -> None:
    hook = create(session, owner, KEY_A)
    assert hook.secret.startswith("fernet:") and SECRET not in hook.secret
    columns = session.execute(
        text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN "
            "('text', 'character varying', 'json', 'jsonb')"
        )
    ).all()
    assert ("webhooks", "secret") in columns
    for table, column in columns:
        found = session.scalar(
            text(f'SELECT count(*) FROM "{table}" WHERE "{column}"::text LIKE :secret'),
            {"secret": f"%{SECRET}%"},
        )
        assert found == 0, (table, column)


def test_deliveries_verify_through_a_rotation(
    session: Session, owner: Actor, app_with: Callable[[str], TestClient]
) -> None:
    create(session, owner, KEY_A)
    make = app_with
    assert deliver(make(KEY_A), "1") == 202
    assert deliver(make(f"{KEY_B},{KEY_A}"), "2") == 202  # B added in front: A still decrypts

    assert (
        webhooks.rotate_secrets(
            session, owner, secrets.key_ring(Settings(secret_keys=f"{KEY_B},{KEY_A}"))
        )
        == 1
    )
    session.commit()

    assert deliver(make(KEY_B), "3") == 202  # A dropped after the rotation
    assert deliver(make(KEY_A), "4") != 202  # A alone no longer decrypts it
    stored = session.scalars(select(Webhook.secret)).one()
    assert secrets.decrypt(secrets.key_ring(Settings(secret_keys=KEY_B)), stored) == SECRET
    with pytest.raises(ConfigError, match="AUTOGLM_SECRET_KEYS holds none"):
        secrets.decrypt(secrets.key_ring(Settings(secret_keys=KEY_A)), stored)


def test_a_webhook_is_refused_without_a_key(
    session: Session, owner: Actor, alice: User, api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(Conflict, match="AUTOGLM_SECRET_KEYS") as refused:
        create(session, owner, None)
    assert refused.value.code == "secret_keys_missing"
    state = api.app.state  # type: ignore[attr-defined]
    monkeypatch.setattr(state, "settings", state.settings.model_copy(update={"secret_keys": None}))
    answer = api.post(
        "/webhooks", json={"name": "on-push", "template": "weekly"}, headers=alice.headers
    )
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "secret_keys_missing"
    assert "AUTOGLM_SECRET_KEYS" in answer.json()["error"]["message"]
    assert session.scalars(select(Webhook)).all() == []


def test_a_malformed_key_is_named_by_position_not_shown() -> None:
    with pytest.raises(ConfigError) as bad:
        secrets.key_ring(Settings(secret_keys=f"{KEY_A}, not-a-key"))
    assert "AUTOGLM_SECRET_KEYS: key 2 is not a Fernet key" in str(bad.value)
    assert "not-a-key" not in str(bad.value)


def test_last_used_at_is_recorded_at_most_once_a_minute(session: Session, alice: User) -> None:
    token = session.scalars(select(ApiToken)).one()
    assert token.last_used_at is None
    accounts.authenticate(session, alice.token)
    first = session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token.id))
    assert first is not None and utcnow() - first < timedelta(seconds=10)

    recent = utcnow() - timedelta(seconds=30)
    session.execute(update(ApiToken).values(last_used_at=recent))
    accounts.authenticate(session, alice.token)
    assert session.scalar(select(ApiToken.last_used_at)) == recent  # throttled: unchanged

    stale = utcnow() - timedelta(minutes=2)
    session.execute(update(ApiToken).values(last_used_at=stale))
    accounts.authenticate(session, alice.token)
    assert session.scalar(select(ApiToken.last_used_at)) > stale  # type: ignore[operator]
