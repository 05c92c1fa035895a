from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session

from core.settings import Settings
from registry.errors import Invalid
from registry.models import Job, JobArtifact, utcnow
from tests.factories import OPERATOR
from tests.jobs_support import STATIC, RecordingQueue, publish
from triggers.events import completion_event, dead_letter_headers, parse_request, source_key
from triggers.submit import JobRequest, submit

WHERE = {"topic": "autoglm.requests", "partition": 2, "offset": 41}


def test_an_event_becomes_a_request_keyed_by_its_place_in_kafka() -> None:
    value = json.dumps({"template": "weekly", "inputs": {"team": "x"}, "formats": ["md"]})
    request = parse_request(value.encode(), [], **WHERE)
    assert (request.template, request.inputs, request.formats) == ("weekly", {"team": "x"}, ["md"])
    assert request.idempotency_key == source_key(**WHERE) == "kafka:autoglm.requests:2:41"


def test_the_events_own_key_and_trace_id_win() -> None:
    value = json.dumps({"template": "weekly", "idempotency_key": "build-7", "version": 1.2})
    traceparent = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    request = parse_request(value.encode(), [("traceparent", traceparent)], **WHERE)
    assert (request.idempotency_key, request.version) == ("build-7", "1.2")
    assert request.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"", "empty event"),
        (b"\xff\xfe not utf-8", "event is not JSON"),
        (b"{'template': 1}", "event is not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"inputs": {}}', "template: Field required"),
        (b'{"template": "t", "colour": "red"}', "colour: Extra inputs are not permitted"),
        (b'{"template": "t", "inputs": []}', "inputs: Input should be a valid dictionary"),
        (b'{"template": "t\\u0000"}', "template: Value error, must not contain control"),
    ],
)
def test_bad_events_say_what_is_wrong(value: bytes, message: str) -> None:
    with pytest.raises(Invalid, match=message) as caught:
        parse_request(value, [], **WHERE)
    assert caught.value.code == "invalid_event"


def test_dead_letter_headers_keep_the_originals_and_say_why_and_where() -> None:
    original = [("traceparent", b"abc"), ("autoglm.error.message", b"an older failure")]
    headers = dict(dead_letter_headers(original, error="bad", code="invalid_event", **WHERE))
    assert headers == {
        "traceparent": b"abc",
        "autoglm.error.message": b"bad",
        "autoglm.error.code": b"invalid_event",
        "autoglm.error.topic": b"autoglm.requests",
        "autoglm.error.partition": b"2",
        "autoglm.error.offset": b"41",
    }


def test_a_completion_event_names_the_job_its_files_and_its_trigger(session: Session) -> None:
    publish(session, STATIC)
    request = JobRequest("static", {"team": "x"}, idempotency_key="k-1", trace_id="t-1")
    job = submit(session, OPERATOR, request, RecordingQueue(), Settings()).job
    job.status, job.finished_at, job.attempts = "succeeded", utcnow(), 1
    job.artifacts.append(
        JobArtifact(
            format="md",
            filename="static.md",
            uri="x",
            content_type="text/markdown",
            size=10,
            sha256="0" * 64,
        )
    )
    session.flush()
    event = completion_event(session.get(Job, job.id))  # type: ignore[arg-type]
    assert event["job_id"] == job.id and event["status"] == "succeeded"
    assert (event["template"], event["version"], event["idempotency_key"]) == ("static", "1", "k-1")
    assert event["trace_id"] == "t-1" and event["error"] is None
    assert event["artifacts"] == [
        {
            "format": "md",
            "filename": "static.md",
            "content_type": "text/markdown",
            "size": 10,
            "sha256": "0" * 64,
            "url": f"/jobs/{job.id}/artifacts/md",
        }
    ]
    json.dumps(event)  # it is what goes on the wire
