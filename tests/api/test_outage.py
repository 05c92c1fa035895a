"""The API while the database is away: 503 `database_unavailable` with `Retry-After` on every
endpoint that needs it, `/readyz` says so, and a job once committed is always answered 202.

The outages are real: an engine on a closed port, an SQLite path that cannot be opened, and
`pg_terminate_backend` on the test database's connections (the shared server keeps running).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

import migrations
from api.app import create_app
from core.db import make_engine, session_factory
from core.settings import Settings
from registry.models import Job
from tests import factories
from tests.database import fresh_database
from tests.factories import User
from tests.jobs_support import RecordingQueue, publish
from tests.live import LiveRegistry, live_registry
from triggers.webhooks import sign

BODY = {"template": "weekly", "inputs": {"team": "core"}}
KILL_EVERY_SECONDS = 0.05  # often enough to hit many requests, rarely enough to let most pass
NO_DATABASE = {"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def unreachable_url(kind: str, tmp_path: Path) -> str:
    if kind == "postgresql":
        return "postgresql+psycopg://postgres@127.0.0.1:1/nothing"  # nothing listens on port 1
    return f"sqlite:///{tmp_path}"  # a folder: SQLite cannot open it as a database file


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_every_endpoint_answers_503_while_the_database_is_unreachable(
    kind: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=unreachable_url(kind, tmp_path), artifact_dir=tmp_path)
    app = create_app(settings, dispatcher=RecordingQueue())
    headers = {"Authorization": "Bearer agl_whatever", "Content-Type": "application/json"}
    checked = []
    with TestClient(app, raise_server_exceptions=False) as client:
        for path, operations in app.openapi()["paths"].items():
            if path in NO_DATABASE | {"/readyz"}:
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            for method in operations:
                response = client.request(method, url, headers=headers, content=b"{}")
                where = f"{method.upper()} {url}"
                assert response.status_code == 503, f"{where}: {response.text}"
                assert response.headers["Retry-After"] == "5", where
                error = response.json()["error"]
                assert error["code"] == "database_unavailable", where
                assert error["problems"] == [error["message"]], where
                checked.append(where)
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
    assert len(checked) >= 25
    assert ready.status_code == 503 and ready.headers["Retry-After"] == "5"
    assert ready.json()["checks"]["database"] == "unreachable: OperationalError"
    assert ready.json()["checks"]["queue"] == "ok"


def test_openapi_documents_the_503() -> None:
    spec = create_app(Settings(), dispatcher=RecordingQueue()).openapi()
    assert "503" in spec["paths"]["/jobs"]["post"]["responses"]
    assert "503" in spec["paths"]["/schedules/{schedule_id}"]["delete"]["responses"]
    assert "Retry-After" in spec["paths"]["/readyz"]["get"]["responses"]["503"]["headers"]


# --- connections killed under a running API ---------------------------------------------


def admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql", database="postgres").render_as_string(False)


def kill_connections(url: str, *, wait: bool) -> int:
    """Terminate every backend on `url`'s database (`wait`: until each has exited)."""
    database = make_url(url).database
    timeout = ", 5000" if wait else ""
    with psycopg.connect(admin_dsn(url), autocommit=True) as admin:
        rows = admin.execute(
            f"SELECT pg_terminate_backend(pid{timeout}) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        ).fetchall()
    return len(rows)


@dataclass
class Committed:
    url: str
    engine: Engine
    alice: User

    def jobs(self, *where: Any) -> list[Job]:
        with session_factory(self.engine)() as session:
            return list(session.scalars(select(Job).where(*where)))


@pytest.fixture(scope="module")
def committed() -> Iterator[Committed]:
    """A migrated PostgreSQL database whose commits are real (no outer transaction), with
    alice and her published `weekly` template."""
    with fresh_database("autoglm_outage") as url:
        migrations.upgrade(url)
        engine = make_engine(url)
        with session_factory(engine)() as session:
            alice = factories.user(session, "alice", teams=["a"], roles=["maintainer"])
            publish(session)
        yield Committed(url, engine, alice)
        engine.dispose()


def allow_connections(url: str, allowed: bool) -> None:
    """Let the database take new connections, or refuse them (as while it restarts)."""
    database = make_url(url).database
    with psycopg.connect(admin_dsn(url), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')


class OutageAfterSend(RecordingQueue):
    """A queue that takes the job, then takes the database away from the API: its
    connections are killed and new ones refused, so anything the submission or its answer
    still asks of the database fails. `broken` also fails the send, so that the submission
    tries to record that in the database too."""

    def __init__(self, url: str, *, broken: bool) -> None:
        super().__init__()
        self.url, self.fail = url, broken

    def send(self, job_id: str, *, delay: float = 0.0, priority: int = 5) -> None:
        self.sent.append((job_id, delay))
        allow_connections(self.url, False)
        assert kill_connections(self.url, wait=True) >= 1
        if self.fail:
            raise ConnectionError("broker down as well")


@pytest.fixture
def outage(committed: Committed) -> Iterator[None]:
    yield
    allow_connections(committed.url, True)


@pytest.mark.usefixtures("outage")
@pytest.mark.parametrize("broken", [False, True], ids=["sent", "send-failed"])
def test_a_job_committed_just_before_the_database_went_away_is_answered_202(
    committed: Committed, tmp_path: Path, broken: bool
) -> None:
    queue = OutageAfterSend(committed.url, broken=broken)
    engine = make_engine(committed.url)
    app = create_app(Settings(artifact_dir=tmp_path), session_factory(engine), queue)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/jobs", json=BODY, headers=committed.alice.headers)
        assert response.status_code == 202, response.text
        job = response.json()
        assert (job["template"], job["version"], job["artifacts"]) == ("weekly", "1", [])
        assert queue.sent == [(job["id"], 0.0)]
        while_away = client.get(job["url"], headers=committed.alice.headers)
        assert while_away.status_code == 503
        allow_connections(committed.url, True)
        assert len(committed.jobs(Job.id == job["id"])) == 1
        again = client.get(job["url"], headers=committed.alice.headers)
        assert again.status_code == 200 and again.json()["id"] == job["id"]
    engine.dispose()


@pytest.mark.usefixtures("outage")
def test_a_webhook_job_committed_just_before_the_database_went_away_is_answered_202(
    committed: Committed, tmp_path: Path
) -> None:
    engine = make_engine(committed.url)
    queue = OutageAfterSend(committed.url, broken=False)
    app = create_app(Settings(artifact_dir=tmp_path), session_factory(engine), queue)
    secret = "s" * 32
    with TestClient(app, raise_server_exceptions=False) as client:
        created = client.post(
            "/webhooks",
            json={"name": "outage", "template": "weekly", "inputs": {"team": "$.team"}}
            | {"secret": secret},
            headers=committed.alice.headers,
        )
        assert created.status_code == 201, created.text
        payload = b'{"team": "core"}'
        delivery = {"X-Hub-Signature-256": sign(secret, payload), "X-GitHub-Delivery": "d-1"}
        response = client.post("/hooks/outage", content=payload, headers=delivery)
        assert response.status_code == 202, response.text
        allow_connections(committed.url, True)
        assert len(committed.jobs(Job.id == response.json()["id"])) == 1
        replay = client.post("/hooks/outage", content=payload, headers=delivery)
        assert replay.status_code == 200 and replay.json()["id"] == response.json()["id"]
    engine.dispose()


@dataclass
class Outcomes:
    """What each submission was answered, by idempotency key (None: sent without one)."""

    answers: dict[str | None, list[tuple[int, str | None]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str | None, status: int, job_id: str | None) -> None:
        with self.lock:
            self.answers.setdefault(key, []).append((status, job_id))

    def all_statuses(self) -> list[int]:
        with self.lock:
            return [status for answers in self.answers.values() for status, _ in answers]

    def statuses(self) -> set[int]:
        return set(self.all_statuses())


def submit_until_answered(
    client: httpx.Client, user: User, key: str | None, outcomes: Outcomes
) -> None:
    body = BODY | ({"idempotency_key": key} if key else {})
    deadline = time.monotonic() + 20  # by time, not tries: a slow machine loses more races
    while time.monotonic() < deadline:
        response = client.post("/jobs", json=body, headers=user.headers)
        job_id = response.json().get("id") if response.status_code in (200, 202) else None
        outcomes.add(key, response.status_code, job_id)
        if response.status_code == 503:
            assert response.headers["Retry-After"] == "5"
            assert response.json()["error"]["code"] == "database_unavailable"
        if response.status_code != 503 or key is None:  # a keyless retry would be a new job
            return
    raise AssertionError(f"{key}: only 503 for 20 s")


def test_submissions_while_connections_keep_being_killed(tmp_path: Path) -> None:
    """Four clients submit (half with idempotency keys, retried on 503) while every connection
    of the API's database is killed every few milliseconds. Only 202, 200 and 503 come back;
    every 202 is a job that exists exactly once; each key made exactly one job, answered 202
    exactly once; and no job exists that was not answered 202 (a job committed but answered
    503 would have been made again by a keyless client)."""
    with live_registry() as registry, registry.sessions() as session:
        alice = factories.user(session, "alice", teams=["a"], roles=["maintainer"])
        publish(session)
        outcomes, stop, failures = Outcomes(), threading.Event(), list[BaseException]()
        kills = itertools.count()
        deadline = time.monotonic() + 30

        def killer() -> None:
            while not stop.is_set():
                kill_connections(registry.database_url, wait=False)
                next(kills)
                time.sleep(KILL_EVERY_SECONDS)

        def client(n: int) -> None:
            try:
                with httpx.Client(base_url=registry.url, timeout=30) as http:
                    for i in itertools.count():
                        if stop.is_set():
                            return
                        key = f"c{n}-{i}" if i % 2 else None
                        submit_until_answered(http, alice, key, outcomes)
            except BaseException as exc:
                failures.append(exc)
                stop.set()

        threads = [threading.Thread(target=killer)]
        threads += [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        try:
            while time.monotonic() < deadline and not stop.is_set():  # or give up at 30 s
                answered = Counter(outcomes.all_statuses())
                if answered[503] >= 30 and answered[202] >= 60:
                    break
                time.sleep(0.1)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
        assert not failures, failures
        print(f"{next(kills)} kills; answers:", Counter(outcomes.all_statuses()))
        check_outcomes(registry, outcomes)


def check_outcomes(registry: LiveRegistry, outcomes: Outcomes) -> None:
    assert outcomes.statuses() <= {200, 202, 503}, outcomes.statuses()
    assert 503 in outcomes.statuses(), "no request met a killed connection"
    with registry.sessions() as session:
        rows = {job.id: job.idempotency_key for job in session.scalars(select(Job))}
        total = session.scalar(select(func.count()).select_from(Job))
    accepted = [
        (key, job_id)
        for key, answers in outcomes.answers.items()
        for status, job_id in answers
        if status == 202
    ]
    assert total == len(rows) == len(accepted), "a job exists that was not answered 202"
    assert {job_id for _, job_id in accepted} == set(rows)
    for key, answers in outcomes.answers.items():
        if key is None:
            continue
        statuses = [status for status, _ in answers]
        # 503s, then the one 202; a 200 would mean an earlier 503 had in fact made the job
        assert statuses == [503] * (len(statuses) - 1) + [202], (key, statuses)
        assert list(rows.values()).count(key) == 1
