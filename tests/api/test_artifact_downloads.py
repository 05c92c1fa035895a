"""Downloads from either store are checked against the recorded SHA-256; from a bucket they
stream through the API or, with presigned downloads on, redirect to it after the same checks.
The S3 server is moto's, on loopback."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from api.app import create_app
from core.settings import Settings
from registry.artifacts import artifact_problems, content_disposition
from registry.models import JobArtifact
from registry.s3_store import S3ArtifactStore, client_for
from registry.storage import ArtifactStore, LocalArtifactStore
from tests.factories import User
from tests.fakes import EchoGenerator
from tests.jobs_support import RecordingQueue, runner
from tests.live import free_port
from tests.readers import open_docx, pdf_text, squash
from tests.s3_server import S3Server, bucket_fixture, s3_fixture  # noqa: F401

BODY = {"template": "weekly", "inputs": {"team": "core"}}


@dataclass
class Downloads:
    """Apps on the test's database, and `weekly` jobs run by a worker into a given store."""

    db: sessionmaker[Session]
    alice: User  # maintainer of team a, where `weekly` is published
    tmp_path: Path
    clients: ExitStack

    def app(self, store: ArtifactStore, **settings: Any) -> TestClient:
        made = create_app(
            Settings(artifact_dir=self.tmp_path, **settings),
            sessions=self.db,
            dispatcher=RecordingQueue(),
            store=store,
        )
        client = TestClient(made, base_url="https://docgen.test", raise_server_exceptions=False)
        return self.clients.enter_context(client)

    def finished_job(self, client: TestClient, store: ArtifactStore) -> dict[str, Any]:
        """A job submitted over the API and run by a worker that stores into `store`."""
        job = client.post("/jobs", json=BODY, headers=self.alice.headers).json()
        worker = dataclasses.replace(runner(self.db, EchoGenerator(), self.tmp_path), store=store)
        worker.run(job["id"])
        done = client.get(job["url"], headers=self.alice.headers).json()
        assert done["status"] == "succeeded", done["error"]
        return dict(done)

    def object_key(self, job: dict[str, Any], fmt: str) -> str:
        """The bucket key of `job`'s file in `fmt` (the API shows no URIs; the row has it)."""
        with self.db() as session:
            uri = session.scalars(
                select(JobArtifact.uri).where(
                    JobArtifact.job_id == job["id"], JobArtifact.format == fmt
                )
            ).one()
        return uri.split("/", 3)[3]  # s3://bucket/key

    def append_behind_the_back(self, store: ArtifactStore, job: dict[str, Any], fmt: str) -> None:
        """Change `job`'s file in `fmt` without the store (one byte more, same name)."""
        if isinstance(store, S3ArtifactStore):
            key = self.object_key(job, fmt)
            body = store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read()
            store.client.put_object(Bucket=store.bucket, Key=key, Body=body + b"!")
            return
        path = next((self.tmp_path / job["id"]).rglob(f"*.{fmt}"))
        path.write_bytes(path.read_bytes() + b"!")


@pytest.fixture
def files(s3: S3Server, bucket: str) -> S3ArtifactStore:
    settings = Settings(s3_bucket=bucket, s3_endpoint_url=s3.url, s3_prefix="docgen")
    return S3ArtifactStore(client_for(settings), bucket, settings.s3_prefix)


@pytest.fixture
def downloads(
    db: sessionmaker[Session], alice: User, published: str, tmp_path: Path
) -> Iterator[Downloads]:
    with ExitStack() as clients:
        yield Downloads(db, alice, tmp_path, clients)


