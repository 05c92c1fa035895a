"""Six-field cron expressions, evaluated as Spring Framework's `CronExpression` does.

croniter cannot be told these rules: it moves `31W` into short months, has no `L-n`, `LW` or
`5L`, reads both day fields with OR, and turns a time inside a daylight-saving gap into another
hour. So six-field expressions (and the `@daily`-style macros) are evaluated here:

- fields are `second minute hour day-of-month month day-of-week`; lists, ranges, `*`, `a/n`,
  `a-b/n` and `*/n` as in Spring; months JAN-DEC, days 0 or 7 = Sunday, MON-SUN (any case);
- day-of-month and day-of-week must *both* match (`?` is `*`): `0 0 9 1-7 * MON` is the first
  Monday of a month;
- day-of-month also takes `L`, `L-n`, `LW` and `nW` (a weekday in the same month, so `31W` never
  fires in a month without a 31st); day-of-week takes `dL`/`DDDL` (last in the month) and
  `d#n`/`DDD#n` (n-th in the month);
- a fire is an instant whose local wall-clock time matches every field: a local time that the
  clocks skip does not fire (the next matching time does, e.g. the next day), and a local time
  that the clocks repeat fires at both instants, as Spring does for e.g. `0 30 2 * * *`.

Spring finds fires by stepping field by field, and a few paths through it slip: a midnight or
half-hour fall-back can lose one of the two instants, `1W` is missed when the search passes a
Sunday 2nd, `31W` can fire on a Friday 30th, and `L-n` past the 1st lands in the month before.
This module implements the documented meaning instead, so those cases differ; and `d#6` or
`L-31`, which Spring accepts but which can never match, are refused here.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

MACROS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
CYCLE_MONTHS = 400 * 12 + 1  # the Gregorian calendar (weekdays included) repeats every 400 years
DIGITS = re.compile(r"[0-9]+")

# The days of one month (year, month) that a day-field item matches.
Days = Callable[[int, int], set[int]]


class FieldError(ValueError):
    """One field of an expression is wrong; the message says which field and why."""


@dataclass(frozen=True)
class SpringExpression:
    """A parsed six-field expression: the allowed values of each field, the day rules."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    days_of_month: tuple[Days, ...]
    days_of_week: tuple[Days, ...]

    def days(self, year: int, month: int) -> list[int]:
        """The days of the month on which both day fields match, in order."""
        by_date: set[int] = set()
        for rule in self.days_of_month:
            by_date |= rule(year, month)
        by_weekday: set[int] = set()
        for rule in self.days_of_week:
            by_weekday |= rule(year, month)
        return sorted(by_date & by_weekday)

    def time_at_or_after(self, hour: int, minute: int, second: int) -> tuple[int, int, int] | None:
        """The first matching time of day at or after the given one, if any is left that day."""
        for h in self.hours[bisect_left(self.hours, hour) :]:
            low_minute = minute if h == hour else 0
            for m in self.minutes[bisect_left(self.minutes, low_minute) :]:
                low_second = second if (h, m) == (hour, minute) else 0
                i = bisect_left(self.seconds, low_second)
                if i < len(self.seconds):
                    return h, m, self.seconds[i]
        return None

    def wall_at_or_after(self, wall: datetime) -> datetime | None:
        """The first matching local wall-clock time at or after `wall` (naive, whole seconds).

        None when no day in a whole 400-year calendar cycle matches: the expression never fires.
        """
        start = wall.date()
        year, month = start.year, start.month
        for _ in range(CYCLE_MONTHS):
            if month in self.months:
                for day in self.days(year, month):
                    found = self._on_day(date(year, month, day), start, wall)
                    if found is not None:
                        return found
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            if year > 9998:
                break
        return None

    def _on_day(self, day: date, start: date, wall: datetime) -> datetime | None:
        if day < start:
            return None
        low = (wall.hour, wall.minute, wall.second) if day == start else (0, 0, 0)
        time = self.time_at_or_after(*low)
        return None if time is None else datetime(day.year, day.month, day.day, *time)

    def next_fire(self, zone: ZoneInfo, after: datetime) -> datetime | None:
        """The first fire strictly after `after`, in UTC; None if the expression never fires.

        Walks the instant timeline in stretches of one UTC offset: in each, the next matching
        wall time is found by calendar arithmetic, and it counts only if no offset change comes
        first; otherwise the search starts again at the change, from its new wall-clock time.
        """
        start = after.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
        horizon = start + timedelta(days=366 * 400)
        while start < horizon:
            offset = _offset(zone, start)
            wall = (start + offset).replace(tzinfo=None)
            found = self.wall_at_or_after(wall)
            if found is None:
                return None
            fire = (found - offset).replace(tzinfo=UTC)
            change = _first_change(zone, start, fire, offset)
            if change is None:
                return fire
            start = change
        return None


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def _first_change(
    zone: ZoneInfo, start: datetime, end: datetime, offset: timedelta
) -> datetime | None:
    """The first whole second in (start, end] whose UTC offset is not `offset`, if any.

    Probes a day at a time (offsets change a few times a year), then bisects to the second.
    """
    low = start
    while low < end:
        high = min(low + timedelta(days=1), end)
        if _offset(zone, high) != offset:
            while high - low > timedelta(seconds=1):
                middle = low + timedelta(seconds=(high - low).total_seconds() // 2)
                low, high = (middle, high) if _offset(zone, middle) == offset else (low, middle)
            return high
        low = high
    return None


@lru_cache(maxsize=256)
def parse(expression: str) -> SpringExpression:
    """The parsed expression (a macro or six fields), or FieldError naming the bad field."""
    text = MACROS.get(expression.strip().lower(), expression)
    if text.strip().startswith("@"):
        raise FieldError(f"unknown macro {text.strip()!r} (known: {', '.join(MACROS)})")
    fields = text.split()
    if len(fields) != 6:
        raise FieldError(f"{len(fields)} fields, not 6")
    second, minute, hour, day_of_month, month, day_of_week = fields
    return SpringExpression(
        seconds=tuple(sorted(_values(second, 0, 59, "second"))),
        minutes=tuple(sorted(_values(minute, 0, 59, "minute"))),
        hours=tuple(sorted(_values(hour, 0, 23, "hour"))),
        months=frozenset(_values(_names(month, MONTHS), 1, 12, "month", month)),
        days_of_month=_days_of_month(day_of_month),
        days_of_week=_days_of_week(day_of_week),
    )


def _names(value: str, names: tuple[str, ...]) -> str:
    """Spring's name handling: upper-case the field, replace each name by its number (1-based)."""
    value = value.upper()
    for number, name in enumerate(names, start=1):
        value = value.replace(name, str(number))
    return value


def _number(text: str, low: int, high: int, field: str, shown: str) -> int:
    if not DIGITS.fullmatch(text):
        raise FieldError(f"{field} field {shown!r}: {text!r} is not a number")
    number = int(text)
    if not low <= number <= high:
        raise FieldError(f"{field} field {shown!r}: {number} is not in {low}-{high}")
    return number


def _values(value: str, low: int, high: int, field: str, shown: str | None = None) -> set[int]:
    """The values a list of numbers, ranges and steps allows, with Spring's range rules."""
    shown = value if shown is None else shown
    values: set[int] = set()
    sunday = field == "day-of-week"
    for item in value.split(","):
        span, slash, step_text = item.partition("/")
        step = _number(step_text, 1, 2**31 - 1, field, shown) if slash else 1
        if span == "*":
            first, last = (1 if sunday else low), high
        elif "-" in span:
            start_text, _, end_text = span.partition("-")
            first = _number(start_text, low, high, field, shown)
            last = _number(end_text, low, high, field, shown)
            first = 0 if sunday and first == 7 else first  # Spring: SUN first in a range is 0
            if first > last:
                raise FieldError(f"{field} field {shown!r}: range {span!r} runs backwards")
        else:
            first = _number(span, low, high, field, shown)
            last = high if slash else first
        values.update(range(first, last + 1, step))
    if sunday and 0 in values:
        values = (values - {0}) | {7}
    return values


def _days_of_month(value: str) -> tuple[Days, ...]:
    if "L" not in value and "W" not in value:  # Spring reads '?' as '*' only as the whole field
        return (_day_numbers("*" if value == "?" else value, value),)
    return tuple(_day_of_month(item, value) for item in value.split(","))


def _day_numbers(value: str, shown: str) -> Days:
    days = _values(value, 1, 31, "day-of-month", shown)
    return lambda year, month: {d for d in days if d <= monthrange(year, month)[1]}


def _day_of_month(item: str, shown: str) -> Days:
    """One item of the day-of-month field: numbers and ranges, or L, L-n, LW, nW."""
    if item == "L":
        return lambda year, month: {monthrange(year, month)[1]}
    if item == "LW":
        return _last_weekday
    if item.startswith("L-"):
        return _before_last(_number(item[2:], 1, 30, "day-of-month", shown))
    if item.endswith("W") and "L" not in item:
        day = _number(item[:-1], 1, 31, "day-of-month", shown)
        return lambda year, month: _nearest_weekday(year, month, day)
    if "L" in item or "W" in item:
        raise FieldError(f"day-of-month field {shown!r}: {item!r} is not L, L-n, LW or nW")
    return _day_numbers("*" if item == "?" else item, shown)


def _before_last(back: int) -> Days:
    """`L-n`: n days before the last of the month; nothing in a month too short for it."""

    def days(year: int, month: int) -> set[int]:
        day = monthrange(year, month)[1] - back
        return {day} if day >= 1 else set()

    return days


def _last_weekday(year: int, month: int) -> set[int]:
    last = monthrange(year, month)[1]
    weekday = date(year, month, last).isoweekday()
    return {last - max(0, weekday - 5)}


def _nearest_weekday(year: int, month: int, day: int) -> set[int]:
    """Spring's `nW`: Saturday -> the Friday before (the Monday after for `1W`), Sunday -> the
    Monday after; never outside the month, and nothing in a month that has no day `n`."""
    length = monthrange(year, month)[1]
    if day > length:
        return set()
    weekday = date(year, month, day).isoweekday()
    if weekday == 6:
        moved = day - 1 if day > 1 else day + 2
    elif weekday == 7:
        moved = day + 1
    else:
        moved = day
    return {moved} if moved <= length else set()


def _days_of_week(value: str) -> tuple[Days, ...]:
    upper = _names(value, DAYS)
    if "L" not in upper and "#" not in upper:  # Spring reads '?' as '*' only as the whole field
        return (_weekdays(_values("*" if upper == "?" else upper, 0, 7, "day-of-week", value)),)
    return tuple(_day_of_week(item, value) for item in upper.split(","))


def _day_of_week(item: str, shown: str) -> Days:
    """One item of a day-of-week list: numbers and ranges, or dL (last), d#n (n-th)."""
    if item.endswith("L") and "#" not in item:
        weekday = _weekday(item[:-1], shown)
        return lambda year, month: set(_dates_of(year, month, weekday)[-1:])
    if "#" in item and "L" not in item:
        weekday_text, _, ordinal_text = item.partition("#")
        weekday = _weekday(weekday_text, shown)
        if not DIGITS.fullmatch(ordinal_text) or not 1 <= int(ordinal_text) <= 5:
            raise FieldError(f"day-of-week field {shown!r}: the week after '#' must be 1-5")
        nth = int(ordinal_text)
        return lambda year, month: set(_dates_of(year, month, weekday)[nth - 1 : nth])
    if "L" in item or "#" in item:
        raise FieldError(f"day-of-week field {shown!r}: write 'L' and '#' as in 5L, FRIL, 5#2")
    return _weekdays(_values("*" if item == "?" else item, 0, 7, "day-of-week", shown))


def _weekday(text: str, shown: str) -> int:
    """An ISO weekday (1 = Monday ... 7 = Sunday) from Spring's 0-7 or a name already numbered."""
    if not text:
        raise FieldError(f"day-of-week field {shown!r}: a day must come before 'L' or '#'")
    return _number(text, 0, 7, "day-of-week", shown) or 7


def _weekdays(weekdays: set[int]) -> Days:
    def days(year: int, month: int) -> set[int]:
        first, length = monthrange(year, month)  # first: 0 = Monday
        return {day for day in range(1, length + 1) if (first + day - 1) % 7 + 1 in weekdays}

    return days


def _dates_of(year: int, month: int, weekday: int) -> list[int]:
    """The days of the month that fall on `weekday` (ISO), in order."""
    first = (weekday - date(year, month, 1).isoweekday()) % 7 + 1
    return list(range(first, monthrange(year, month)[1] + 1, 7))
