"""The registry over HTTP, against the real app and a real PostgreSQL."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.models import AuditEntry, Template, TemplateVersion
from tests import factories
from tests.api.conftest import MAX_BYTES
from tests.conftest import TEMPLATES
from tests.factories import User, template_yaml

YAML = {"Content-Type": "application/yaml"}


def upload(client: TestClient, user: User, text: str | bytes, **params: Any) -> httpx.Response:
    body = text.encode() if isinstance(text, str) else text
    return client.post("/templates", content=body, params=params, headers=user.headers | YAML)


def counts(session: Session) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        session.scalar(select(func.count()).select_from(model))
        for model in (Template, TemplateVersion, AuditEntry)
    )


def error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    return dict(body["error"])


def test_upload_yaml_stores_an_immutable_version(client: TestClient, alice: User) -> None:
    text = template_yaml("weekly", "1")
    response = upload(client, alice, text)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["name"], body["version"], body["active"]) == ("weekly", "1", False)
    assert isinstance(body["id"], int)
    assert body["content_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert response.headers["Location"] == "/templates/weekly/versions/1"
    assert body["metadata"]["variables"] == [{"name": "title", "type": "any", "required": True}]

    template = client.get("/templates/weekly", headers=alice.headers).json()
    assert template["active_version"] is None
    assert template["access"] == {"owner_team": "a", "read_roles": [], "run_roles": []}
    raw = client.get(
        "/templates/weekly/versions/1", headers=alice.headers | {"Accept": "application/yaml"}
    )
    assert raw.headers["content-type"].startswith("application/yaml")
    assert raw.content == text.encode()


def test_upload_multipart_file(client: TestClient, alice: User) -> None:
    files = {"file": ("weekly.yaml", template_yaml("multi", "3").encode(), "application/x-yaml")}
    response = client.post("/templates", files=files, headers=alice.headers)
    assert response.status_code == 201, response.text
    assert (response.json()["name"], response.json()["version"]) == ("multi", "3")


def test_seed_template_with_unicode_name_and_numeric_version(
    client: TestClient, alice: User
) -> None:
    text = (TEMPLATES / "api_reference.yaml").read_bytes()
    response = upload(client, alice, text, activate=True)
    assert response.status_code == 201, response.text
    assert response.json()["version"] == "1.2"
    url = f"/templates/{quote('API接口文档', safe='')}"
    assert response.headers["Location"] == f"{url}/versions/1.2"
    template = client.get(url, headers=alice.headers).json()
    assert template["name"] == "API接口文档"
    assert template["active_version"]["version"] == "1.2"
    assert template["active_version"]["metadata"]["schedule"]["expression"] == "0 0 * * * *"
    assert client.get(f"{url}/versions/1.2", headers=alice.headers).json()["active"] is True


def test_existing_version_is_a_conflict_and_changes_nothing(
    client: TestClient, alice: User, session: Session
) -> None:
    assert upload(client, alice, template_yaml("weekly", "1")).status_code == 201
    before = counts(session)
    again = upload(client, alice, template_yaml("weekly", "1") + "\n# edited\n")
    assert again.status_code == 409
    assert error(again)["code"] == "version_exists"
    assert counts(session) == before


ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "needle"),
    [
        ("name: x\nbody: [unclosed\n", "application/yaml", 422, "invalid_template", "line 3"),
        ("name: x\nvariables:\n  - name: a\n    type: bogus\n", "application/yaml", 422,
         "invalid_template", "variables.0.type (line 4)"),
        (ALIAS_BOMB, "application/yaml", 422, "invalid_template", "alias"),
        ("name: x\nbody: |\n  ok\n  {{ ''.__class__.__mro__ }}\n", "application/yaml", 422,
         "invalid_template", "'__class__' is not allowed"),
        ("name: x\nbody: |\n  ok\n  {{ '{:>300000000}'.format(1) }}\n", "application/yaml", 422,
         "invalid_template", "body (line 4): refused: format width"),
        ("name: x\nversion: [1, 2]\n", "application/yaml", 422, "invalid_template",
         "version (line 2)"),
        ("name: x\nversion: true\n", "application/yaml", 422, "invalid_template", "boolean"),
        ("name: a/b\n", "application/yaml", 422, "invalid_template", "must not contain '/'"),
        ("- just\n- a list\n", "application/yaml", 422, "invalid_template", "mapping"),
        ("name: x\n" + "# pad\n" * (MAX_BYTES // 6), "application/yaml", 413, "too_large",
         "limit"),
        ("name: x\n", "application/json", 415, "unsupported_media_type", "application/json"),
        ("name: x\n", "", 415, "unsupported_media_type", "(none)"),
    ],
    ids=["broken-yaml", "bad-field", "alias-bomb", "sandbox-escape", "format-bomb", "version-list",
         "version-bool", "slash-in-name", "not-a-mapping", "too-large", "json", "no-type"],
)  # fmt: skip
def test_bad_uploads_get_a_clear_4xx_and_leave_no_rows(
    client: TestClient,
    alice: User,
    session: Session,
    body: str,
    content_type: str,
    status: int,
    code: str,
    needle: str,
) -> None:
    before = counts(session)
    headers = alice.headers | ({"Content-Type": content_type} if content_type else {})
    response = client.post("/templates", content=body.encode(), headers=headers)
    assert response.status_code == status, response.text
    problem = error(response)
    assert problem["code"] == code
    assert needle in problem["message"]
    assert counts(session) == before


def test_huge_multipart_upload_is_refused(client: TestClient, alice: User) -> None:
    files = {"file": ("big.yaml", b"name: x\n" + b"#" * (MAX_BYTES + 10), "application/yaml")}
    response = client.post("/templates", files=files, headers=alice.headers)
    assert response.status_code == 413
    multipart_without_file = client.post(
        "/templates", files={"other": ("x.txt", b"x")}, headers=alice.headers
    )
    assert multipart_without_file.status_code == 422
    assert "`file` part" in error(multipart_without_file)["message"]


def test_publish_and_roll_back(client: TestClient, alice: User, session: Session) -> None:
    for version in ("1", "2"):
        assert upload(client, alice, template_yaml("weekly", version)).status_code == 201
    url = "/templates/weekly/active"
    assert client.post(url, json={"version": "2"}, headers=alice.headers).status_code == 200
    assert (
        client.get("/templates/weekly", headers=alice.headers).json()["active_version"]["version"]
        == "2"
    )
    rolled_back = client.post(url, json={"version": 1}, headers=alice.headers)  # a number
    assert rolled_back.json()["active_version"]["version"] == "1"
    missing = client.post(url, json={"version": "9"}, headers=alice.headers)
    assert (missing.status_code, error(missing)["code"]) == (404, "version_not_found")
    bad = client.post(url, json={"version": True}, headers=alice.headers)
    assert (bad.status_code, error(bad)["code"]) == (422, "invalid_request")
    actions = session.scalars(
        select(AuditEntry.details).where(AuditEntry.action == "template.activate")
    ).all()
    assert [(d["version"], d["previous"]) for d in actions] == [("2", None), ("1", "2")]


def test_archive_hides_and_blocks_until_restored(client: TestClient, alice: User) -> None:
    upload(client, alice, template_yaml("old", "1"))
    assert client.post("/templates/old/archive", headers=alice.headers).status_code == 200
    listed = client.get("/templates", headers=alice.headers).json()
    assert [t["name"] for t in listed] == []
    archived = client.get("/templates?include_archived=true", headers=alice.headers).json()
    assert [t["name"] for t in archived] == ["old"]
    refused = upload(client, alice, template_yaml("old", "2"))
    assert (refused.status_code, error(refused)["code"]) == (409, "archived")
    publish = client.post("/templates/old/active", json={"version": "1"}, headers=alice.headers)
    assert publish.status_code == 409
    assert client.delete("/templates/old/archive", headers=alice.headers).status_code == 200
    assert upload(client, alice, template_yaml("old", "2")).status_code == 201


def test_listing_filters_and_searches(client: TestClient, alice: User, bob: User) -> None:
    upload(client, alice, template_yaml("Weekly Report", "1"))
    upload(client, alice, template_yaml("incident", "1", category="ops"))
    upload(client, bob, template_yaml("bobs weekly", "1"))

    def names(query: str) -> list[str]:
        response = client.get(f"/templates{query}", headers=alice.headers)
        assert response.status_code == 200
        return [t["name"] for t in response.json()]

    assert names("") == ["Weekly Report", "incident"]  # never bob's
    assert names("?q=weekly") == ["Weekly Report"]
    assert names("?category=ops") == ["incident"]
    assert names("?q=100%25") == []  # LIKE wildcards are literal


def test_another_teams_private_template_looks_missing(
    client: TestClient, alice: User, bob: User
) -> None:
    assert upload(client, bob, template_yaml("secret", "1"), activate=True).status_code == 201
    attempts = [
        ("GET", "/templates/{}", None),
        ("GET", "/templates/{}/versions", None),
        ("GET", "/templates/{}/versions/1", None),
        ("GET", "/templates/{}/access", None),
        ("POST", "/templates/{}/active", {"version": "1"}),
        ("POST", "/templates/{}/archive", None),
        ("DELETE", "/templates/{}/archive", None),
        ("PUT", "/templates/{}/access", {"owner_team": "a"}),
    ]
    for method, url, body in attempts:
        hidden = client.request(method, url.format("secret"), json=body, headers=alice.headers)
        missing = client.request(method, url.format("nothing"), json=body, headers=alice.headers)
        assert hidden.status_code == missing.status_code == 404, (method, url)
        assert hidden.json() == missing.json() | {
            "error": {
                k: v.replace("nothing", "secret") if isinstance(v, str) else
                [p.replace("nothing", "secret") for p in v]
                for k, v in missing.json()["error"].items()
            }
        }  # fmt: skip
    assert "secret" not in client.get("/templates", headers=alice.headers).text
    taken = upload(client, alice, template_yaml("secret", "2"))
    assert (taken.status_code, error(taken)["code"]) == (409, "name_unavailable")
    assert client.get("/templates/secret", headers=bob.headers).status_code == 200


def test_read_only_role_cannot_upload_or_publish(
    client: TestClient, alice: User, reader: User
) -> None:
    upload(client, alice, template_yaml("weekly", "1"))
    assert client.get("/templates/weekly", headers=reader.headers).status_code == 200
    new_version = upload(client, reader, template_yaml("weekly", "2"))
    assert (new_version.status_code, error(new_version)["code"]) == (403, "forbidden")
    new_template = upload(client, reader, template_yaml("mine", "1"))
    assert new_template.status_code == 403
    publish = client.post("/templates/weekly/active", json={"version": "1"}, headers=reader.headers)
    assert publish.status_code == 403
    activate_on_upload = upload(client, reader, template_yaml("weekly", "3"), activate=True)
    assert activate_on_upload.status_code == 403


def test_upload_with_activate_is_atomic(client: TestClient, session: Session, alice: User) -> None:
    author = factories.user(
        session, "writer", teams=["a"], roles=["author"]
    )  # may write, not publish
    before = counts(session)
    response = upload(client, author, template_yaml("weekly", "1"), activate=True)
    assert response.status_code == 403
    assert counts(session) == before


def test_sharing_by_role(client: TestClient, alice: User, bob: User, reader: User) -> None:
    upload(client, bob, template_yaml("shared", "1"))
    assert client.get("/templates/shared", headers=reader.headers).status_code == 404
    access = {"owner_team": "b", "read_roles": ["viewer"], "run_roles": ["runner"]}
    put = client.put("/templates/shared/access", json=access, headers=bob.headers)
    assert put.status_code == 200, put.text
    assert put.json() == access
    assert client.get("/templates/shared", headers=reader.headers).status_code == 200
    publish = client.post("/templates/shared/active", json={"version": "1"}, headers=reader.headers)
    assert publish.status_code == 403  # visible now, so refused rather than hidden
    # Alice (maintainer, not viewer) still sees nothing.
    assert client.get("/templates/shared", headers=alice.headers).status_code == 404


def test_access_changes_are_validated(client: TestClient, bob: User, session: Session) -> None:
    upload(client, bob, template_yaml("shared", "1"))
    before = counts(session)
    for body, code in [
        ({"owner_team": "b", "read_roles": ["nope"]}, "unknown_role"),
        ({"owner_team": "z"}, "not_a_member"),
        ({"owner_team": "b", "extra": 1}, "invalid_request"),
    ]:
        response = client.put("/templates/shared/access", json=body, headers=bob.headers)
        assert (response.status_code, error(response)["code"]) == (422, code)
    assert counts(session) == before
    assert client.get("/templates/shared/access", headers=bob.headers).json()["read_roles"] == []


def test_every_change_is_audited(
    client: TestClient, alice: User, admin: User, session: Session
) -> None:
    upload(client, alice, template_yaml("weekly", "1"))
    client.post("/templates/weekly/active", json={"version": "1"}, headers=alice.headers)
    client.put(
        "/templates/weekly/access",
        json={"owner_team": "a", "read_roles": ["viewer"]},
        headers=alice.headers,
    )
    client.post("/templates/weekly/archive", headers=alice.headers)
    client.delete("/templates/weekly/archive", headers=alice.headers)
    response = client.get("/audit?target_type=template&target=weekly", headers=admin.headers)
    assert response.status_code == 200
    rows = response.json()
    assert [r["action"] for r in reversed(rows)] == [
        "template.create",
        "template.upload",
        "template.activate",
        "template.access",
        "template.archive",
        "template.restore",
    ]
    assert {r["actor"] for r in rows} == {"alice"}
    assert all(r["at"] for r in rows)
    assert rows[2]["details"]["after"]["read_roles"] == ["viewer"]
    forbidden = client.get("/audit", headers=alice.headers)
    assert (forbidden.status_code, error(forbidden)["code"]) == (403, "forbidden")


def test_unknown_routes_and_docs(client: TestClient, alice: User) -> None:
    response = client.get("/nowhere", headers=alice.headers)
    assert (response.status_code, error(response)["code"]) == (404, "not_found")
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/templates", "/templates/{name}/active", "/audit"} <= set(paths)
    assert "multipart/form-data" in paths["/templates"]["post"]["requestBody"]["content"]