def test_s3_files_stream_through_the_api_and_a_corrupt_one_is_refused(
    downloads: Downloads, files: S3ArtifactStore, s3: S3Server, bob: User, tmp_path: Path
) -> None:
    alice, client = downloads.alice, downloads.app(files)
    job = downloads.finished_job(client, files)
    key = downloads.object_key(job, "docx")
    assert key.startswith(f"docgen/{job['id']}/1/")
    head = s3.client().head_object(Bucket=files.bucket, Key=key)
    docx = next(a for a in job["artifacts"] if a["format"] == "docx")
    assert head["ContentType"] == docx["content_type"]
    assert head["Metadata"]["sha256"] == docx["sha256"]

    pdf = client.get(f"{job['url']}/artifacts/pdf", headers=alice.headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == 'attachment; filename="weekly-1.pdf"'
    assert int(pdf.headers["content-length"]) == len(pdf.content)
    assert "Weeklyreport:core" in squash(pdf_text(pdf.content, tmp_path))
    word = client.get(f"{job['url']}/artifacts/docx", headers=alice.headers)
    assert hashlib.sha256(word.content).hexdigest() == docx["sha256"]
    assert "Weekly report: core" in [p.text for p in open_docx(word.content).paragraphs]
    assert client.get(f"{job['url']}/artifacts/pdf", headers=bob.headers).status_code == 404

    s3.client().put_object(Bucket=files.bucket, Key=key, Body=b"PK\x03\x04 bit rot")
    with capture_logs() as logs:
        corrupt = client.get(f"{job['url']}/artifacts/docx", headers=alice.headers)
    assert corrupt.status_code == 500
    error = corrupt.json()["error"]
    assert error["code"] == "artifact_corrupt"
    assert "does not match the SHA-256 recorded" in error["message"]
    logged = [e for e in logs if e["event"] == "an artifact does not match its recorded SHA-256"]
    assert logged and logged[0]["log_level"] == "error"
    assert logged[0]["recorded"] == docx["sha256"] and logged[0]["job_id"] == job["id"]
    assert client.get(f"{job['url']}/artifacts/md", headers=alice.headers).status_code == 200


def test_presigned_downloads_redirect_to_the_bucket_after_the_same_checks(
    downloads: Downloads, files: S3ArtifactStore, s3: S3Server, bob: User, tmp_path: Path
) -> None:
    alice, client = downloads.alice, downloads.app(files, s3_presign_seconds=120)
    job = downloads.finished_job(client, files)
    url = f"{job['url']}/artifacts/pdf"
    moved = client.get(url, headers=alice.headers, follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["cache-control"] == "no-store"
    location = moved.headers["location"]
    assert location.startswith(f"{s3.url}/{files.bucket}/docgen/{job['id']}/1/")
    assert "X-Amz-Expires=120" in location
    fetched = httpx.get(location)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "application/pdf"
    assert fetched.headers["content-disposition"] == 'attachment; filename="weekly-1.pdf"'
    pdf = next(a for a in job["artifacts"] if a["format"] == "pdf")
    assert hashlib.sha256(fetched.content).hexdigest() == pdf["sha256"]
    assert "Weeklyreport:core" in squash(pdf_text(fetched.content, tmp_path))

    hidden = client.get(url, headers=bob.headers, follow_redirects=False)
    assert hidden.status_code == 404 and "location" not in hidden.headers
    queued = client.post("/jobs", json=BODY, headers=alice.headers).json()
    early = client.get(f"{queued['url']}/artifacts/pdf", headers=alice.headers)
    assert early.status_code == 409 and "location" not in early.headers

    s3.client().put_object(
        Bucket=files.bucket, Key=downloads.object_key(job, "pdf"), Body=b"%PDF- other"
    )
    corrupt = client.get(url, headers=alice.headers, follow_redirects=False)
    assert corrupt.status_code == 500 and "location" not in corrupt.headers
    assert corrupt.json()["error"]["code"] == "artifact_corrupt"


def test_check_artifacts_finds_missing_and_corrupt_objects_in_the_bucket(
    downloads: Downloads, files: S3ArtifactStore, s3: S3Server
) -> None:
    job = downloads.finished_job(downloads.app(files), files)
    with downloads.db() as session:
        assert list(artifact_problems(session, files, verify=True)) == []
        s3.client().delete_object(Bucket=files.bucket, Key=downloads.object_key(job, "docx"))
        s3.client().put_object(
            Bucket=files.bucket, Key=downloads.object_key(job, "md"), Body=b"# edited"
        )
        found = {(p.format, p.problem) for p in artifact_problems(session, files, verify=True)}
        assert found == {("docx", "missing"), ("md", "sha256 mismatch")}


def sign_in(client: TestClient, user: User) -> None:
    form = client.get("/console/sign-in")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    signed = client.post(
        "/console/sign-in", data={"token": user.token, "csrf": csrf}, follow_redirects=False
    )
    assert signed.status_code == 303


@pytest.mark.parametrize("kind", ["s3", "local"])
def test_the_console_shows_a_pdf_inline_from_either_store_and_refuses_a_corrupt_file(
    kind: str, downloads: Downloads, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store: ArtifactStore = (
        request.getfixturevalue("files") if kind == "s3" else LocalArtifactStore(tmp_path)
    )
    client = downloads.app(store, s3_presign_seconds=60)  # the console streams either way
    job = downloads.finished_job(client, store)
    sign_in(client, downloads.alice)
    shown = client.get(f"/console/jobs/{job['id']}/files/pdf")
    assert shown.status_code == 200 and shown.headers["content-type"] == "application/pdf"
    assert shown.headers["content-disposition"] == 'inline; filename="weekly-1.pdf"'
    assert shown.headers["content-security-policy"] == "frame-ancestors 'self'"
    assert "Weeklyreport:core" in squash(pdf_text(shown.content, tmp_path))

    downloads.append_behind_the_back(store, job, "md")
    refused = client.get(f"/console/jobs/{job['id']}/files/md")
    assert refused.status_code == 500 and "is corrupt" in refused.text
    api = client.get(f"{job['url']}/artifacts/md", headers=downloads.alice.headers)
    assert (api.status_code, api.json()["error"]["code"]) == (500, "artifact_corrupt")


def test_a_bucket_out_of_reach_answers_503_and_readyz_says_so(
    downloads: Downloads, files: S3ArtifactStore
) -> None:
    alice, job = downloads.alice, downloads.finished_job(downloads.app(files), files)
    assert downloads.app(files).get("/readyz").json()["checks"]["storage"] == "ok"
    gone = Settings(s3_bucket=files.bucket, s3_endpoint_url=f"http://127.0.0.1:{free_port()}")
    away = S3ArtifactStore(client_for(gone), files.bucket, "docgen")  # same objects, no server
    for presign in (0, 60):  # streamed, or the checksum read before a redirect
        client = downloads.app(away, s3_presign_seconds=presign)
        answer = client.get(f"{job['url']}/artifacts/pdf", headers=alice.headers)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert "location" not in answer.headers
        error = answer.json()["error"]
        assert error["code"] == "storage_unavailable"
        assert error["message"] == "the artifact store cannot be reached just now; retry later"
    sign_in(client, alice)
    page = client.get(f"/console/jobs/{job['id']}/files/pdf")
    assert page.status_code == 503 and page.headers["retry-after"] == "5"
    assert "The file store cannot be reached just now" in page.text
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.headers["retry-after"] == "5"
    checks = ready.json()["checks"]
    assert checks["database"] == "ok" and checks["queue"] == "ok"
    assert checks["storage"].startswith(f"unreachable: bucket '{files.bucket}' cannot be reached")


def test_a_purged_file_is_gone_in_the_console_too(downloads: Downloads, admin: User) -> None:
    store = LocalArtifactStore(downloads.tmp_path)
    client = downloads.app(store)
    job = downloads.finished_job(client, store)
    purged = client.delete(f"{job['url']}/artifacts", headers=admin.headers)
    assert purged.status_code == 200, purged.text
    sign_in(client, downloads.alice)
    page = client.get(f"/console/jobs/{job['id']}/files/pdf")
    assert page.status_code == 410 and page.headers["content-type"].startswith("text/html")
    assert "purged" in page.text and "<h1>No longer kept</h1>" in page.text  # not API JSON


def test_with_local_files_presigning_falls_back_to_streaming(downloads: Downloads) -> None:
    store = LocalArtifactStore(downloads.tmp_path)
    client = downloads.app(store, s3_presign_seconds=60)
    job = downloads.finished_job(client, store)
    url = f"{job['url']}/artifacts/md"
    md = client.get(url, headers=downloads.alice.headers, follow_redirects=False)
    assert md.status_code == 200 and md.content.startswith(b"# Weekly report: core")


def test_a_unicode_file_name_is_sent_in_rfc_5987_form() -> None:
    chinese = JobArtifact(filename="周报 1.pdf")
    assert content_disposition(chinese) == "attachment; filename*=utf-8''%E5%91%A8%E6%8A%A5%201.pdf"
    plain = JobArtifact(filename="weekly-1.pdf")
    assert content_disposition(plain, inline=True) == 'inline; filename="weekly-1.pdf"'
