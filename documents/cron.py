"""Cron expressions as the templates write them: 5 fields, or 6 with seconds first.

Six fields (and the macros `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`,
`@hourly`) follow Spring Framework's `CronExpression`, so `"0 0 * * * *"` is every hour on the
hour, as in the seed templates, and both day fields must match; `documents.spring_cron` says
how. Five fields are standard (Vixie) cron through croniter: day-of-month OR day-of-week.
Every caller goes through here, so the two dialects never get mixed up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from documents import spring_cron


def _is_spring(expression: str) -> bool:
    """Six fields, or a macro: Spring's dialect."""
    return expression.strip().startswith("@") or len(expression.split()) == 6


def check(expression: str) -> str:
    """The expression, or ValueError saying what is wrong with it."""
    fields = expression.split()
    if not _is_spring(expression) and len(fields) != 5:
        raise ValueError(
            f"cron expression {expression!r} must have 5 fields, or 6 with seconds first"
            " (or be a macro such as @daily)"
        )
    if _is_spring(expression):
        try:
            spring_cron.parse(expression)
        except spring_cron.FieldError as problem:
            raise ValueError(f"cron expression {expression!r} is not valid: {problem}") from None
    elif not croniter.is_valid(expression):
        raise ValueError(f"cron expression {expression!r} is not valid")
    try:
        next_fire(expression, "UTC", datetime.now(UTC))
    except CroniterBadDateError:  # e.g. "0 0 30 2 *": valid fields, no such day
        raise ValueError(f"cron expression {expression!r} never fires") from None
    return expression


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (e.g. "Europe/Berlin"), or ValueError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as 'UTC')") from None


def next_fire(expression: str, timezone: str, after: datetime) -> datetime:
    """The first fire time strictly after `after`, evaluated in `timezone`, returned in UTC.

    Six fields (Spring): a local time the clocks skip does not fire (`0 10 2 * * *` fires the
    next day instead), and when clocks go back every repeated local time fires in both hours.
    Five fields (Vixie cron): when clocks go back, a schedule with a fixed hour ("02:30 daily")
    fires in the first of the two hours only; one with `*` or a step in the hour field fires in
    both, since each is a real hour.
    """
    where = zone(timezone)
    if _is_spring(expression):
        try:
            fire = spring_cron.parse(expression).next_fire(where, after)
        except spring_cron.FieldError as problem:
            raise ValueError(f"cron expression {expression!r} is not valid: {problem}") from None
        if fire is None:
            raise ValueError(f"cron expression {expression!r} never fires")
        return fire
    hour = expression.split()[1]
    ticks = croniter(expression, after.astimezone(where))
    while True:
        tick: datetime = ticks.get_next(datetime)
        if not (tick.fold and "*" not in hour and "/" not in hour):
            return tick.astimezone(UTC)
