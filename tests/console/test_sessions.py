"""Session cookies without a browser: signatures, expiry, the Secure flag, safe redirects."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

import migrations
from api.app import create_app
from console import sessions
from console.sessions import ConsoleSession, ConsoleSettings, Signer
from console.signing import _safe_next
from core.db import make_engine, session_factory
from core.settings import Settings
from tests import factories
from tests.factories import User
from tests.jobs_support import RecordingQueue


@pytest.fixture
def app_and_user(tmp_path: Path) -> Iterator[tuple[TestClient, User]]:
    url = f"sqlite:///{tmp_path / 'autoglm.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    with factory() as session:
        user = factories.user(session, "alice", teams=["a"], roles=["viewer"])
    app = create_app(
        Settings(database_url=url, artifact_dir=tmp_path),
        sessions=factory,
        dispatcher=RecordingQueue(),
    )
    with TestClient(app, base_url="https://console.test") as client:
        yield client, user
    engine.dispose()


def test_https_sign_in_sets_a_secure_httponly_lax_cookie_with_an_expiry(
    app_and_user: tuple[TestClient, User],
) -> None:
    client, user = app_and_user
    form = client.get("/console/sign-in")
    assert form.status_code == 200
    assert form.headers["content-security-policy"].startswith("default-src 'self'")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    signed = client.post(
        "/console/sign-in",
        data={"token": user.token, "csrf": csrf, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/console/templates"  # no open redirect
    cookie = next(
        c for c in signed.headers.get_list("set-cookie") if c.startswith("autoglm_console=")
    )
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "max-age", "path", "samesite"} <= flags
    assert "samesite=lax" in cookie.lower()
    assert user.token not in cookie
    assert client.get("/console/templates").status_code == 200


def test_root_redirects_to_the_console(app_and_user: tuple[TestClient, User]) -> None:
    client, _ = app_and_user
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/console"
    assert "/console" not in str(client.get("/openapi.json").json()["paths"])


def test_a_tampered_or_expired_cookie_is_nobody() -> None:
    signer = Signer(b"k" * 32)
    good = sessions.encode(signer, ConsoleSession("ab" * 32, int(time.time()) + 60, "n"))
    assert sessions.decode(signer, good) is not None
    body, mac = good.split(".")
    assert (
        sessions.decode(signer, body[:-1] + ("A" if body[-1] != "A" else "B") + "." + mac) is None
    )
    assert sessions.decode(Signer(b"x" * 32), good) is None
    assert sessions.decode(signer, "garbage") is None
    assert sessions.decode(signer, None) is None
    old = sessions.encode(signer, ConsoleSession("ab" * 32, int(time.time()) - 1, "n"))
    assert sessions.decode(signer, old) is None


def test_the_key_comes_from_the_secret_or_is_random_per_process() -> None:
    fixed = ConsoleSettings(secret=SecretStr("s3cret"))
    one, two = Signer.from_settings(fixed), Signer.from_settings(fixed)
    assert one.mac("p", "v") == two.mac("p", "v")
    random_one = Signer.from_settings(ConsoleSettings(secret=None))
    random_two = Signer.from_settings(ConsoleSettings(secret=None))
    assert random_one.mac("p", "v") != random_two.mac("p", "v")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/console/templates/weekly", "/console/templates/weekly"),
        ("//evil.example/console/", "/console/templates"),
        ("https://evil.example/console/", "/console/templates"),
        ("/console/\\evil", "/console/templates"),
        ("/elsewhere", "/console/templates"),
        ("", "/console/templates"),
    ],
)
def test_only_console_paths_are_followed_after_sign_in(target: str, expected: str) -> None:
    assert _safe_next(target) == expected
