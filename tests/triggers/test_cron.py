"""Cron fires on PostgreSQL: one job per tick, keyed by it, however the fire is repeated."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import migrations
from core.db import make_engine, session_factory
from core.settings import Settings
from registry import accounts, publishing, schedules, templates
from registry.errors import Invalid
from registry.models import Job, Schedule
from registry.permissions import Actor
from tests import factories
from tests.database import fresh_database
from tests.factories import OPERATOR
from tests.jobs_support import STATIC, RecordingQueue, publish
from triggers.cron import fire_due, fire_key
from triggers.submit import JobRequest, submit

SETTINGS = Settings()
MS = timedelta(milliseconds=1)


def maintainer(session: Session, name: str = "alice") -> Actor:
    factories.user(session, name, teams=["a"], roles=["maintainer"])
    return accounts.actor_for(accounts.get_principal(session, name))


def hourly(session: Session, actor: Actor) -> Schedule:
    name = publish(session, STATIC)
    schedule = schedules.create(
        session, actor, template=name, expression="0 0 * * * *", inputs={"team": "x"}
    )
    session.commit()
    return schedule


def submitted_before_a_crash(session: Session, actor: Actor, schedule: Schedule) -> Job:
    """The job a scheduler submitted for the next tick before it died, schedule not moved on."""
    key = fire_key(schedule.id, schedule.next_fire_at)
    request = JobRequest(template="static", inputs={"team": "x"}, idempotency_key=key)
    return submit(session, actor, request, RecordingQueue(), SETTINGS).job


def job_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def test_a_due_schedule_fires_one_job_keyed_by_its_tick(session: Session) -> None:
    schedule = hourly(session, maintainer(session))
    tick = schedule.next_fire_at
    assert (tick.minute, tick.second, tick.microsecond) == (0, 0, 0)
    queue = RecordingQueue()

    fires = fire_due(session, queue, SETTINGS, now=tick - MS)
    assert fires == []
    [fire] = fire_due(session, queue, SETTINGS, now=tick + MS)

    job = session.get(Job, fire.job_id)
    assert job is not None and fire.tick == tick and fire.error is None
    assert job.idempotency_key == fire_key(schedule.id, tick)
    assert (job.requested_by, job.inputs) == ("alice", {"team": "x"})
    assert queue.sent == [(job.id, 0.0)]
    session.refresh(schedule)
    assert schedule.next_fire_at == tick + timedelta(hours=1)
    assert (schedule.last_fire_at, schedule.last_job_id) == (tick, job.id)
    assert fire_due(session, queue, SETTINGS, now=tick + MS) == []
    assert job_count(session) == 1


def test_after_downtime_a_schedule_fires_once_not_once_per_missed_tick(session: Session) -> None:
    schedule = hourly(session, maintainer(session))
    tick = schedule.next_fire_at
    now = tick + timedelta(hours=5, minutes=30)  # five more ticks passed while nobody ran

    [fire] = fire_due(session, RecordingQueue(), SETTINGS, now=now)

    assert fire.tick == tick
    session.refresh(schedule)
    assert schedule.next_fire_at == tick + timedelta(hours=6)  # the first tick after now
    assert fire_due(session, RecordingQueue(), SETTINGS, now=now) == []
    assert job_count(session) == 1


def test_a_fire_repeated_after_a_crash_finds_the_first_job(session: Session) -> None:
    actor = maintainer(session)
    schedule = hourly(session, actor)
    tick = schedule.next_fire_at
    first = submitted_before_a_crash(session, actor, schedule)

    [fire] = fire_due(session, RecordingQueue(), SETTINGS, now=tick + MS)

    assert fire.job_id == first.id
    assert job_count(session) == 1


def test_a_tick_submitted_before_its_owner_changed_is_not_submitted_again(
    session: Session,
) -> None:
    alice = maintainer(session)
    schedule = hourly(session, alice)
    tick = schedule.next_fire_at
    first = submitted_before_a_crash(session, alice, schedule)
    # ...then bob re-activated the template, which makes him the owner of its schedule.
    schedule.owner_id = maintainer(session, "bob").principal_id
    session.commit()

    [fire] = fire_due(session, RecordingQueue(), SETTINGS, now=tick + MS)

    assert fire.job_id == first.id
    assert job_count(session) == 1


def test_a_schedule_whose_fire_breaks_does_not_hold_up_the_others(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    actor = maintainer(session)
    broken = hourly(session, actor)
    healthy = schedules.create(
        session, actor, template="static", expression="0 0 * * * *", inputs={"team": "y"}
    )
    session.commit()
    real_submit = submit

    def flaky(session: Session, actor: Actor, request: JobRequest, *rest: object) -> object:
        if request.inputs == {"team": "x"}:
            raise RuntimeError("database hiccup")
        return real_submit(session, actor, request, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr("triggers.cron.submit", flaky)
    [fire] = fire_due(session, RecordingQueue(), SETTINGS, now=broken.next_fire_at + MS)

    assert fire.schedule_id == healthy.id and fire.job_id is not None
    session.refresh(broken)
    assert broken.last_fire_at is None  # not moved on: the next pass tries it again


def test_a_fire_refused_is_recorded_and_the_schedule_moves_on(session: Session) -> None:
    schedule = hourly(session, maintainer(session))
    tick = schedule.next_fire_at
    accounts.revoke_role(session, OPERATOR, "alice", "maintainer")  # alice lost her access
    session.commit()

    [fire] = fire_due(session, RecordingQueue(), SETTINGS, now=tick + MS)

    assert fire.job_id is None and fire.error is not None and "static" in fire.error
    session.refresh(schedule)
    assert schedule.last_error == fire.error
    assert schedule.next_fire_at == tick + timedelta(hours=1)
    assert job_count(session) == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("expression", "0 0 * *", "must have 5 fields"),
        ("expression", "0 0 25 * * *", "is not valid"),
        ("timezone", "Nowhere/Land", "unknown time zone"),
        ("inputs", {"nope": 1}, "unknown input 'nope'"),
        ("formats", ["odt"], "formats: unknown export format .odt."),
    ],
)
def test_bad_schedules_are_refused_and_leave_nothing(
    session: Session, field: str, value: object, message: str
) -> None:
    actor = maintainer(session)
    name = publish(session, STATIC)
    given: dict[str, object] = {"expression": "0 0 * * * *", "inputs": {"team": "x"}, field: value}
    with pytest.raises(Exception, match=message) as caught:
        schedules.create(session, actor, template=name, **given)  # type: ignore[arg-type]
    assert isinstance(caught.value, Invalid) or "unknown input" in message
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Schedule)) == 0


def test_activating_a_version_mirrors_its_schedule_block(session: Session) -> None:
    actor = maintainer(session)
    with_block = STATIC + textwrap.dedent("""\
        schedule:
          expression: "0 30 6 * * *"
          timezone: Asia/Shanghai
          inputs: {team: nightly}
        """)
    without = with_block.split("schedule:")[0].replace('version: "1"', 'version: "2"')
    for text in (with_block, without):
        templates.upload(session, actor, text.encode(), owner_team="a", max_bytes=64 * 1024)
    session.commit()

    publishing.activate(session, actor, "static", "1")
    session.commit()
    [mirrored] = schedules.list_schedules(session, actor, "static")
    assert (mirrored.source, mirrored.expression, mirrored.timezone) == (
        "template",
        "0 30 6 * * *",
        "Asia/Shanghai",
    )
    assert mirrored.inputs == {"team": "nightly"} and mirrored.owner_id == actor.principal_id
    # 06:30 in Shanghai is 22:30 UTC the day before.
    assert (mirrored.next_fire_at.hour, mirrored.next_fire_at.minute) == (22, 30)

    publishing.activate(session, actor, "static", "2")
    session.commit()
    assert schedules.list_schedules(session, actor, "static") == []


@pytest.fixture
def committed() -> Iterator[sessionmaker[Session]]:
    """A database where every session commits for real, for racing schedulers."""
    with fresh_database("autoglm_cron") as url:
        migrations.upgrade(url)
        engine = make_engine(url)
        try:
            yield session_factory(engine)
        finally:
            engine.dispose()


def test_two_schedulers_racing_fire_each_tick_once(committed: sessionmaker[Session]) -> None:
    with committed() as session:
        actor = maintainer(session)
        name = publish(session, STATIC)
        schedule = schedules.create(
            session, actor, template=name, expression="* * * * * *", inputs={"team": "x"}
        )
        session.commit()
        schedule_id, first = schedule.id, schedule.next_fire_at
    ticks = [first + timedelta(seconds=i) for i in range(6)]
    fired: list[datetime] = []
    errors: list[BaseException] = []

    def scheduler(now: datetime, start: threading.Barrier) -> None:
        try:
            with committed() as session:
                start.wait()
                fired.extend(f.tick for f in fire_due(session, RecordingQueue(), SETTINGS, now))
        except BaseException as exc:
            errors.append(exc)

    for tick in ticks:
        start = threading.Barrier(2)
        racers = [threading.Thread(target=scheduler, args=(tick + MS, start)) for _ in range(2)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(30)

    assert errors == []
    assert sorted(fired) == ticks  # each tick recorded by exactly one of the two
    with committed() as session:
        keys = session.scalars(select(Job.idempotency_key).order_by(Job.created_at)).all()
    assert keys == [fire_key(schedule_id, tick) for tick in ticks]


def test_a_schedule_block_whose_inputs_cannot_run_says_so_at_activation(
    session: Session,
) -> None:
    actor = maintainer(session)
    text = STATIC + 'schedule:\n  expression: "0 0 * * * *"\n  inputs: {teem: typo}\n'
    templates.upload(session, actor, text.encode(), owner_team="a", max_bytes=64 * 1024)
    session.commit()
    publishing.activate(session, actor, "static", "1")  # the seed templates do this: still fine
    session.commit()
    [mirrored] = schedules.list_schedules(session, actor, "static")
    assert mirrored.last_error is not None and "unknown input 'teem'" in mirrored.last_error
