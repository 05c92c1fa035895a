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


def at(text: str) -> datetime:
    """An ISO time; without an offset it is UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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


def test_five_fields_fire_when_either_day_field_matches_six_fields_when_both_do() -> None:
    # December 2026: the 13th is a Sunday; Fridays are the 4th, 11th and 18th.
    vixie = fires("0 0 13 * 5", at("2026-12-01"), 4)
    assert [t.day for t in vixie] == [4, 11, 13, 18]
    spring = fires("0 0 0 13 * 5", at("2026-12-01"), 2)  # Friday the 13th only
    assert spring == [at("2027-08-13"), at("2028-10-13")]


def test_next_fire_is_strictly_after() -> None:
    on_the_hour = datetime(2026, 11, 22, 3, tzinfo=UTC)
    assert cron.next_fire("0 0 * * * *", "UTC", on_the_hour) == on_the_hour + timedelta(hours=1)


def test_time_zones_follow_daylight_saving_and_come_back_in_utc() -> None:
    # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer (DST starts 29 March).
    start = datetime(2026, 3, 27, 12, tzinfo=UTC)
    times = fires("0 9 * * *", start, 3, "Europe/Berlin")
    assert [t.hour for t in times] == [8, 7, 7]
    assert all(t.tzinfo == UTC for t in times)


# Spring's CronExpression semantics for six fields: (expression, zone, from, expected fires).
# Cases from Spring's reference documentation and the behaviour its CronExpressionTests pin.
SPRING = [
    # both day fields must match
    ("0 0 0 13 * FRI", "UTC", "2018-07-31T11:47:14", ["2019-09-13", "2019-12-13", "2020-03-13"]),
    (
        "0 0 9 1-7 * MON",  # the first Monday of the month
        "Europe/Berlin",
        "2026-01-01",
        ["2026-01-05T09:00+01:00", "2026-02-02T09:00+01:00", "2026-03-02T09:00+01:00"],
    ),
    ("0 0 0 29 2 WED", "UTC", "2012-02-29T01:00", ["2040-02-29"]),  # 28 years on
    (
        "0 15 12 */10 1-8 5",  # the 1st, 11th, 21st or 31st, January-August, and a Friday
        "UTC",
        "2021-04-30T12:14:59",
        ["2021-05-21T12:15", "2021-06-11T12:15", "2022-01-21T12:15"],
    ),
    ("0 0 7 ? * MON-FRI", "UTC", "2009-09-26T10:00", ["2009-09-28T07:00", "2009-09-29T07:00"]),
    ("0 0 0 ? * SUN-FRI", "UTC", "2021-02-25T15:00", ["2021-02-26", "2021-02-28"]),
    ("0 0 0 * * 7", "UTC", "2026-01-01", ["2026-01-04", "2026-01-11"]),  # 0 and 7 are Sunday
    ("0 0 0 * * 0", "UTC", "2026-01-01", ["2026-01-04", "2026-01-11"]),
    ("0 0 0 1 jan-mar/2 *", "UTC", "2026-01-02", ["2026-03-01", "2027-01-01"]),
    (
        "0 30 23 30 1/3 ?",
        "UTC",
        "2010-12-30T12:00",
        ["2011-01-30T23:30", "2011-04-30T23:30", "2011-07-30T23:30"],
    ),
    # nW: the nearest weekday in the same month; never in a month that lacks day n
    (
        "0 0 0 31W * ?",  # May 2020: the 31st is a Sunday and June 1st is another month
        "UTC",
        "2020-01-01",
        ["2020-01-31", "2020-03-31", "2020-07-31", "2020-08-31", "2020-10-30", "2020-12-31"],
    ),
    ("0 0 0 15W * ?", "UTC", "2020-01-01", ["2020-01-15", "2020-02-14", "2020-03-16"]),
    ("0 0 0 1W * ?", "UTC", "2019-12-31", ["2020-01-01", "2020-02-03", "2020-03-02"]),
    ("0 0 * 1W * *", "UTC", "2021-02-01T01:00", ["2021-02-01T02:00"]),
    # L, L-n, LW
    ("0 0 0 L * *", "UTC", "2008-01-04", ["2008-01-31", "2008-02-29", "2008-03-31", "2008-04-30"]),
    ("0 0 0 L-3 * *", "UTC", "2008-01-04", ["2008-01-28", "2008-02-26", "2008-03-28"]),
    ("0 0 * L-1 * *", "UTC", "2021-01-29T00:01", ["2021-01-30T00:00", "2021-01-30T01:00"]),
    (
        "0 0 0 LW * *",
        "UTC",
        "2008-04-04",
        ["2008-04-30", "2008-05-30", "2008-06-30", "2008-07-31", "2008-08-29"],
    ),
    # dL / DDDL and d#n / DDD#n
    ("0 0 0 * * 5L", "UTC", "2008-01-04", ["2008-01-25", "2008-02-29", "2008-03-28"]),
    ("0 0 18 ? * 5L", "UTC", "2026-01-01", ["2026-01-30T18:00", "2026-02-27T18:00"]),
    ("0 0 * ? * FRIL", "UTC", "2021-01-28T00:01", ["2021-01-29T00:00", "2021-01-29T01:00"]),
    ("0 0 0 ? * 5#2", "UTC", "2020-01-01", ["2020-01-10", "2020-02-14", "2020-03-13"]),
    ("0 0 0 ? * fri#2", "UTC", "2020-01-01", ["2020-01-10", "2020-02-14", "2020-03-13"]),
    ("0 0 0 ? * 3#5", "UTC", "2020-01-01", ["2020-01-29", "2020-04-29", "2020-07-29"]),
    # lists mixing them
    (
        "0 0 0 1W,15,LW * ?",
        "UTC",
        "2019-12-30",
        ["2019-12-31", "2020-01-01", "2020-01-15", "2020-01-31"],
    ),
    (
        "0 0 0 ? * THU#1,THU#3,THU#5",
        "UTC",
        "2019-12-31",
        ["2020-01-02", "2020-01-16", "2020-01-30"],
    ),
    # macros
    ("@yearly", "UTC", "2026-10-10", ["2027-01-01", "2028-01-01"]),
    ("@annually", "UTC", "2026-10-10", ["2027-01-01"]),
    ("@monthly", "UTC", "2026-10-10", ["2026-11-01", "2026-12-01"]),
    ("@weekly", "UTC", "2026-10-10", ["2026-10-11", "2026-10-18"]),  # Sundays
    ("@daily", "UTC", "2026-10-10T05:00", ["2026-10-11", "2026-10-12"]),
    ("@midnight", "UTC", "2026-10-10T05:00", ["2026-10-11"]),
    ("@Hourly", "UTC", "2026-10-10T05:10", ["2026-10-10T06:00", "2026-10-10T07:00"]),
    # a local time that the clocks skip does not fire: the next matching one does
    ("0 10 2 * * *", "Europe/Amsterdam", "2013-03-31T01:09+01:00", ["2013-04-01T02:10+02:00"]),
    (
        "0 0 9 * * *",
        "Europe/Amsterdam",
        "2021-03-27T09:00+01:00",
        ["2021-03-28T09:00+02:00", "2021-03-29T09:00+02:00"],
    ),
    (
        "0 30 * * * *",
        "Europe/Amsterdam",
        "2021-03-28T01:00+01:00",
        ["2021-03-28T01:30+01:00", "2021-03-28T03:30+02:00"],
    ),
    (
        "0 0 */2 * * ?",  # Cairo skips 00:00-01:00 on 28 April 2023: no odd hour after it
        "Africa/Cairo",
        "2023-04-27T21:00+02:00",
        ["2023-04-27T22:00+02:00", "2023-04-28T02:00+03:00", "2023-04-28T04:00+03:00"],
    ),
    (
        "0 0 */2 * * ?",  # ... and 00:00-01:00 on 16 May 2014
        "Africa/Cairo",
        "2014-05-15T21:00+02:00",
        ["2014-05-15T22:00+02:00", "2014-05-16T02:00+03:00"],
    ),
    ("0 0 0 * * *", "Africa/Cairo", "2023-04-27T12:00+02:00", ["2023-04-29T00:00+03:00"]),
    # a local time that the clocks repeat fires at both instants
    (
        "0 30 2 * * *",
        "Europe/Berlin",
        "2024-10-26T12:00Z",
        ["2024-10-27T02:30+02:00", "2024-10-27T02:30+01:00", "2024-10-28T02:30+01:00"],
    ),
    (
        "0 30 1 * * *",
        "America/New_York",
        "2024-11-02T12:00Z",
        ["2024-11-03T01:30-04:00", "2024-11-03T01:30-05:00", "2024-11-04T01:30-05:00"],
    ),
]


@pytest.mark.parametrize(("expression", "timezone", "start", "expected"), SPRING)
def test_six_fields_follow_spring(
    expression: str, timezone: str, start: str, expected: list[str]
) -> None:
    assert cron.check(expression) == expression
    got = fires(expression, at(start), len(expected), timezone)
    assert got == [at(text) for text in expected]
    assert all(t.tzinfo == UTC for t in got)


def test_macros_are_their_six_field_expressions() -> None:
    start = at("2026-10-10T05:06:07")
    for macro, expression in [
        ("@yearly", "0 0 0 1 1 *"),
        ("@annually", "0 0 0 1 1 *"),
        ("@monthly", "0 0 0 1 * *"),
        ("@weekly", "0 0 0 * * 0"),
        ("@daily", "0 0 0 * * *"),
        ("@midnight", "0 0 0 * * *"),
        ("@hourly", "0 0 * * * *"),
    ]:
        assert fires(macro, start, 3, "Asia/Tokyo") == fires(expression, start, 3, "Asia/Tokyo")


def test_when_clocks_go_back_five_fields_fire_a_fixed_time_once_and_hourly_every_hour() -> None:
    start = datetime(2024, 10, 26, 12, tzinfo=UTC)  # Berlin leaves summer time on 27 October
    daily = fires("30 2 * * *", start, 2, "Europe/Berlin")
    assert daily == [
        datetime(2024, 10, 27, 0, 30, tzinfo=UTC),  # 02:30 CEST, not 02:30 CET again
        datetime(2024, 10, 28, 1, 30, tzinfo=UTC),
    ]
    hourly = fires("0 * * * *", datetime(2024, 10, 26, 23, tzinfo=UTC), 3, "Europe/Berlin")
    assert [t.hour for t in hourly] == [0, 1, 2]  # 02:00 CEST and 02:00 CET are two hours
    seed = fires("0 0 * * * *", datetime(2024, 10, 26, 23, tzinfo=UTC), 3, "Europe/Berlin")
    assert seed == hourly


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "must have 5 fields, or 6 with seconds first"),
        ("* * * * * * *", "must have 5 fields"),
        ("61 * * * *", "is not valid"),
        ("0 0 * * * mon-xyz", "is not valid: day-of-week field 'mon-xyz'"),
        ("0 0 25 * * *", "is not valid: hour field '25': 25 is not in 0-23"),
        ("60 * * * * *", "second field '60'"),
        ("? 0 0 * * *", "second field '\\?'"),
        ("0 0 */0 * * *", "hour field '\\*/0'"),
        ("0 0 0 ? 13 *", "month field '13'"),
        ("0 0 0 ? JANUARY *", "month field 'JANUARY'"),
        ("0 0 0 1,,2 * *", "day-of-month field '1,,2'"),
        ("0 0 0 32W * *", "day-of-month field '32W': 32 is not in 1-31"),
        ("0 0 0 W * *", "day-of-month field 'W'"),
        ("0 0 0 5L * *", "day-of-month field '5L'"),
        ("0 0 0 L-0 * *", "day-of-month field 'L-0'"),
        ("0 0 0 L-31 * *", "day-of-month field 'L-31'"),
        ("0 0 0 ? * 5-1", "day-of-week field '5-1': range '5-1' runs backwards"),
        ("0 0 0 * * 8L", "day-of-week field '8L': 8 is not in 0-7"),
        ("0 0 0 * * L", "day-of-week field 'L': a day must come before 'L' or '#'"),
        ("0 0 0 * * #2", "day-of-week field '#2'"),
        ("0 0 0 * * MON#6", "day-of-week field 'MON#6': the week after '#' must be 1-5"),
        ("0 0 0 * * MON#1L", "day-of-week field 'MON#1L'"),
        ("@every", "is not valid: unknown macro '@every'"),
        ("@every 5m", "unknown macro '@every 5m'"),
        ("@reboot", "unknown macro '@reboot'"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        cron.check(expression)
    assert f"cron expression {expression!r}" in str(caught.value)


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


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 30 2 *",
        "0 0 0 30 2 *",
        "0 0 0 31 4,6,9,11 ?",
        "0 0 0 1-7 * MON#2",  # the second Monday is the 8th-14th
        "0 0 0 31W 2 *",
        "0 0 0 L-29 2 *",
    ],
)
def test_an_expression_that_never_fires_is_refused(expression: str) -> None:
    with pytest.raises(ValueError) as caught:
        cron.check(expression)
    assert str(caught.value) == f"cron expression {expression!r} never fires"
