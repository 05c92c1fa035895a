"""Jobs submitted through the API run before event and scheduled work unless told otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import User
from tests.jobs_support import RecordingQueue

BODY = {"template": "weekly", "inputs": {"team": "core"}}


@pytest.mark.parametrize(
    ("extra", "priority"), [({}, 7), ({"priority": 0}, 0), ({"priority": 9}, 9)]
)
def test_an_api_job_is_sent_with_its_priority_the_interactive_one_by_default(
    api: TestClient,
    alice: User,
    published: str,
    queue: RecordingQueue,
    extra: dict[str, Any],
    priority: int,
) -> None:
    response = api.post("/jobs", json=BODY | extra, headers=alice.headers)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["priority"] == priority
    assert queue.priorities == {job["id"]: priority}


def test_a_priority_out_of_range_is_refused_before_queueing(
    api: TestClient, alice: User, published: str, queue: RecordingQueue
) -> None:
    for bad in (-1, 10):
        refused = api.post("/jobs", json=BODY | {"priority": bad}, headers=alice.headers)
        assert refused.status_code == 422, refused.text
    assert queue.sent == []
