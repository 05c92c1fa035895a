"""The schedules API: `schedule:write` to change, template visibility to read, 4xx leave nothing."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry import publishing
from registry.models import AuditEntry, Schedule
from tests.factories import OPERATOR, User

BODY = {"template": "weekly", "expression": "0 0 * * * *", "inputs": {"team": "core"}}


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Schedule)) or 0


@pytest.mark.usefixtures("published")
def test_create_read_list_and_delete(client: TestClient, alice: User, session: Session) -> None:
    response = client.post(
        "/schedules", json=BODY | {"timezone": "Asia/Tokyo"}, headers=alice.headers
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == created["url"] == f"/schedules/{created['id']}"
    assert (created["source"], created["owner"], created["timezone"]) == (
        "api",
        "alice",
        "Asia/Tokyo",
    )
    next_fire = datetime.fromisoformat(created["next_fire_at"])
    assert (next_fire.minute, next_fire.second) == (0, 0)  # hourly, on the hour

    assert client.get(created["url"], headers=alice.headers).json() == created
    listed = client.get("/schedules", params={"template": "weekly"}, headers=alice.headers)
    assert [s["id"] for s in listed.json()] == [created["id"]]

    assert client.delete(created["url"], headers=alice.headers).status_code == 204
    assert client.get(created["url"], headers=alice.headers).status_code == 404
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.target_type == "schedule")
    ).all()
    assert actions == ["schedule.create", "schedule.delete"]


@pytest.mark.usefixtures("published")
@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"expression": "0 0 * *"}, 422, "must have 5 fields, or 6 with seconds first"),
        ({"expression": "0 99 * * * *"}, 422, "is not valid"),
        ({"timezone": "Moon/Base"}, 422, "unknown time zone 'Moon/Base'"),
        ({"inputs": {"team": "x", "extra": 1}}, 422, "unknown input 'extra'"),
        ({"formats": ["odt"]}, 422, "unknown export format 'odt'"),
        ({"template": "nope"}, 404, "'nope' not found"),
        ({"colour": "red"}, 422, "colour"),
    ],
)
def test_bad_schedules_are_4xx_naming_the_problem_and_leave_nothing(
    client: TestClient,
    alice: User,
    session: Session,
    change: dict[str, object],
    status: int,
    message: str,
) -> None:
    response = client.post("/schedules", json=BODY | change, headers=alice.headers)
    assert response.status_code == status, response.text
    assert message in response.text
    assert count(session) == 0


@pytest.mark.usefixtures("published")
def test_who_may_do_what(
    client: TestClient, alice: User, bob: User, reader: User, session: Session
) -> None:
    created = client.post("/schedules", json=BODY, headers=alice.headers).json()
    # A viewer of team a sees the template, but schedules are for those who may change them.
    assert client.get(created["url"], headers=reader.headers).status_code == 403
    assert client.get("/schedules", headers=reader.headers).json() == []
    assert client.post("/schedules", json=BODY, headers=reader.headers).status_code == 403
    assert client.delete(created["url"], headers=reader.headers).status_code == 403
    # Another team's maintainer sees nothing at all.
    assert client.get(created["url"], headers=bob.headers).status_code == 404
    assert client.get("/schedules", headers=bob.headers).json() == []
    assert client.delete(created["url"], headers=bob.headers).status_code == 404
    assert client.post("/schedules", json=BODY, headers=bob.headers).status_code == 404
    assert client.get("/schedules").status_code == 401
    assert count(session) == 1


@pytest.mark.usefixtures("published")
def test_an_archived_template_takes_no_new_schedule(
    client: TestClient, alice: User, session: Session
) -> None:
    assert client.post("/templates/weekly/archive", headers=alice.headers).status_code == 200
    response = client.post("/schedules", json=BODY, headers=alice.headers)
    assert response.status_code == 409, response.text
    assert count(session) == 0


@pytest.mark.usefixtures("published")
def test_a_template_shared_to_run_gives_no_schedule_rights(
    client: TestClient, alice: User, bob: User, session: Session
) -> None:
    publishing.set_access(
        session, OPERATOR, "weekly", owner_team="a", read_roles=[], run_roles=["maintainer"]
    )
    session.commit()
    created = client.post("/schedules", json=BODY, headers=alice.headers).json()
    # bob (a maintainer of team b) may now see and run weekly, but not manage its schedules.
    assert client.get("/templates/weekly", headers=bob.headers).status_code == 200
    assert client.get("/schedules", headers=bob.headers).json() == []
    assert client.get(created["url"], headers=bob.headers).status_code == 403
    assert client.post("/schedules", json=BODY, headers=bob.headers).status_code == 403
