from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import UserError
from documents import cron
from documents.loader import load_template_text


def fires(expression: str, after: datetime, count: int, timezone: str = "UTC") -> list[datetime]:
    out = []
    for _ in range(count):
        after = cron.next_fire(expression, timezone, after)
        out.append(after)
    return out


def test_six_fields_put_seconds_first_so_the_seed_expression_is_hourly() -> None:
    start = datetime(2026, 11, 22, 2, 30, 17, tzinfo=UTC)
    times = fires("0 0 * * * *", start, 4)
    assert times == [datetime(2026, 11, 22, h, tzinfo=UTC) for h in (3, 4, 5, 6)]


def test_six_fields_fire_on_seconds() -> None:
    start = datetime(2026, 11, 22, 2, 30, 1, 500_000, tzinfo=UTC)
    assert fires("*/3 * * * * *", start, 3) == [
        start.replace(second=s, microsecond=0) for s in (3, 6, 9)
    ]


def test_five_fields_are_standard_cron() -> None:
    start = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)
    assert fires("15 9 * * 1-5", start, 2) == [
        datetime(2026, 11, 23, 9, 15, tzinfo=UTC),
        datetime(2026, 11, 24, 9, 15, tzinfo=UTC),
    ]


def test_next_fire_is_strictly_after() -> None:
    on_the_hour = datetime(2026, 11, 22, 3, tzinfo=UTC)
    assert cron.next_fire("0 0 * * * *", "UTC", on_the_hour) == on_the_hour + timedelta(hours=1)


def test_time_zones_follow_daylight_saving_and_come_back_in_utc() -> None:
    # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer (DST starts 29 March).
    start = datetime(2026, 3, 27, 12, tzinfo=UTC)
    times = fires("0 9 * * *", start, 3, "Europe/Berlin")
    assert [t.hour for t in times] == [8, 7, 7]
    assert all(t.tzinfo == UTC for t in times)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "must have 5 fields, or 6 with seconds first"),
        ("* * * * * * *", "must have 5 fields"),
        ("61 * * * *", "is not valid"),
        ("0 0 * * * mon-xyz", "is not valid"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cron.check(expression)


def test_unknown_time_zone() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        cron.zone("Mars/Olympus")


def test_a_template_with_a_bad_schedule_is_refused_with_the_field() -> None:
    text = "name: t\nschedule:\n  expression: '99 * * * *'\n  timezone: Mars/Olympus\n"
    with pytest.raises(UserError) as caught:
        load_template_text(text, "t.yaml")
    problems = " ".join(caught.value.problems)
    assert "schedule.expression" in problems
    assert "'99 * * * *' is not valid" in problems
    assert "unknown time zone 'Mars/Olympus'" in problems


def test_a_fixed_time_fires_once_when_clocks_go_back_and_hourly_fires_every_hour() -> None:
    start = datetime(2024, 10, 26, 12, tzinfo=UTC)  # Berlin leaves summer time on 27 October
    daily = fires("0 30 2 * * *", start, 2, "Europe/Berlin")
    assert daily == [
        datetime(2024, 10, 27, 0, 30, tzinfo=UTC),  # 02:30 CEST, not 02:30 CET again
        datetime(2024, 10, 28, 1, 30, tzinfo=UTC),
    ]
    hourly = fires("0 0 * * * *", datetime(2024, 10, 26, 23, tzinfo=UTC), 3, "Europe/Berlin")
    assert [t.hour for t in hourly] == [0, 1, 2]  # 02:00 CEST and 02:00 CET are two hours


def test_an_expression_that_never_fires_is_refused() -> None:
    with pytest.raises(ValueError, match="'0 0 30 2 \\*' never fires"):
        cron.check("0 0 30 2 *")
