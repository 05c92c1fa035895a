"""Completion callbacks on real PostgreSQL to a real loopback receiver: signed as Standard
Webhooks (checked with the independent `standardwebhooks` package), retried with backoff until
a 2xx, refused for internal addresses, redirects not followed, given up after the bounded time,
and sent once although two senders run at once."""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

import migrations
from core.db import make_engine, session_factory
from core.errors import ConfigError
from core.settings import Settings
from registry.accounts import authenticate
from registry.models import Job, JobCallback, Template, utcnow
from tests import factories
from tests.database import fresh_database
from tests.jobs_support import STATIC, RecordingQueue, publish
from tests.receiver import receiver
from tests.triggers import test_webhooks as hooks
from triggers.callback_signing import Signer
from triggers.callbacks import CallbackSender, callback_loops, retry_delay
from triggers.events import completion_event
from triggers.submit import JobRequest, submit
from triggers.webhooks import deliver

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
ALLOW = ["127.0.0.0/8"]


def settings(**extra: object) -> Settings:
    values: dict[str, object] = {"callback_secret": SECRET, "callback_allow_networks": ALLOW}
    return Settings(**(values | extra))  # type: ignore[arg-type]


def finished_job(session: Session, url: str, config: Settings, status: str = "succeeded") -> Job:
    """A job of the static template with a callback, submitted and then finished."""
    if session.scalar(select(Template.id).where(Template.name == "static")) is None:
        publish(session, STATIC)
    user = factories.user(session, f"ci-{time.monotonic_ns()}", teams=["a"], roles=["runner"])
    actor = authenticate(session, user.token)
    request = JobRequest("static", {"team": "ops"}, callback_url=url)
    job = submit(session, actor, request, RecordingQueue(), config).job
    assert job.callback_state == "pending"
    job.status, job.attempts, job.finished_at = status, 1, utcnow()
    session.commit()
    return job


def pump(sender: CallbackSender, session: Session, job_id: str, timeout: float = 30.0) -> Job:
    """Run delivery passes until the job's callback leaves `pending`."""
    deadline = time.monotonic() + timeout
    while True:
        sender.deliver_due(session)
        session.expire_all()
        job = session.get(Job, job_id)
        assert job is not None
        if job.callback_state != "pending":
            return job
        assert time.monotonic() < deadline, f"callback still pending: {job.callbacks}"
        time.sleep(0.05)


def attempts(session: Session, job_id: str) -> list[JobCallback]:
    query = select(JobCallback).where(JobCallback.job_id == job_id).order_by(JobCallback.attempt)
    return list(session.scalars(query))


def counted(outcome: str) -> float:
    labels = {"outcome": outcome}
    return REGISTRY.get_sample_value("autoglm_callback_attempts_total", labels) or 0.0


def test_a_failing_receiver_gets_signed_retries_until_it_answers_2xx(session: Session) -> None:
    before = counted("delivered"), counted("failed")
    with receiver([(500, {}), (500, {})]) as got:
        config = settings()
        job = finished_job(session, f"{got.url}/done", config)
        done = pump(CallbackSender(config), session, job.id)
        received = got.wait(3)
    assert (done.callback_state, done.callback_next_at) == ("delivered", None)
    rows = attempts(session, job.id)
    assert [(r.attempt, r.outcome, r.status_code) for r in rows] == [
        (1, "failed", 500),
        (2, "failed", 500),
        (3, "delivered", 200),
    ]
    assert rows[0].error == "HTTP 500: answer 500" and rows[2].error is None
    assert all(r.url == f"{got.url}/done" and r.seconds >= 0 for r in rows)
    assert len(received) == 3
    expected = completion_event(done)
    for request in received:
        assert request.path == "/done" and request.method == "POST"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"].startswith("autoglm-callbacks/")
        assert Webhook(SECRET).verify(request.body, request.headers) == expected
    assert {r.headers["webhook-id"] for r in received} == {f"job_{job.id}"}
    assert expected["status"] == "succeeded" and expected["job_id"] == job.id
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(
            received[0].body, received[0].headers
        )
    assert (counted("delivered"), counted("failed")) == (before[0] + 1, before[1] + 2)


def test_a_callback_to_loopback_without_the_allowlist_is_refused_for_good(
    session: Session,
) -> None:
    with receiver() as got:
        config = settings(callback_allow_networks=[])
        job = finished_job(session, f"{got.url}/x", config, status="dead")
        sender = CallbackSender(config)
        done = pump(sender, session, job.id)
        assert sender.deliver_due(session) == 0
        assert got.received == []
    assert (done.callback_state, done.callback_next_at) == ("refused", None)
    [row] = attempts(session, job.id)
    assert (row.attempt, row.outcome, row.status_code) == (1, "refused", None)
    assert row.error is not None and "127.0.0.1 is loopback" in row.error


def test_a_redirect_is_a_failed_attempt_and_its_location_is_never_fetched(
    session: Session,
) -> None:
    with receiver() as target, receiver([(302, {"Location": f"{target.url}/elsewhere"})]) as got:
        config = settings()
        job = finished_job(session, f"{got.url}/cb", config)
        sender = CallbackSender(config)
        assert sender.deliver_due(session) == 1
        assert len(got.received) == 1 and target.received == []
    session.expire_all()
    [row] = attempts(session, job.id)
    assert (row.outcome, row.status_code) == ("failed", 302)
    assert row.error == f"HTTP 302: redirect to {target.url}/elsewhere not followed"
    pending = session.get(Job, job.id)
    assert pending is not None and pending.callback_state == "pending"
    assert pending.callback_next_at is not None


