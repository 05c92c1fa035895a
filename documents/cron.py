"""Cron expressions as the templates write them: 5 fields, or 6 with seconds first.

croniter reads a sixth field as seconds *last* unless told otherwise, so every caller goes
through here and `"0 0 * * * *"` means "every hour on the hour", as in the seed templates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter


def check(expression: str) -> str:
    """The expression, or ValueError saying what is wrong with it."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(
            f"cron expression {expression!r} must have 5 fields, or 6 with seconds first"
        )
    if not croniter.is_valid(expression, second_at_beginning=len(fields) == 6):
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

    When clocks go back an hour repeats. A schedule with a fixed hour ("02:30 daily") fires
    in the first of the two, as Vixie cron does; one with `*` or a step in the hour field
    fires in both, since each is a real hour.
    """
    fields = expression.split()
    six = len(fields) == 6
    hour = fields[2 if six else 1]
    ticks = croniter(expression, after.astimezone(zone(timezone)), second_at_beginning=six)
    while True:
        fire: datetime = ticks.get_next(datetime)
        if not (fire.fold and "*" not in hour and "/" not in hour):
            return fire.astimezone(UTC)
