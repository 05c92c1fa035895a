from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

import migrations
from api.app import create_app
from core.db import make_engine, session_factory
from core.settings import Settings
from registry.storage import LocalArtifactStore
from tests import factories
from tests.factories import User
from tests.jobs_support import RecordingQueue, publish

MAX_BYTES = 16 * 1024


@pytest.fixture
def client(db: sessionmaker[Session]) -> Iterator[TestClient]:
    """The real app on the test's rolled-back PostgreSQL transaction."""
    app = create_app(Settings(template_max_bytes=MAX_BYTES), sessions=db)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def alice(session: Session) -> User:
    """Maintainer of team a."""
    return factories.user(session, "alice", teams=["a"], roles=["maintainer"])


@pytest.fixture
def bob(session: Session) -> User:
    """Maintainer of team b."""
    return factories.user(session, "bob", teams=["b"], roles=["maintainer"])


@pytest.fixture
def reader(session: Session) -> User:
    """A viewer in team a: may read team a's templates, nothing more."""
    return factories.user(session, "reader", teams=["a"], roles=["viewer"])


@pytest.fixture
def admin(session: Session) -> User:
    return factories.user(session, "root", teams=["platform"], roles=["admin"])


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def api(db: sessionmaker[Session], queue: RecordingQueue, tmp_path: Path) -> Iterator[TestClient]:
    """The app with a recording queue and artifacts under the test's temporary folder."""
    app = create_app(
        Settings(artifact_dir=tmp_path),
        sessions=db,
        dispatcher=queue,
        store=LocalArtifactStore(tmp_path),
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def published(session: Session, alice: User) -> str:
    """The `weekly` report template, published in alice's team."""
    return publish(session)


@pytest.fixture(params=["postgresql", "sqlite"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """Sessions on PostgreSQL (the test's rolled-back transaction), then on a migrated SQLite
    file: for answers that must not depend on the database."""
    if request.param == "postgresql":
        yield request.getfixturevalue("db")
        return
    url = f"sqlite:///{tmp_path / 'autoglm.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def any_api(any_db: sessionmaker[Session], tmp_path: Path) -> Iterator[TestClient]:
    """`api` on `any_db`."""
    app = create_app(
        Settings(artifact_dir=tmp_path),
        sessions=any_db,
        dispatcher=RecordingQueue(),
        store=LocalArtifactStore(tmp_path),
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
