"""Teams, principals, roles, grants and bearer tokens; `authenticate` turns a token into an Actor.

Tokens are random 256-bit secrets shown once; only their SHA-256 is stored. A slow hash would
add nothing for secrets of that entropy and would cost every request. A token's `last_used_at`
is written at most once a minute (a conditional UPDATE), and a failed write never fails a
request: it is a hint for operators, not an audit record.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from registry.audit import record
from registry.errors import Conflict, Invalid, NotFound, Unauthenticated
from registry.models import ApiToken, Principal, Role, Team, utcnow
from registry.permissions import BUILTIN_ROLES, Actor, Permission, permissions_of

TOKEN_PREFIX = "agl_"  # noqa: S105 (a marker for secret scanners, not a secret)
PRINCIPAL_KINDS = ("person", "service")
TOUCH_EVERY = timedelta(minutes=1)  # how stale `last_used_at` may get

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class IssuedToken:
    """A new token: `secret` is the only copy of the bearer value and is never stored."""

    id: int
    secret: str
    principal: str
    expires_at: datetime | None


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def actor_for(principal: Principal) -> Actor:
    return Actor(
        principal_id=principal.id,
        name=principal.name,
        teams=frozenset(t.name for t in principal.teams),
        roles=frozenset(r.name for r in principal.roles),
        permissions=permissions_of(r.permissions for r in principal.roles),
    )


def authenticate(session: Session, secret: str) -> Actor:
    """The actor a bearer token stands for; one message for every failure, so none leaks."""
    return authenticate_hash(session, hash_token(secret))


def authenticate_hash(session: Session, token_sha256: str) -> Actor:
    """`authenticate` by the token's stored hash (what a console session keeps, never the
    token): a revoked or expired token or a disabled principal fails the same way."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == token_sha256))
    now = utcnow()
    if (
        token is None
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
        or token.principal.disabled_at is not None
    ):
        raise Unauthenticated("invalid, expired or revoked token", "invalid_token")
    actor = actor_for(token.principal)
    if token.last_used_at is None or token.last_used_at <= now - TOUCH_EVERY:
        _touch(session, token.id, now)
    return actor


