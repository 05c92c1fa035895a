"""Racing uploads against a real server and PostgreSQL: one wins, one gets 409, nothing torn."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from registry.models import AuditEntry, Template, TemplateVersion
from tests import factories
from tests.factories import User, template_yaml
from tests.live import LiveRegistry, live_registry

ROUNDS = 8


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[LiveRegistry, User]]:
    with live_registry() as registry, registry.sessions() as session:
        yield registry, factories.user(session, "alice", teams=["a"], roles=["maintainer"])


def race(registry: LiveRegistry, user: User, body: str) -> list[int]:
    """Send `body` twice at the same moment from two threads; return both statuses."""
    barrier, statuses = threading.Barrier(2), []

    def send() -> None:
        with httpx.Client(base_url=registry.url, timeout=30) as client:
            barrier.wait()
            response = client.post(
                "/templates",
                content=body.encode(),
                headers=user.headers | {"Content-Type": "application/yaml"},
            )
            statuses.append(response.status_code)

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
