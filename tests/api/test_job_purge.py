"""`DELETE /jobs/{id}/artifacts`: admins purge a finished job's files; downloads answer 410."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import AuditEntry, Job, JobArtifact
from registry.storage import LocalArtifactStore
from tests.factories import User
from tests.retention_support import make_job


def test_an_admin_purges_the_files_and_a_download_answers_410(
    api: TestClient, session: Session, admin: User, alice: User, published: str, tmp_path: Path
) -> None:
    store = LocalArtifactStore(tmp_path)  # the one the `api` app serves from
    job = make_job(session, store, published, days_ago=1)
    other = make_job(session, store, published, days_ago=1)
    session.commit()
    uri, other_uri = job.artifacts[0].uri, other.artifacts[0].uri
    download = f"/jobs/{job.id}/artifacts/md"
    assert api.get(download, headers=alice.headers).status_code == 200

    refused = api.delete(f"/jobs/{job.id}/artifacts", headers=alice.headers)
    assert refused.status_code == 403 and store.exists(uri)

    purged = api.delete(f"/jobs/{job.id}/artifacts", headers=admin.headers)
    assert purged.status_code == 200, purged.text
    assert purged.json()["files_purged_at"] is not None
    assert not store.exists(uri) and store.exists(other_uri)  # only this job's files
    assert session.scalars(select(JobArtifact).where(JobArtifact.job_id == job.id)).all() == []
    gone = api.get(download, headers=alice.headers)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "artifact_purged"
    assert api.get(f"/jobs/{other.id}/artifacts/md", headers=alice.headers).status_code == 200

    again = api.delete(f"/jobs/{job.id}/artifacts", headers=admin.headers)
    assert again.status_code == 200
    assert again.json()["files_purged_at"] == purged.json()["files_purged_at"]
    audits = session.scalars(select(AuditEntry.action).where(AuditEntry.target == job.id)).all()
    assert audits == ["job.purge", "job.purge"]


def test_an_unfinished_job_or_a_missing_one_is_refused(
    api: TestClient, session: Session, admin: User, published: str, tmp_path: Path
) -> None:
    store = LocalArtifactStore(tmp_path)
    running = make_job(session, store, published, status="running", days_ago=None)
    session.commit()
    refused = api.delete(f"/jobs/{running.id}/artifacts", headers=admin.headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "job_not_final"
    assert store.exists(running.artifacts[0].uri)
    assert session.get(Job, running.id, populate_existing=True).files_purged_at is None  # type: ignore[union-attr]
    missing = api.delete("/jobs/nope/artifacts", headers=admin.headers)
    assert missing.status_code == 404
