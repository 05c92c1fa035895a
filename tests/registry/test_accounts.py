"""Tokens and principals against the real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from registry import accounts
from registry.errors import Conflict, Invalid, Unauthenticated
from registry.models import utcnow
from registry.permissions import Permission
from tests import factories
from tests.factories import OPERATOR


def test_a_token_authenticates_as_its_principal(session: Session) -> None:
    user = factories.user(session, "ci", teams=["a", "b"], roles=["runner"])
    actor = accounts.authenticate(session, user.token)
    assert (actor.name, actor.teams, actor.roles) == ("ci", {"a", "b"}, {"runner"})
    assert actor.permissions == {
        Permission.TEMPLATE_READ,
        Permission.JOB_CREATE,
        Permission.JOB_READ,
    }


def test_tokens_are_never_stored_in_clear(session: Session) -> None:
    user = factories.user(session, "ci", teams=["a"], roles=["runner"])
    dump = session.execute(
        text(
            "SELECT string_agg(t::text, ' ') FROM ("
            " SELECT row_to_json(x)::text AS t FROM api_tokens x"
            " UNION ALL SELECT row_to_json(y)::text FROM audit_log y"
            " UNION ALL SELECT row_to_json(z)::text FROM principals z) rows"
        )
    ).scalar_one()
    secret = user.token.removeprefix(accounts.TOKEN_PREFIX)
    assert accounts.hash_token(user.token) in dump
    assert secret not in dump
    assert secret[:12] not in dump  # not even a prefix of the secret part


@pytest.mark.parametrize("state", ["revoked", "expired", "disabled", "unknown"])
def test_unusable_tokens_are_refused(session: Session, state: str) -> None:
    user = factories.user(session, "ci", teams=["a"], roles=["runner"])
    token = accounts.list_tokens(session, "ci")[0]
    secret = user.token
    if state == "revoked":
        accounts.revoke_token(session, OPERATOR, token.id)
    elif state == "expired":
        token.expires_at = utcnow() - timedelta(seconds=1)
    elif state == "disabled":
        token.principal.disabled_at = utcnow()
    else:
        secret = accounts.TOKEN_PREFIX + "x" * 43
    session.flush()
    with pytest.raises(Unauthenticated) as refused:
        accounts.authenticate(session, secret)
    assert refused.value.code == "invalid_token"


def test_expiring_tokens_work_until_they_expire(session: Session) -> None:
    factories.user(session, "ci", teams=["a"])
    issued = accounts.issue_token(session, OPERATOR, "ci", expires_in=timedelta(hours=1))
    assert issued.expires_at is not None
    assert accounts.authenticate(session, issued.secret).name == "ci"


def test_names_and_permissions_are_checked(session: Session) -> None:
    factories.team(session, "a")
    with pytest.raises(Conflict):
        accounts.create_team(session, OPERATOR, "a")
    with pytest.raises(Invalid, match="unknown permission"):
        accounts.create_role(session, OPERATOR, "odd", ["template:read", "template:delete"])
    with pytest.raises(Invalid, match="printable"):
        accounts.create_team(session, OPERATOR, "bad\nname")
    role = accounts.create_role(session, OPERATOR, "publisher", ["template:publish"])
    assert role.permissions == ["template:publish"]
