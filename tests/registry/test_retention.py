"""Retention on real PostgreSQL with real files (a local folder and a bucket on moto's S3
server): only expired final jobs go, with exactly their files; the rest stays."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from core.settings import Settings
from documents.errors import TemplateError
from registry.models import CachedGeneration, Job, Schedule
from registry.retention import sweep_expired
from registry.s3_store import S3ArtifactStore, client_for
from registry.storage import ArtifactStore, LocalArtifactStore
from tests.jobs_support import REPORT, STATIC, publish
from tests.retention_support import NOW, make_job, uris
from tests.s3_server import S3Server, bucket_fixture, s3_fixture  # noqa: F401
from triggers import retention as retention_loop

SETTINGS = Settings(retention_days=30, retention_batch_size=500)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return LocalArtifactStore(tmp_path)
    s3: S3Server = request.getfixturevalue("s3")
    bucket = s3.new_bucket()
    settings = Settings(s3_bucket=bucket, s3_endpoint_url=s3.url, s3_prefix="docgen")
    return S3ArtifactStore(client_for(settings), bucket, settings.s3_prefix)


@pytest.fixture
def local(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path)


def with_retention(text: str, name: str, days: object) -> str:
    return text.replace("name: weekly", f"name: {name}", 1).replace(
        'version: "1"', f'version: "1"\nretention_days: {days}', 1
    )


def alive(session: Session, job: Job) -> bool:
    return session.get(Job, job.id, populate_existing=True) is not None


def deleted(kind: str) -> float:
    return REGISTRY.get_sample_value("autoglm_retention_deleted_total", {"kind": kind}) or 0


def test_only_expired_final_jobs_and_their_files_are_removed(
    session: Session, store: ArtifactStore
) -> None:
    publish(session)
    expired = [make_job(session, store, "weekly", status=s) for s in ("succeeded", "dead")]
    expired.append(make_job(session, store, "weekly", status="cancelled", attempts=2))
    kept = {
        "recent": make_job(session, store, "weekly", days_ago=29),
        "queued": make_job(session, store, "weekly", status="queued", days_ago=None),
        "running": make_job(session, store, "weekly", status="running", days_ago=None),
        "failed": make_job(session, store, "weekly", status="failed", days_ago=60),
        "scheduled": make_job(session, store, "weekly", days_ago=90),
    }
    session.add(
        Schedule(
            template_id=kept["scheduled"].template_id,
            expression="0 0 * * * *",
            next_fire_at=NOW,
            last_job_id=kept["scheduled"].id,
        )
    )
    session.commit()
    expired_files = [(j.id, uri) for j in expired for uri in uris(j)]
    kept_files = {name: uris(job) for name, job in kept.items()}
    before = {kind: deleted(kind) for kind in retention_loop.KINDS}

    swept = retention_loop.sweep(session, store, SETTINGS, now=NOW)

    assert (swept.jobs, swept.artifacts) == (3, 3)
    assert {k: deleted(k) - before[k] for k in retention_loop.KINDS} == {
        "jobs": 3,
        "artifacts": 3,
        "cached_generations": 0,
    }
    assert not any(alive(session, j) for j in expired)
    assert not any(store.exists(uri) for _, uri in expired_files)
    # the cancelled job's earlier attempt left a file no row names: gone too
    assert not store.exists(expired_files[2][1].replace("/2/", "/1/"))
    for name, job in kept.items():
        assert alive(session, job), name
        assert all(store.exists(uri) for uri in kept_files[name]), name
    again = sweep_expired(session, store, SETTINGS, now=NOW)
    assert (again.jobs, again.artifacts) == (0, 0)


def test_a_template_overrides_the_global_retention(session: Session, local: ArtifactStore) -> None:
    for name, days in (("short", 1), ("long", 90), ("forever", 0)):
        publish(session, with_retention(REPORT, name, days))
    publish(session, STATIC)  # the global setting applies
    short = make_job(session, local, "short", days_ago=2)
    short_recent = make_job(session, local, "short", days_ago=0.5)
    long_kept = make_job(session, local, "long", days_ago=40)
    long_gone = make_job(session, local, "long", days_ago=91)
    forever = make_job(session, local, "forever", days_ago=3650)
    static = make_job(session, local, "static", days_ago=31)
    session.commit()

    swept = sweep_expired(session, local, SETTINGS, now=NOW)

    assert swept.jobs == 3
    assert [alive(session, j) for j in (short, short_recent, long_kept, long_gone)] == [
        False,
        True,
        True,
        False,
    ]
    assert alive(session, forever) and not alive(session, static)
    old = make_job(session, local, "static", days_ago=3650)
    assert sweep_expired(session, local, Settings(retention_days=0), now=NOW).jobs == 0
    assert alive(session, old)  # 0 globally: kept forever, too


@pytest.mark.parametrize("days", ["-1", "soon", ".inf"])
def test_a_bad_retention_days_is_refused_naming_the_field(days: str, template: Any) -> None:
    with pytest.raises(TemplateError) as refused:
        template(with_retention(STATIC.replace("name: static", "name: weekly"), "x", days))
    assert "retention_days" in str(refused.value)


@pytest.fixture
def deletes(session: Session) -> Iterator[list[str]]:
    """Every DELETE statement the session sends to the server."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            seen.append(statement.split()[2])

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", record)
    yield seen
    event.remove(connection, "before_cursor_execute", record)


def test_jobs_and_cached_generations_go_in_batches(
    session: Session, local: ArtifactStore, deletes: list[str]
) -> None:
    publish(session)
    jobs = [make_job(session, local, "weekly") for _ in range(5)]
    for n in range(5):
        expires = NOW - timedelta(seconds=1) if n < 3 else NOW + timedelta(days=1)
        session.add(CachedGeneration(key=f"{n:064d}", model="m", result={}, expires_at=expires))
    session.commit()

    swept = sweep_expired(session, local, Settings(retention_batch_size=2), now=NOW)

    assert (swept.jobs, swept.artifacts, swept.cached_generations) == (5, 5, 3)
    assert deletes.count("jobs") == 3  # 2 + 2 + 1
    assert deletes.count("generation_cache") == 2  # 2 + 1
    assert not any(alive(session, j) for j in jobs)
    left = session.scalars(select(CachedGeneration.key).order_by(CachedGeneration.key)).all()
    assert left == [f"{n:064d}" for n in (3, 4)]  # not expired yet
