"""Racing uploads against a real server and PostgreSQL: one wins, one gets 409, nothing torn."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import func, select

from registry.models import AuditEntry, Job, Template, TemplateVersion
from tests import factories
from tests.factories import User, template_yaml
from tests.jobs_support import publish
from tests.live import LiveRegistry, live_registry

ROUNDS = 8


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[LiveRegistry, User]]:
    with live_registry() as registry, registry.sessions() as session:
        yield registry, factories.user(session, "alice", teams=["a"], roles=["maintainer"])


def race(registry: LiveRegistry, user: User, body: str) -> list[int]:
    """Upload `body` twice at the same moment from two threads; return both statuses."""
    return race_requests(
        registry,
        lambda client: client.post(
            "/templates",
            content=body.encode(),
            headers=user.headers | {"Content-Type": "application/yaml"},
        ),
    )


def race_requests(
    registry: LiveRegistry, request: Callable[[httpx.Client], httpx.Response]
) -> list[int]:
    """Make `request` twice at the same moment from two threads; return both statuses."""
    barrier, statuses = threading.Barrier(2), []

    def send() -> None:
        with httpx.Client(base_url=registry.url, timeout=30) as client:
            barrier.wait()
            statuses.append(request(client).status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)


def count(registry: LiveRegistry, model: type, *where: object) -> int:
    with registry.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_racing_uploads_of_a_new_template(live: tuple[LiveRegistry, User]) -> None:
    registry, alice = live
    for i in range(ROUNDS):
        assert race(registry, alice, template_yaml(f"new-{i}", "1")) == [201, 409]
    assert count(registry, Template, Template.name.like("new-%")) == ROUNDS
    assert count(registry, TemplateVersion) == ROUNDS
    assert count(registry, AuditEntry, AuditEntry.action == "template.create") == ROUNDS
    assert count(registry, AuditEntry, AuditEntry.action == "template.upload") == ROUNDS


def test_racing_uploads_of_a_new_version(live: tuple[LiveRegistry, User]) -> None:
    registry, alice = live
    before = count(registry, TemplateVersion)
    for i in range(ROUNDS):
        assert race(registry, alice, template_yaml("shared", str(i + 1))) == [201, 409]
    assert count(registry, TemplateVersion) == before + ROUNDS
    assert count(registry, Template, Template.name == "shared") == 1


def test_racing_submissions_with_one_idempotency_key_make_one_job(
    live: tuple[LiveRegistry, User],
) -> None:
    registry, alice = live
    with registry.sessions() as session:
        publish(session)
    for i in range(ROUNDS):
        body = {"template": "weekly", "inputs": {"team": "x"}, "idempotency_key": f"k-{i}"}
        statuses = race_requests(
            registry,
            lambda client, body=body: client.post("/jobs", json=body, headers=alice.headers),
        )
        assert statuses == [200, 202]
    assert count(registry, Job, Job.idempotency_key.like("k-%")) == ROUNDS
