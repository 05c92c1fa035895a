"""`autoglm db` and `autoglm admin` on the embedded SQLite default, as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

import migrations
from core.db import make_engine, session_factory
from registry import accounts
from registry.errors import Unauthenticated
from tests.autoglm.run import autoglm


def test_bootstrap_an_admin_then_manage_accounts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'autoglm.db'}"
    env = {"AUTOGLM_DATABASE_URL": url}

    early = autoglm("admin", "init", env=env)
    assert early.returncode == 2
    assert "not migrated; run `autoglm db upgrade`" in early.stderr

    migrated = autoglm("db", "upgrade", env=env)
    assert migrated.returncode == 0, migrated.stderr
    head = migrations.head()
    assert f"database at {head}" in migrated.stdout
    assert f"latest: {head}" in autoglm("db", "current", env=env).stdout

    clean = autoglm("admin", "check-artifacts", "--verify", env=env)
    assert (clean.returncode, clean.stdout) == (0, "")

    init = autoglm("admin", "init", env=env)
    assert init.returncode == 0, init.stderr
    admin_token = init.stdout.strip()
    assert admin_token.startswith("agl_") and "\n" not in admin_token
    again = autoglm("admin", "init", env=env)
    assert again.returncode == 2
    assert again.stderr.strip() == (
        "error: already initialised; use `autoglm admin token create` for tokens"
    )

    for args in (
        ["team", "create", "docs"],
        ["principal", "create", "ci", "--team", "docs", "--role", "runner", "--service"],
        ["principal", "grant", "ci", "viewer"],
    ):
        result = autoglm("admin", *args, env=env)
        assert result.returncode == 0, (args, result.stderr)
    created = autoglm("admin", "token", "create", "ci", "--expires-in-days", "30", env=env)
    assert created.returncode == 0, created.stderr
    ci_token = created.stdout.strip()

    listing = autoglm("admin", "token", "list", env=env)
    assert "ci" in listing.stdout
    assert ci_token not in listing.stdout and admin_token not in listing.stdout
    token_id = next(line.split("\t")[0] for line in listing.stdout.splitlines() if "\tci\t" in line)

    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            ci = accounts.authenticate(session, ci_token)
            assert (ci.teams, ci.roles) == ({"docs"}, {"runner", "viewer"})
            assert accounts.authenticate(session, admin_token).is_admin
        assert autoglm("admin", "token", "revoke", token_id, env=env).returncode == 0
        with session_factory(engine)() as session, pytest.raises(Unauthenticated):
            accounts.authenticate(session, ci_token)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["principal", "create", "x", "--role", "nope"], "error: role 'nope' not found"),
        (["principal", "grant", "ghost", "viewer"], "error: principal 'ghost' not found"),
        (["role", "create", "odd", "--permission", "template:delete"], "unknown permission"),
        (["token", "revoke", "999"], "error: token 999 not found"),
    ],
)
def test_bad_admin_input_exits_2_with_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    env = {"AUTOGLM_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    assert autoglm("db", "upgrade", env=env).returncode == 0
    result = autoglm("admin", *args, env=env)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
