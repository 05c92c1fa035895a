"""Schedules: the list the actor may manage, a form to make one, a page per schedule with its
next fire times in its own time zone, and delete.

`registry.schedules` checks the template, the cron expression, the time zone and the inputs;
a refusal is shown next to the form with the API's status and nothing is stored. Fire times
come from `documents.cron`, the rule the scheduler fires by.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from console import manage, web
from console.sessions import ConsoleSession
from core.errors import UserError
from documents import cron
from registry import schedules
from registry.errors import NotFound
from registry.models import Schedule
from registry.permissions import Actor

router = APIRouter(prefix="/console", include_in_schema=False)
LIST = "/console/schedules"
UPCOMING = 3
MAX_ID = 2**31 - 1
DONE = {"created": "Schedule created.", "deleted": "Schedule deleted."}


@dataclass
class ScheduleForm:
    """What the create form holds, kept to show it again after a refusal."""

    template: str = ""
    expression: str = ""
    timezone: str = "UTC"
    inputs: str = "{}"
    formats: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def zone_names() -> list[str]:
    """IANA zones offered as suggestions (the registry decides which it accepts)."""
    return sorted(available_timezones())


def upcoming(expression: str, timezone: str, after: datetime, count: int = UPCOMING) -> list[str]:
    """The next `count` fire times after `after`, as clocks in the schedule's zone read them."""
    where = cron.zone(timezone)
    fires = []
    for _ in range(count):
        after = cron.next_fire(expression, timezone, after)
        local = after.astimezone(where)
        fires.append(local.strftime("%a %Y-%m-%d %H:%M" + (":%S" if local.second else "") + " %Z"))
    return fires


def _row(schedule: Schedule, now: datetime) -> dict[str, Any]:
    try:
        fires, problem = upcoming(schedule.expression, schedule.timezone, now), ""
    except ValueError as exc:
        fires, problem = [], str(exc)
    return {
        "id": schedule.id,
        "url": f"{LIST}/{schedule.id}",
        "template": schedule.template.name,
        "template_url": web.template_url(schedule.template.name),
        "expression": schedule.expression,
        "timezone": schedule.timezone,
        "source": schedule.source,
        "owner": schedule.owner.name if schedule.owner else "",
        "inputs": json.dumps(schedule.inputs, sort_keys=True, ensure_ascii=False),
        "formats": schedule.formats or [],
        "upcoming": fires,
        "problem": problem,
        "last_fire_at": schedule.last_fire_at,
        "last_error": schedule.last_error or "",
        "created_at": schedule.created_at,
    }


@router.get("/schedules", response_class=HTMLResponse)
def schedule_list(
    request: Request,
    session: web.DbSession,
    template: Annotated[str, Query(max_length=200)] = "",
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    found = web.signed_in(request, session)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    return _list_page(
        request, session, actor, console_session.csrf, ScheduleForm(template=template), done=done
    )


def _list_page(
    request: Request,
    session: Session,
    actor: Actor,
    csrf: str,
    form: ScheduleForm,
    *,
    error: str = "",
    status: int = 200,
    done: str = "",
) -> Response:
    now = datetime.now(UTC)
    return web.render(
        request,
        "schedules.html",
        status,
        title="Schedules",
        actor=actor,
        csrf=csrf,
        rows=[_row(s, now) for s in schedules.list_schedules(session, actor)],
        choices=[t.name for t in manage.schedulable(session, actor)],
        zones=zone_names(),
        formats=manage.FORMATS,
        form=form,
        error=error,
        done=manage.done_message(done, DONE),
    )


@router.post("/schedules", response_class=HTMLResponse)
def create_schedule(
    request: Request,
    session: web.DbSession,
    *,
    csrf: Annotated[str, Form(max_length=200)] = "",
    template: Annotated[str, Form(max_length=200)] = "",
    expression: Annotated[str, Form(max_length=200)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "UTC",
    inputs: Annotated[str, Form(max_length=20000)] = "",
    formats: Annotated[list[str] | None, Form()] = None,
) -> Response:
    form = ScheduleForm(template, expression.strip(), timezone.strip(), inputs, formats or [])

    def change(actor: Actor) -> str:
        row = schedules.create(
            session,
            actor,
            template=form.template,
            expression=form.expression,
            timezone=form.timezone or "UTC",
            inputs=manage.json_object(form.inputs, "inputs"),
            formats=form.formats or None,
        )
        return f"{LIST}/{row.id}?done=created"

    def retry(actor: Actor, csrf: str, message: str, status: int) -> Response:
        return _list_page(request, session, actor, csrf, form, error=message, status=status)

    return manage.post(request, session, csrf, change, retry)


def _number(schedule_id: str) -> int:
    """The path's id; one no schedule can have (not a number, out of range) is not found."""
    digits = schedule_id.isascii() and schedule_id.isdigit() and len(schedule_id) <= 10
    number = int(schedule_id) if digits else 0
    if not 1 <= number <= MAX_ID:
        raise NotFound(f"schedule {schedule_id!r} not found", "schedule_not_found")
    return number


def _found(
    request: Request, session: Session, schedule_id: str
) -> tuple[Actor, ConsoleSession, Schedule] | Response:
    """The signed-in actor and the schedule they may manage, or the page to send instead (404
    for a schedule that is missing or on a template they cannot see, as the API answers)."""
    found = web.signed_in(request, session)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    try:
        return actor, console_session, schedules.get(session, actor, _number(schedule_id))
    except UserError as exc:
        return manage.refused(request, exc, actor, console_session.csrf)


@router.get("/schedules/{schedule_id}", response_class=HTMLResponse)
def schedule_page(
    request: Request,
    schedule_id: str,
    session: web.DbSession,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    found = _found(request, session, schedule_id)
    if isinstance(found, Response):
        return found
    actor, console_session, schedule = found
    return web.render(
        request,
        "schedule.html",
        title=f"Schedule {schedule.id}",
        actor=actor,
        csrf=console_session.csrf,
        s=_row(schedule, datetime.now(UTC)),
        done=manage.done_message(done, DONE),
    )


@router.post("/schedules/{schedule_id}/delete")
def delete_schedule(
    request: Request,
    schedule_id: str,
    session: web.DbSession,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    def change(actor: Actor) -> str:
        schedules.delete(session, actor, _number(schedule_id))
        return f"{LIST}?done=deleted"

    return manage.post(request, session, csrf, change)
