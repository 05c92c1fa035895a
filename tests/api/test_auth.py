"""Authentication over HTTP: every failure is the same 401, with a Bearer challenge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from registry import accounts
from registry.models import utcnow
from tests.factories import OPERATOR, User


@pytest.mark.parametrize("case", ["missing", "garbage", "not-bearer", "revoked", "expired"])
def test_unauthenticated_requests_get_401(
    client: TestClient, session: Session, alice: User, case: str
) -> None:
    token = accounts.list_tokens(session, "alice")[0]
    headers = alice.headers
    if case == "missing":
        headers = {}
    elif case == "garbage":
        headers = {"Authorization": "Bearer nope"}
    elif case == "not-bearer":
        headers = {"Authorization": f"Basic {alice.token}"}
    elif case == "revoked":
        accounts.revoke_token(session, OPERATOR, token.id)
    else:
        token.expires_at = utcnow() - timedelta(minutes=1)
    session.commit()
    response = client.get("/templates", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] in {"unauthenticated", "invalid_token"}
    upload = client.post(
        "/templates", content=b"name: x\n", headers=headers | {"Content-Type": "application/yaml"}
    )
    assert upload.status_code == 401