def _touch(session: Session, token_id: int, now: datetime) -> None:
    """Record the use, unless another request did within the minute; committed at once when
    the session holds nothing else (a read-only request never commits), else with it."""
    stale = or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - TOUCH_EVERY)
    try:
        with session.begin_nested():
            session.execute(
                update(ApiToken)
                .where(ApiToken.id == token_id, stale)
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
        if not (session.new or session.dirty or session.deleted):
            session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        log.warning("could not record a token's last use", token_id=token_id, error=str(exc))


def ensure_builtin_roles(session: Session) -> None:
    """Create the built-in roles that are missing; existing roles are left as operators set them."""
    existing = set(session.scalars(select(Role.name)))
    for name, (description, permissions) in BUILTIN_ROLES.items():
        if name not in existing:
            session.add(Role(name=name, description=description, permissions=sorted(permissions)))
    session.flush()


Named = TypeVar("Named", Principal, Team, Role)


def _by_name(session: Session, model: type[Named], name: str) -> Named:
    row = session.scalar(select(model).where(model.name == name))
    if row is None:
        kind = model.__tablename__.removesuffix("s")
        raise NotFound(f"{kind} {name!r} not found", f"{kind}_not_found")
    return row


def _require_new(session: Session, model: type[Named], name: str) -> None:
    """A usable name that no row of `model` holds yet."""
    kind = model.__tablename__.removesuffix("s")
    _check_name(kind, name)
    if session.scalar(select(model.id).where(model.name == name)) is not None:
        raise Conflict(f"{kind} {name!r} already exists", f"{kind}_exists")


def get_principal(session: Session, name: str) -> Principal:
    return _by_name(session, Principal, name)


def get_team(session: Session, name: str) -> Team:
    return _by_name(session, Team, name)


def get_role(session: Session, name: str) -> Role:
    return _by_name(session, Role, name)


def create_team(session: Session, actor: Actor, name: str) -> Team:
    _require_new(session, Team, name)
    team = Team(name=name)
    session.add(team)
    record(session, actor, "team.create", "team", name)
    return team


def create_role(session: Session, actor: Actor, name: str, permissions: list[str]) -> Role:
    _check_name("role", name)
    known = {p.value for p in Permission}
    if unknown := sorted(set(permissions) - known):
        raise Invalid(
            f"unknown permission(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    _require_new(session, Role, name)
    role = Role(name=name, permissions=sorted(set(permissions)))
    session.add(role)
    record(session, actor, "role.create", "role", name, details={"permissions": role.permissions})
    return role


def create_principal(
    session: Session,
    actor: Actor,
    name: str,
    *,
    kind: str = "person",
    teams: Sequence[str] = (),
    roles: Sequence[str] = (),
) -> Principal:
    _require_new(session, Principal, name)
    if kind not in PRINCIPAL_KINDS:
        raise Invalid(f"principal kind must be one of {', '.join(PRINCIPAL_KINDS)}")
    principal = Principal(
        name=name,
        kind=kind,
        teams=[get_team(session, t) for t in teams],
        roles=[get_role(session, r) for r in roles],
    )
    session.add(principal)
    record(
        session,
        actor,
        "principal.create",
        "principal",
        name,
        details={"kind": kind, "teams": sorted(teams), "roles": sorted(roles)},
    )
    return principal


def add_member(session: Session, actor: Actor, principal_name: str, team_name: str) -> None:
    principal, team = get_principal(session, principal_name), get_team(session, team_name)
    if team not in principal.teams:
        principal.teams.append(team)
        record(
            session,
            actor,
            "team.add_member",
            "team",
            team.name,
            details={"principal": principal.name},
        )


def grant_role(session: Session, actor: Actor, principal_name: str, role_name: str) -> None:
    principal, role = get_principal(session, principal_name), get_role(session, role_name)
    if role not in principal.roles:
        principal.roles.append(role)
        record(
            session, actor, "role.grant", "principal", principal.name, details={"role": role.name}
        )


def revoke_role(session: Session, actor: Actor, principal_name: str, role_name: str) -> None:
    principal, role = get_principal(session, principal_name), get_role(session, role_name)
    if role in principal.roles:
        principal.roles.remove(role)
        record(
            session, actor, "role.revoke", "principal", principal.name, details={"role": role.name}
        )


def issue_token(
    session: Session,
    actor: Actor,
    principal_name: str,
    *,
    label: str = "",
    expires_in: timedelta | None = None,
) -> IssuedToken:
    principal = get_principal(session, principal_name)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        principal=principal,
        label=label,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        token_sha256=hash_token(secret),
        expires_at=utcnow() + expires_in if expires_in else None,
    )
    session.add(token)
    session.flush()
    record(
        session,
        actor,
        "token.create",
        "principal",
        principal.name,
        details={"token_id": token.id, "label": label, "expires_at": _iso(token.expires_at)},
    )
    return IssuedToken(token.id, secret, principal.name, token.expires_at)


def revoke_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"token {token_id} not found", "token_not_found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record(
            session,
            actor,
            "token.revoke",
            "principal",
            token.principal.name,
            details={"token_id": token.id},
        )
    return token


def set_disabled(session: Session, actor: Actor, name: str, *, disabled: bool) -> Principal:
    """Disable a principal (every token of theirs stops working at the next request) or
    enable them again; audited when it changes anything. The caller commits."""
    principal = get_principal(session, name)
    if (principal.disabled_at is not None) == disabled:
        return principal
    principal.disabled_at = utcnow() if disabled else None
    action = "principal.disable" if disabled else "principal.enable"
    record(session, actor, action, "principal", principal.name)
    return principal


def list_principals(session: Session) -> list[Principal]:
    return list(session.scalars(select(Principal).order_by(Principal.name)))


def list_tokens(session: Session, principal_name: str | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id)
    if principal_name:
        query = query.where(ApiToken.principal_id == get_principal(session, principal_name).id)
    return list(session.scalars(query))


def _check_name(kind: str, name: str) -> None:
    if not name or len(name) > 100 or not name.isprintable() or name != name.strip():
        raise Invalid(f"{kind} name {name!r} must be 1-100 printable characters")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
