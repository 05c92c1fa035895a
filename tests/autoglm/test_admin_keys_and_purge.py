"""`autoglm admin` for secrets at rest, principals and purges, on a committed PostgreSQL
database, as an operator runs them; and startup refusing secrets it cannot decrypt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import migrations
from api.app import create_app
from autoglm.runtime import ensure_migrated, require_secret_keys
from core.db import make_engine, session_factory
from core.errors import ConfigError
from core.settings import Settings
from registry import webhooks
from registry.models import AuditEntry, Job, Webhook
from registry.storage import LocalArtifactStore
from tests import factories
from tests.autoglm.run import autoglm
from tests.database import fresh_database
from tests.factories import OPERATOR
from tests.jobs_support import publish
from tests.retention_support import make_job

KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()
SECRET = "the-webhook-secret-of-record"
LEGACY = "a-plain-text-legacy-secret"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with fresh_database() as made:
        migrations.upgrade(made)
        yield made


@pytest.fixture(scope="module")
def engine(url: str) -> Iterator[Engine]:
    made = make_engine(url)
    with session_factory(made)() as session:
        publish(session)
    yield made
    made.dispose()


def sessions(engine: Engine) -> Session:
    return session_factory(engine)()


def test_purge_job_removes_the_files_and_keeps_the_row(
    url: str, engine: Engine, tmp_path: Path
) -> None:
    store = LocalArtifactStore(tmp_path)
    with sessions(engine) as session:
        job = make_job(session, store, "weekly", days_ago=1)
        session.commit()
        job_id, uri = job.id, job.artifacts[0].uri
    env = {"AUTOGLM_DATABASE_URL": url, "AUTOGLM_ARTIFACT_DIR": str(tmp_path)}

    purged = autoglm("admin", "purge-job", job_id, env=env)

    assert purged.returncode == 0, purged.stderr
    assert f"job {job_id} files purged" in purged.stdout
    assert not store.exists(uri)
    with sessions(engine) as session:
        row = session.get(Job, job_id)
        assert row is not None and row.files_purged_at is not None and row.artifacts == []
        audit = session.scalars(select(AuditEntry).where(AuditEntry.target == job_id)).one()
        assert audit.action == "job.purge" and audit.actor_name.startswith("cli:")
    missing = autoglm("admin", "purge-job", "nope", env=env)
    assert (missing.returncode, missing.stderr) == (2, "error: job 'nope' not found\n")


def test_disable_and_enable_a_principal(url: str, engine: Engine) -> None:
    with sessions(engine) as session:
        ci = factories.user(session, "ci-bot", teams=["a"], roles=["viewer"])
    env = {"AUTOGLM_DATABASE_URL": url}
    app = create_app(Settings(database_url=url), sessions=session_factory(engine))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/templates", headers=ci.headers).status_code == 200

        assert autoglm("admin", "principal", "disable", "ci-bot", env=env).returncode == 0
        refused = client.get("/templates", headers=ci.headers)
        assert refused.status_code == 401
        listing = autoglm("admin", "principal", "list", env=env).stdout
        assert "ci-bot\tperson\tdisabled " in listing

        assert autoglm("admin", "principal", "enable", "ci-bot", env=env).returncode == 0
        assert client.get("/templates", headers=ci.headers).status_code == 200
    tokens = autoglm("admin", "token", "list", "--principal", "ci-bot", env=env).stdout
    assert "last used 20" in tokens  # the requests above recorded it
    with sessions(engine) as session:
        actions = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.target == "ci-bot", AuditEntry.action.like("principal.%able"))
            .order_by(AuditEntry.id)
        ).all()
    assert actions == ["principal.disable", "principal.enable"]
    ghost = autoglm("admin", "principal", "disable", "ghost", env=env)
    assert (ghost.returncode, ghost.stderr) == (2, "error: principal 'ghost' not found\n")


def serve(url: str, keys: str) -> tuple[int, list[str]]:
    """`autoglm serve` up to its startup checks: its exit code and its error lines."""
    env = {
        "AUTOGLM_DATABASE_URL": url,
        "AUTOGLM_SECRET_KEYS": keys,
        "AUTOGLM_BROKER_URL": "redis://127.0.0.1:6379/15",
        "AUTOGLM_API_PORT": "1",  # never reached: it stops before serving
    }
    result = autoglm("serve", env=env)
    return result.returncode, [line for line in result.stderr.splitlines() if "error" in line]


def test_rotation_and_startup_without_the_key(url: str, engine: Engine) -> None:
    with sessions(engine) as session:
        webhooks.create(
            session,
            OPERATOR,
            name="under-a",
            template="weekly",
            secret=SECRET,
            settings=Settings(secret_keys=KEY_A),
        )
        template_id = session.scalars(select(Webhook.template_id)).one()
        session.add(Webhook(name="legacy", template_id=template_id, secret=LEGACY))
        session.commit()

    assert serve(url, "") == (
        2,
        ["error: AUTOGLM_SECRET_KEYS is not set: cannot decrypt the secret of webhook(s) under-a"],
    )
    # Workers, the scheduler and the bridge never decrypt them: they start without the key.
    ensure_migrated(Settings(database_url=url, secret_keys=""))
    code, lines = serve(url, KEY_B)
    assert code == 2 and lines == [
        "error: AUTOGLM_SECRET_KEYS holds none of their keys: cannot decrypt the secret of "
        "webhook(s) under-a"
    ]
    env = {"AUTOGLM_DATABASE_URL": url}
    no_key = autoglm("admin", "rotate-secrets", env=env | {"AUTOGLM_SECRET_KEYS": ""})
    assert no_key.returncode == 2 and "AUTOGLM_SECRET_KEYS is not set" in no_key.stderr

    rotated = autoglm(
        "admin", "rotate-secrets", env=env | {"AUTOGLM_SECRET_KEYS": f"{KEY_B},{KEY_A}"}
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "2 webhook secret(s) encrypted under the first key" in rotated.stdout

    only_b = Settings(database_url=url, secret_keys=KEY_B)
    require_secret_keys(only_b)  # starts now with B alone
    with pytest.raises(ConfigError):
        require_secret_keys(Settings(database_url=url, secret_keys=KEY_A))
    with sessions(engine) as session:
        hooks = {h.name: h for h in session.scalars(select(Webhook))}
        assert all(h.secret.startswith("fernet:") for h in hooks.values())
        assert webhooks.secret_of(hooks["under-a"], only_b) == SECRET
        assert webhooks.secret_of(hooks["legacy"], only_b) == LEGACY
