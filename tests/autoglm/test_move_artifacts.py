"""`autoglm admin move-artifacts`: a deployment that moves to a bucket takes its old local
files along (checked, recorded, then removed), on a committed PostgreSQL database and a real
S3 server (moto's); files that are missing or do not match stay where they are."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

import migrations
from api.app import create_app
from core.db import make_engine, session_factory
from core.settings import Settings
from registry.artifact_moves import move_to
from registry.errors import Forbidden
from registry.models import AuditEntry, JobArtifact
from registry.permissions import Actor
from registry.s3_store import S3ArtifactStore, client_for
from registry.storage import LocalArtifactStore
from tests import factories
from tests.autoglm.run import autoglm
from tests.database import fresh_database
from tests.jobs_support import publish
from tests.retention_support import make_job
from tests.s3_server import S3Server, bucket_fixture, s3_fixture  # noqa: F401


@pytest.fixture
def engine() -> Iterator[Engine]:
    with fresh_database() as url:
        migrations.upgrade(url)
        made = make_engine(url)
        with session_factory(made)() as session:
            publish(session)
        yield made
        made.dispose()


def recorded(engine: Engine, job_id: str) -> JobArtifact:
    with session_factory(engine)() as session:
        return session.scalars(select(JobArtifact).where(JobArtifact.job_id == job_id)).one()


def test_local_files_move_into_the_bucket_checked_and_recorded(
    engine: Engine, s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    local = LocalArtifactStore(tmp_path / "artifacts")
    with session_factory(engine)() as session:
        good = [make_job(session, local, "weekly", days_ago=1, attempts=n) for n in (1, 2)]
        corrupt = make_job(session, local, "weekly", days_ago=1)
        lost = make_job(session, local, "weekly", days_ago=1)
        session.commit()
        good_ids, good_uris = [j.id for j in good], [j.artifacts[0].uri for j in good]
        corrupt_uri, lost_uri = corrupt.artifacts[0].uri, lost.artifacts[0].uri
        corrupt_id, lost_id = corrupt.id, lost.id
    corrupt_path = local.local_path(corrupt_uri)
    assert corrupt_path is not None
    corrupt_path.write_bytes(b"# edited behind our back\n")
    lost_path = local.local_path(lost_uri)
    assert lost_path is not None
    lost_path.unlink()
    url = engine.url.render_as_string(hide_password=False)
    env = s3.env(bucket, AUTOGLM_DATABASE_URL=url, AUTOGLM_ARTIFACT_DIR=str(local.root))
    env["AUTOGLM_S3_PREFIX"] = "docgen"

    dry = autoglm("admin", "move-artifacts", "--dry-run", env=env)
    assert dry.returncode == 1
    assert "2 file(s) would move" in dry.stdout
    assert f"{corrupt_id}\tmd\tsha256 mismatch\t{corrupt_uri}" in dry.stdout
    assert f"{lost_id}\tmd\tmissing\t{lost_uri}" in dry.stdout
    assert s3.client().list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert [recorded(engine, j).uri for j in good_ids] == good_uris

    moved = autoglm("admin", "move-artifacts", env=env)
    assert moved.returncode == 1, moved.stderr
    assert f"2 file(s) moved to s3://{bucket}/docgen" in moved.stdout
    assert moved.stderr == "2 file(s) left in place: missing or not matching\n"
    bucket_store = S3ArtifactStore(client_for(Settings(s3_endpoint_url=s3.url)), bucket, "docgen")
    for job_id, old in zip(good_ids, good_uris, strict=True):
        row = recorded(engine, job_id)
        assert row.uri == f"s3://{bucket}/docgen/{old.removeprefix('file:')}"
        assert bucket_store.stored_sha256(row.uri) == row.sha256  # S3 checked the upload too
        head = s3.client().head_object(Bucket=bucket, Key=row.uri.split("/", 3)[3])
        assert head["ContentType"] == "text/markdown"
        assert not local.exists(old)  # removed once the row named the bucket
    assert recorded(engine, corrupt_id).uri == corrupt_uri and corrupt_path.exists()
    assert recorded(engine, lost_id).uri == lost_uri
    with session_factory(engine)() as session:
        actions = session.scalars(
            select(AuditEntry.target).where(AuditEntry.action == "job.artifacts_moved")
        ).all()
        assert sorted(actions) == sorted(good_ids)
        reader = factories.user(session, "reader", teams=["a"], roles=["viewer"])

    app = create_app(
        Settings(database_url=url), sessions=session_factory(engine), store=bucket_store
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        served = client.get(f"/jobs/{good_ids[1]}/artifacts/md", headers=reader.headers)
        assert served.status_code == 200, served.text
        assert served.content == f"# report of {good_ids[1]}, attempt 2\n".encode()
        assert hashlib.sha256(served.content).hexdigest() == recorded(engine, good_ids[1]).sha256

    again = autoglm("admin", "move-artifacts", env=env)
    assert again.returncode == 1 and "0 file(s) moved" in again.stdout  # nothing moves twice


def test_keep_local_leaves_the_files_and_no_bucket_is_one_line(
    engine: Engine, s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    local = LocalArtifactStore(tmp_path / "artifacts")
    with session_factory(engine)() as session:
        job = make_job(session, local, "weekly", days_ago=1)
        session.commit()
        job_id, uri = job.id, job.artifacts[0].uri
    url = engine.url.render_as_string(hide_password=False)
    base = {"AUTOGLM_DATABASE_URL": url, "AUTOGLM_ARTIFACT_DIR": str(local.root)}

    refused = autoglm("admin", "move-artifacts", env=base | {"AUTOGLM_S3_BUCKET": ""})
    assert refused.returncode == 2
    assert refused.stderr == (
        "error: AUTOGLM_S3_BUCKET is not set: there is no bucket to move files into\n"
    )

    kept = autoglm("admin", "move-artifacts", "--keep-local", env=s3.env(bucket, **base))
    assert kept.returncode == 0, kept.stderr
    assert recorded(engine, job_id).uri.startswith(f"s3://{bucket}/")
    assert local.exists(uri)


def test_a_session_without_admin_may_not_move(engine: Engine, tmp_path: Path) -> None:
    local = LocalArtifactStore(tmp_path)
    with session_factory(engine)() as session, pytest.raises(Forbidden):
        list(move_to(session, Actor(None, "viewer"), local, local))
