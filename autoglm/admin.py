"""`autoglm admin`: bootstrap the first admin and manage teams, principals, roles and tokens;
rotate the key of stored webhook secrets; purge a job's files; move local files to the bucket.

These commands talk to the database directly (AUTOGLM_DATABASE_URL): whoever can run them
on the registry host is trusted as an operator, and the audit log names them `cli:<user>`.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import migrations
from autoglm.exits import exits_cleanly
from core.db import make_engine, session_factory
from core.errors import UserError
from core.settings import get_settings
from registry import accounts, artifact_moves, retention, webhooks
from registry.artifacts import artifact_problems
from registry.errors import Conflict
from registry.models import Principal, Role, role_grants
from registry.permissions import Actor, Permission
from registry.secrets import key_ring
from registry.storage import LocalArtifactStore, store_for

app = typer.Typer(no_args_is_help=True, help="Teams, principals, roles and API tokens.")
team_app = typer.Typer(no_args_is_help=True, help="Teams own templates.")
principal_app = typer.Typer(no_args_is_help=True, help="People and services.")
role_app = typer.Typer(no_args_is_help=True, help="Roles grant permissions.")
token_app = typer.Typer(no_args_is_help=True, help="Bearer tokens (shown once, stored hashed).")
for sub, name in ((team_app, "team"), (principal_app, "principal"), (role_app, "role")):
    app.add_typer(sub, name=name)
app.add_typer(token_app, name="token")

Names = Annotated[list[str] | None, typer.Option(help="Repeatable.")]


def operator() -> Actor:
    return Actor(None, f"cli:{getpass.getuser()}", permissions=frozenset(Permission))


@contextmanager
def registry_session() -> Iterator[Session]:
    """A session on a migrated database that commits when the command succeeds."""
    url = get_settings().database_url
    if migrations.current(url) != migrations.head():
        raise UserError(f"database {_safe(url)} is not migrated; run `autoglm db upgrade`")
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            yield session
            session.commit()
    finally:
        engine.dispose()


@app.command()
@exits_cleanly
def init(
    name: Annotated[str, typer.Option(help="The admin principal.")] = "admin",
    team: Annotated[str, typer.Option(help="The admin's team.")] = "platform",
) -> None:
    """Create the built-in roles and the first admin, and print its token (only this once)."""
    with registry_session() as session:
        accounts.ensure_builtin_roles(session)
        has_admin = session.scalar(
            select(Principal.id).join(role_grants).join(Role).where(Role.name == "admin")
        )
        if has_admin is not None:
            raise Conflict("already initialised; use `autoglm admin token create` for tokens")
        actor = operator()
        accounts.create_team(session, actor, team)
        session.flush()
        accounts.create_principal(session, actor, name, teams=[team], roles=["admin"])
        session.flush()
        issued = accounts.issue_token(session, actor, name, label="admin init")
    print(issued.secret)
    print(f"admin {name!r} created; store this token now, it is not shown again", file=sys.stderr)


@team_app.command("create")
@exits_cleanly
def team_create(name: str) -> None:
    with registry_session() as session:
        accounts.create_team(session, operator(), name)
    print(f"team {name!r} created")


@team_app.command("add-member")
@exits_cleanly
def team_add_member(team: str, principal: str) -> None:
    with registry_session() as session:
        accounts.add_member(session, operator(), principal, team)
    print(f"{principal!r} is a member of {team!r}")


@principal_app.command("create")
@exits_cleanly
def principal_create(
    name: str,
    team: Names = None,
    role: Names = None,
    service: Annotated[bool, typer.Option(help="A service, not a person.")] = False,
) -> None:
    with registry_session() as session:
        accounts.ensure_builtin_roles(session)
        accounts.create_principal(
            session,
            operator(),
            name,
            kind="service" if service else "person",
            teams=team or [],
            roles=role or [],
        )
    print(f"principal {name!r} created")


@principal_app.command("grant")
@exits_cleanly
def principal_grant(principal: str, role: str) -> None:
    """Give PRINCIPAL the permissions of ROLE."""
    with registry_session() as session:
        accounts.grant_role(session, operator(), principal, role)
    print(f"{principal!r} holds {role!r}")


@principal_app.command("revoke")
@exits_cleanly
def principal_revoke(principal: str, role: str) -> None:
    """Take ROLE away from PRINCIPAL."""
    with registry_session() as session:
        accounts.revoke_role(session, operator(), principal, role)
    print(f"{principal!r} no longer holds {role!r}")


@principal_app.command("list")
@exits_cleanly
def principal_list() -> None:
    """Names, kinds, states, teams and roles."""
    with registry_session() as session:
        for p in accounts.list_principals(session):
            state = f"disabled {p.disabled_at}" if p.disabled_at else "enabled"
            teams = ",".join(sorted(t.name for t in p.teams))
            roles = ",".join(sorted(r.name for r in p.roles))
            print(f"{p.name}\t{p.kind}\t{state}\t{teams}\t{roles}")


@principal_app.command("disable")
@exits_cleanly
def principal_disable(name: str) -> None:
    """Stop every token of NAME from working, at once (audited)."""
    _set_disabled(name, disabled=True)


@principal_app.command("enable")
@exits_cleanly
def principal_enable(name: str) -> None:
    """Let NAME's unrevoked, unexpired tokens work again (audited)."""
    _set_disabled(name, disabled=False)


