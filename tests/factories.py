"""Build principals, teams and templates through the real services (so audit rows exist too)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import accounts
from registry.models import Team
from registry.permissions import Actor, Permission

OPERATOR = Actor(None, "test-operator", permissions=frozenset(Permission))


@dataclass(frozen=True)
class User:
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def team(session: Session, name: str) -> str:
    if session.scalar(select(Team.id).where(Team.name == name)) is None:
        accounts.create_team(session, OPERATOR, name)
        session.flush()
    return name


def user(
    session: Session, name: str, *, teams: Sequence[str] = (), roles: Sequence[str] = ()
) -> User:
    """A principal in `teams` holding `roles`, with a fresh token."""
    accounts.ensure_builtin_roles(session)
    for t in teams:
        team(session, t)
    accounts.create_principal(session, OPERATOR, name, teams=list(teams), roles=list(roles))
    session.flush()
    issued = accounts.issue_token(session, OPERATOR, name)
    session.commit()
    return User(name, issued.secret)


def template_yaml(
    name: str = "weekly", version: str = "1", category: str = "reports", **extra: str
) -> str:
    """A small valid template; `extra` adds top-level keys given as YAML text."""
    lines = [f"name: {name}", f"version: {version!r}", f"category: {category}"]
    lines += [f"{key}: {value}" for key, value in extra.items()]
    lines.append(
        textwrap.dedent(
            """\
            variables:
              - title
            body: |
              # {{ title }}
            """
        )
    )
    return "\n".join(lines)
