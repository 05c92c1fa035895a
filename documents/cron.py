"""Cron expressions as the templates write them: 5 fields, or 6 with seconds first.

croniter reads a sixth field as seconds *last* unless told otherwise, so every caller goes
through here and `"0 0 * * * *"` means "every hour on the hour", as in the seed templates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter


def check(expression: str) -> str:
    """The expression, or ValueError saying what is wrong with it."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(
            f"cron expression {expression!r} must have 5 fields, or 6 with seconds first"
        )
    if not croniter.is_valid(expression, second_at_beginning=len(fields) == 6):
        raise ValueError(f"cron expression {expression!r} is not valid")
    return expression


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (e.g. "Europe/Berlin"), or ValueError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as 'UTC')") from None


def next_fire(expression: str, timezone: str, after: datetime) -> datetime:
    """The first fire time strictly after `after`, evaluated in `timezone`, returned in UTC."""
    start = after.astimezone(zone(timezone))
    six = len(expression.split()) == 6
    fire: datetime = croniter(expression, start, second_at_beginning=six).get_next(datetime)
    return fire.astimezone(UTC)
