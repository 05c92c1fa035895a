"""The jobs API: submit, read, list, download; 4xx before queueing; 404 when not yours."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from core.settings import Settings
from registry import accounts
from registry.artifacts import artifact_problems
from registry.models import Job
from registry.storage import LocalArtifactStore
from tests import factories
from tests.factories import OPERATOR, User
from tests.fakes import EchoGenerator
from tests.jobs_support import RecordingQueue, runner
from tests.readers import open_docx

BODY = {"template": "weekly", "inputs": {"team": "core"}}


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Job)) or 0


def test_submit_returns_202_with_the_job_and_its_url(
    api: TestClient, alice: User, published: str, queue: RecordingQueue
) -> None:
    response = api.post("/jobs", json=BODY, headers=alice.headers | {"X-Trace-Id": "trace-123"})
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == job["url"] == f"/jobs/{job['id']}"
    assert job["status"] == "queued" and job["trace_id"] == "trace-123"
    assert queue.sent == [(job["id"], 0.0)]
    again = api.get(job["url"], headers=alice.headers)
    assert again.status_code == 200 and again.json()["id"] == job["id"]


def test_traceparent_gives_the_trace_id(api: TestClient, alice: User, published: str) -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    response = api.post("/jobs", json=BODY, headers=alice.headers | {"traceparent": parent})
    assert response.json()["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_idempotent_resubmission_returns_the_same_job(
    api: TestClient, alice: User, published: str, session: Session
) -> None:
    body = BODY | {"idempotency_key": "release-7"}
    first = api.post("/jobs", json=body, headers=alice.headers)
    second = api.post("/jobs", json=body, headers=alice.headers)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] == second.json()["id"] and count(session) == 1
    other = api.post("/jobs", json=body | {"inputs": {"team": "x"}}, headers=alice.headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"template": "weekly", "inputs": {}}, 422, "missing required input 'team'"),
        ({"template": "weekly", "inputs": {"team": ["a"]}}, 422, "input 'team'"),
        (BODY | {"formats": ["tiff"]}, 422, "unknown export format 'tiff'"),
        (BODY | {"surprise": 1}, 422, "surprise"),
        (BODY | {"version": "7"}, 404, "has no version '7'"),
        ({"template": "nope", "inputs": {}}, 404, "template 'nope' not found"),
    ],
)
def test_bad_requests_get_a_4xx_and_no_job(
    api: TestClient,
    alice: User,
    published: str,
    session: Session,
    queue: RecordingQueue,
    body: dict[str, object],
    status: int,
    needle: str,
) -> None:
    response = api.post("/jobs", json=body, headers=alice.headers)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]["message"]
    assert count(session) == 0 and queue.sent == []


def test_without_job_read_a_job_and_its_files_are_invisible(
    api: TestClient,
    alice: User,
    bob: User,
    published: str,
    session: Session,
    db: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    accounts.create_role(session, OPERATOR, "templates-only", ["template:read"])
    session.commit()
    peeker = factories.user(session, "peeker", teams=["a"], roles=["templates-only"])
    job = api.post("/jobs", json=BODY, headers=alice.headers).json()
    runner(db, EchoGenerator(), tmp_path).run(job["id"])
    for user in (bob, peeker):
        for url in (job["url"], f"{job['url']}/artifacts/pdf"):
            response = api.get(url, headers=user.headers)
            assert response.status_code == 404, (user.name, url)
            assert response.json()["error"]["code"] == "job_not_found"
        assert api.get("/jobs", headers=user.headers).json() == []
    assert api.get(f"{job['url']}/artifacts/pdf", headers=alice.headers).status_code == 200


def test_artifacts_download_with_type_and_name(
    api: TestClient, alice: User, published: str, db: sessionmaker[Session], tmp_path: Path
) -> None:
    job = api.post("/jobs", json=BODY, headers=alice.headers).json()
    early = api.get(f"{job['url']}/artifacts/pdf", headers=alice.headers)
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_ready"
    runner(db, EchoGenerator({"summary": "Shipped."}), tmp_path).run(job["id"])
    done = api.get(job["url"], headers=alice.headers).json()
    assert done["status"] == "succeeded"
    assert {a["format"] for a in done["artifacts"]} == {"pdf", "docx", "md"}
    word = api.get(f"{job['url']}/artifacts/word", headers=alice.headers)
    assert word.status_code == 200
    assert word.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'filename="weekly-1.docx"' in word.headers["content-disposition"]
    assert "Shipped." in [p.text for p in open_docx(word.content).paragraphs]
    pdf = api.get(f"{job['url']}/artifacts/pdf", headers=alice.headers)
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    missing = api.get(f"{job['url']}/artifacts/odt", headers=alice.headers)
    assert missing.status_code == 404


def test_a_recorded_artifact_whose_file_is_gone_is_reported_not_silently_404(
    api: TestClient, alice: User, published: str, db: sessionmaker[Session], tmp_path: Path
) -> None:
    job = api.post("/jobs", json=BODY, headers=alice.headers).json()
    runner(db, EchoGenerator(), tmp_path).run(job["id"])
    pdf = next((tmp_path / job["id"]).rglob("*.pdf"))
    pdf.unlink()
    gone = api.get(f"{job['url']}/artifacts/pdf", headers=alice.headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "artifact_missing"
    assert "recorded but missing from the store" in gone.json()["error"]["message"]
    assert api.get(f"{job['url']}/artifacts/md", headers=alice.headers).status_code == 200
    md = next((tmp_path / job["id"]).rglob("*.md"))
    md.write_text("tampered")
    with db() as session:
        store = LocalArtifactStore(tmp_path)
        found = {(p.format, p.problem) for p in artifact_problems(session, store, verify=True)}
        assert found == {("pdf", "missing"), ("md", "sha256 mismatch")}
        assert [p.format for p in artifact_problems(session, store)] == ["pdf"]


def test_list_filters_by_template_and_status(
    api: TestClient,
    alice: User,
    reader: User,
    published: str,
    db: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    first = api.post("/jobs", json=BODY, headers=alice.headers).json()
    second = api.post("/jobs", json=BODY, headers=alice.headers).json()
    runner(db, EchoGenerator(), tmp_path).run(first["id"])
    listed = api.get("/jobs", params={"template": "weekly"}, headers=reader.headers).json()
    assert {j["id"] for j in listed} == {first["id"], second["id"]}
    queued = api.get("/jobs", params={"status": "queued"}, headers=reader.headers).json()
    assert [j["id"] for j in queued] == [second["id"]]
    bad = api.get("/jobs", params={"status": "lost"}, headers=reader.headers)
    assert bad.status_code == 422


def test_health_readiness_and_metrics(
    api: TestClient, alice: User, published: str, queue: RecordingQueue
) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    checks = ready.json()["checks"]
    assert ready.status_code == 200
    assert checks == {"database": "ok", "queue": "ok", "storage": "ok"}
    api.post("/jobs", json=BODY, headers=alice.headers)
    metrics = api.get("/metrics")
    assert metrics.status_code == 200
    assert 'autoglm_jobs{status="queued"} 1.0' in metrics.text
    assert "autoglm_queue_depth 1.0" in metrics.text
    queue.broken = True
    down = api.get("/readyz")
    assert down.status_code == 503 and down.json()["checks"]["queue"].startswith("unreachable")


def test_an_oversized_body_is_413_and_stores_nothing(
    db: sessionmaker[Session], alice: User, published: str, session: Session, tmp_path: Path
) -> None:
    app = create_app(
        Settings(artifact_dir=tmp_path, request_max_bytes=1024, template_max_bytes=1024),
        sessions=db,
        dispatcher=RecordingQueue(),
    )
    with TestClient(app, raise_server_exceptions=False) as small:
        big = BODY | {"inputs": {"team": "x" * 200_000}}
        declared = small.post("/jobs", json=big, headers=alice.headers)
        assert declared.status_code == 413
        assert "AUTOGLM_REQUEST_MAX_BYTES" in declared.json()["error"]["message"]

        def chunks():  # no Content-Length: the cap is enforced while the body streams
            yield b'{"template": "weekly", "inputs": {"team": "'
            for _ in range(100):
                yield b"x" * 1000
            yield b'"}}'

        streamed = small.post(
            "/jobs", content=chunks(), headers=alice.headers | {"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
    assert count(session) == 0