def _set_disabled(name: str, *, disabled: bool) -> None:
    with registry_session() as session:
        accounts.set_disabled(session, operator(), name, disabled=disabled)
    print(f"principal {name!r} {'disabled' if disabled else 'enabled'}")


@role_app.command("create")
@exits_cleanly
def role_create(
    name: str,
    permission: Annotated[list[str], typer.Option(help=f"One of: {', '.join(Permission)}.")],
) -> None:
    with registry_session() as session:
        accounts.create_role(session, operator(), name, permission)
    print(f"role {name!r} created")


@role_app.command("list")
@exits_cleanly
def role_list() -> None:
    with registry_session() as session:
        accounts.ensure_builtin_roles(session)
        for role in session.scalars(select(Role).order_by(Role.name)):
            print(f"{role.name}\t{' '.join(role.permissions)}\t{role.description}")


@token_app.command("create")
@exits_cleanly
def token_create(
    principal: str,
    label: Annotated[str, typer.Option(help="What the token is for.")] = "",
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Default: never.")] = None,
) -> None:
    """Print a new token for PRINCIPAL on stdout (only this once)."""
    expires = timedelta(days=expires_in_days) if expires_in_days else None
    with registry_session() as session:
        issued = accounts.issue_token(
            session, operator(), principal, label=label, expires_in=expires
        )
    print(issued.secret)
    print(f"token {issued.id} for {principal!r}; it is not shown again", file=sys.stderr)


@token_app.command("revoke")
@exits_cleanly
def token_revoke(token_id: int) -> None:
    with registry_session() as session:
        accounts.revoke_token(session, operator(), token_id)
    print(f"token {token_id} revoked")


@token_app.command("list")
@exits_cleanly
def token_list(principal: Annotated[str | None, typer.Option()] = None) -> None:
    """Token ids, owners and states; never the secrets (they are not stored)."""
    with registry_session() as session:
        for t in accounts.list_tokens(session, principal):
            state = "revoked" if t.revoked_at else f"expires {t.expires_at or 'never'}"
            used = f"last used {t.last_used_at or 'never'}"
            print(f"{t.id}\t{t.principal.name}\t{t.prefix}…\t{t.label}\t{state}\t{used}")


@app.command("check-artifacts")
@exits_cleanly
def check_artifacts(
    verify: Annotated[bool, typer.Option(help="Also re-hash every file (reads them all).")] = False,
) -> None:
    """List recorded artifacts whose file is gone from the store; exit 1 if there are any."""
    store = store_for(get_settings())
    with registry_session() as session:
        problems = list(artifact_problems(session, store, verify=verify))
    for p in problems:
        print(f"{p.job_id}\t{p.format}\t{p.problem}\t{p.uri}")
    if problems:
        print(f"{len(problems)} recorded artifact(s) with problems", file=sys.stderr)
        raise typer.Exit(1)


@app.command("rotate-secrets")
@exits_cleanly
def rotate_secrets() -> None:
    """Re-encrypt every webhook secret under the first key of AUTOGLM_SECRET_KEYS (plain-text
    ones too); then older keys can be dropped from the setting."""
    ring = key_ring(get_settings())
    with registry_session() as session:
        count = webhooks.rotate_secrets(session, operator(), ring)
    print(f"{count} webhook secret(s) encrypted under the first key")


@app.command("purge-job")
@exits_cleanly
def purge_job(job_id: str) -> None:
    """Remove a finished job's files now; its downloads answer 410 `artifact_purged`."""
    store = store_for(get_settings())
    with registry_session() as session:
        job = retention.purge_job(session, operator(), store, job_id)
        purged = job.files_purged_at
    print(f"job {job_id} files purged (at {purged})")


@app.command("move-artifacts")
@exits_cleanly
def move_artifacts(
    dry_run: Annotated[bool, typer.Option(help="Only read and check; change nothing.")] = False,
    keep_local: Annotated[
        bool, typer.Option(help="Leave the local files in place after they are moved.")
    ] = False,
) -> None:
    """Copy artifacts recorded as local files (under AUTOGLM_ARTIFACT_DIR) into the bucket
    (AUTOGLM_S3_BUCKET), each checked against its SHA-256, and record the bucket's copy; exit
    1 if a file was missing or did not match (it stays where it is)."""
    settings = get_settings()
    if not settings.s3_bucket:
        raise UserError("AUTOGLM_S3_BUCKET is not set: there is no bucket to move files into")
    source, target = LocalArtifactStore(settings.artifact_dir), store_for(settings)
    moved = problems = 0
    with registry_session() as session:
        moves = artifact_moves.move_to(
            session, operator(), source, target, keep_local=keep_local, dry_run=dry_run
        )
        for move in moves:
            if move.problem:
                problems += 1
                print(f"{move.job_id}\t{move.format}\t{move.problem}\t{move.source}")
            else:
                moved += 1
    verb = "would move" if dry_run else "moved"
    print(f"{moved} file(s) {verb} to s3://{settings.s3_bucket}/{settings.s3_prefix}")
    if problems:
        print(f"{problems} file(s) left in place: missing or not matching", file=sys.stderr)
        raise typer.Exit(1)


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