def test_a_callback_that_keeps_failing_is_given_up_after_the_bounded_time(
    session: Session,
) -> None:
    give_up = 2.0
    with receiver([(503, {})] * 100) as got:
        config = settings(callback_give_up_seconds=give_up)
        job = finished_job(session, f"{got.url}/cb", config)
        sender = CallbackSender(config)
        done = pump(sender, session, job.id, timeout=give_up + 15)
        sent = len(got.received)
        assert sender.deliver_due(session) == 0
        assert len(got.received) == sent
    assert (done.callback_state, done.callback_next_at) == ("failed", None)
    rows = attempts(session, job.id)
    assert len(rows) == sent >= 2
    assert {r.outcome for r in rows} == {"failed"}
    assert done.finished_at is not None
    assert (rows[-1].at - done.finished_at).total_seconds() >= give_up - 0.05


def test_backoff_grows_exponentially_with_full_jitter() -> None:
    for attempt, ceiling in [(1, 1.0), (3, 4.0), (6, 32.0), (40, 600.0)]:
        delays = [retry_delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2 and min(delays) < ceiling / 2


@pytest.mark.parametrize(
    ("secret", "needle"),
    [
        ("plain-secret-not-base64", "must be whsec_"),
        ("whsec_not base64!", "not whsec_ + valid base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24-64 bytes, not 5"),
    ],
)
def test_a_secret_not_in_the_standard_form_is_a_config_error(secret: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        Signer(secret)


def test_no_loop_runs_without_a_secret() -> None:
    assert callback_loops(sessionmaker(), Settings(callback_secret=None)) == []


def test_a_webhook_delivery_passes_its_x_callback_url_to_the_job(session: Session) -> None:
    config = hooks.SETTINGS.model_copy(
        update={"callback_secret": SECRET, "callback_allow_networks": ALLOW}
    )
    name = hooks.hook(session, hooks.maintainer(session))
    url = "https://example.com/hooks/done"
    submission = deliver(
        session,
        name,
        hooks.BODY,
        hooks.signed(extra={"X-Callback-Url": url}),
        dispatcher=RecordingQueue(),
        settings=config,
    )
    assert (submission.job.callback_url, submission.job.callback_state) == (url, "pending")


@pytest.fixture(scope="module")
def committed() -> Iterator[Engine]:
    """A database of its own whose commits are real, for senders on separate connections."""
    with fresh_database("autoglm_callbacks") as url:
        migrations.upgrade(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()


def run_senders(sessions: list[sessionmaker[Session]], config: Settings) -> None:
    """Each sender in its own thread and connection, started together, until none is due."""
    start = threading.Barrier(len(sessions))
    errors: list[BaseException] = []

    def work(factory: sessionmaker[Session]) -> None:
        sender = CallbackSender(config)
        try:
            with factory() as session:
                start.wait()
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    sender.deliver_due(session)
                    left = session.scalar(
                        select(func.count()).where(Job.callback_state == "pending")
                    )
                    if not left:
                        return
                    time.sleep(0.05)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


def test_two_senders_at_once_send_each_callback_once(committed: Engine) -> None:
    factory = session_factory(committed)
    count = 12
    with receiver(delay=0.3) as got:
        config = settings()
        with factory() as session:
            job_ids = [finished_job(session, f"{got.url}/{i}", config).id for i in range(count)]
        run_senders([session_factory(committed), session_factory(committed)], config)
        received = got.wait(count)
        time.sleep(0.5)  # nothing more may come
        assert len(got.received) == count
    assert sorted(r.headers["webhook-id"] for r in received) == sorted(f"job_{i}" for i in job_ids)
    with factory() as session:
        rows = list(session.scalars(select(JobCallback).where(JobCallback.job_id.in_(job_ids))))
        states = set(session.scalars(select(Job.callback_state).where(Job.id.in_(job_ids))))
    assert sorted(r.job_id for r in rows) == sorted(job_ids)
    assert {(r.attempt, r.outcome) for r in rows} == {(1, "delivered")}
    assert states == {"delivered"}


def test_a_sender_claims_what_it_sends_for_longer_than_an_attempt_takes(
    committed: Engine,
) -> None:
    """The claim is committed before sending: another sender finds nothing due meanwhile."""
    factory = session_factory(committed)
    with receiver(delay=1.0) as got:
        config = settings()
        with factory() as session:
            job = finished_job(session, f"{got.url}/slow", config)
        first = threading.Thread(target=lambda: _one_pass(factory, config))
        first.start()
        got.wait(1)
        assert _one_pass(factory, config) == 0  # the first holds the claim while it waits
        first.join(30)
    with factory() as session:
        [row] = attempts(session, job.id)
    assert row.outcome == "delivered"


def _one_pass(factory: sessionmaker[Session], config: Settings) -> int:
    with factory() as session:
        return CallbackSender(config).deliver_due(session)
