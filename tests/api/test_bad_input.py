"""Input the database cannot take never reaches it: integers past a column's range, text with
NUL or unpaired surrogates, bodies that are not UTF-8. Each is a 4xx with the usual error
body, the same on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from core.settings import Settings
from tests import factories
from tests.factories import User
from tests.jobs_support import RecordingQueue, publish

TOO_BIG = [2**31, 2**63, 2**64]


@pytest.fixture
def root(any_db: sessionmaker[Session]) -> User:
    """An admin (every permission), so that requests reach the handlers."""
    with any_db() as session:
        return factories.user(session, "root", teams=["platform"], roles=["admin"])


def integer_parameters(app: FastAPI) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, parameter) for every integer path and query parameter of the API."""
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["schema"].get("type") == "integer":
                    yield method, path, parameter


def url_with(path: str, parameter: dict[str, Any], value: int) -> tuple[str, dict[str, int]]:
    """`path` with its placeholders filled, and `parameter` set to `value`."""
    name = parameter["name"]
    if parameter["in"] == "path":
        return path.replace(f"{{{name}}}", str(value)).replace("{", "").replace("}", ""), {}
    return path.replace("{", "").replace("}", ""), {name: value}


def test_every_integer_parameter_declares_its_range() -> None:
    app = create_app(Settings(), dispatcher=RecordingQueue())
    found = {(m, p, q["name"]): q["schema"] for m, p, q in integer_parameters(app)}
    assert {("get", "/schedules/{schedule_id}", "schedule_id"), ("get", "/jobs", "offset")} <= set(
        found
    )
    for where, schema in found.items():
        assert "minimum" in schema and "maximum" in schema, where
        assert schema["maximum"] <= 2**63 - 1, where


def test_integers_out_of_range_are_404_for_ids_and_422_for_the_rest(
    any_api: TestClient, root: User
) -> None:
    checked = 0
    for method, path, parameter in integer_parameters(any_api.app):  # type: ignore[arg-type]
        schema = parameter["schema"]
        for value in [schema["minimum"] - 1, schema["maximum"] + 1, *TOO_BIG]:
            if schema["minimum"] <= value <= schema["maximum"]:
                continue
            url, params = url_with(path, parameter, value)
            response = any_api.request(method, url, params=params, headers=root.headers)
            where = f"{method.upper()} {url} {params}"
            error = response.json()["error"]
            if parameter["in"] == "path":  # an id no row can have: not found, like a missing one
                assert response.status_code == 404, where
                assert error["code"].endswith("not_found"), where
            else:
                assert response.status_code == 422, where
                assert error["code"] == "invalid_request", where
                assert parameter["name"] in error["message"], where
            checked += 1
        url, params = url_with(path, parameter, schema["maximum"])
        in_range = any_api.request(method, url, params=params, headers=root.headers)
        assert in_range.status_code == (404 if parameter["in"] == "path" else 200), url
    assert checked >= 20


@pytest.mark.parametrize(
    "url",
    ["/templates?q=a%00b", "/templates/a%00b", "/jobs/a%00b/artifacts/pdf", "/audit?actor=%00"],
)
def test_nul_in_a_path_or_query_is_422(any_api: TestClient, root: User, url: str) -> None:
    response = any_api.get(url, headers=root.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert "NUL" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"template": "a\\u0000b"}', "NUL"),
        (b'{"template": "weekly", "idempotency_key": "a\\u0000"}', "NUL"),
        (b'{"template": "weekly", "idempotency_key": "\\ud800"}', "unicode"),  # unpaired
        (b'{"template": "weekly", "inputs": {"team": "x"}, "version": "\\udfff"}', "unicode"),
    ],
)
def test_text_the_database_cannot_store_is_422(
    any_api: TestClient, root: User, body: bytes, problem: str
) -> None:
    headers = root.headers | {"Content-Type": "application/json"}
    response = any_api.post("/jobs", content=body, headers=headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and problem in error["message"]


def test_a_surrogate_pair_is_text_like_any_other(
    any_db: sessionmaker[Session], any_api: TestClient, root: User
) -> None:
    with any_db() as session:
        publish(session, team="platform")
    body = b'{"template": "weekly", "inputs": {"team": "x"}, "idempotency_key": "\\ud83d\\ude00"}'
    headers = root.headers | {"Content-Type": "application/json"}
    response = any_api.post("/jobs", content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["idempotency_key"] == "\N{GRINNING FACE}"


@pytest.mark.parametrize("path", ["/jobs", "/schedules", "/webhooks"])
def test_a_body_that_is_not_utf8_is_422_like_malformed_json(
    any_api: TestClient, root: User, path: str
) -> None:
    headers = root.headers | {"Content-Type": "application/json"}
    not_utf8 = any_api.post(path, content=b'{"template": "caf\xe9"}', headers=headers)
    malformed = any_api.post(path, content=b'{"template": ', headers=headers)
    assert (not_utf8.status_code, malformed.status_code) == (422, 422), not_utf8.text
    codes = {r.json()["error"]["code"] for r in (not_utf8, malformed)}
    assert codes == {"invalid_request"}
    assert "UTF-8" in not_utf8.json()["error"]["message"]


def test_a_template_with_a_nul_is_an_invalid_template(any_api: TestClient, root: User) -> None:
    response = any_api.post(
        "/templates",
        content=b"name: a\x00b\n",
        headers=root.headers | {"Content-Type": "application/yaml"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_template"
