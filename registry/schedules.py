"""Cron schedules: made through the API or mirrored from a template's `schedule` block.

A schedule fires as its owner (the principal that made it, or that activated the version
whose block it mirrors), so RBAC is checked again at every fire. Firing lives in
`triggers.cron`; here are the rows and the rules for changing them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.errors import UserError
from documents import cron
from documents.inputs import validate_inputs
from documents.spec import TemplateSpec
from registry.audit import record
from registry.errors import Invalid, NotFound
from registry.models import Schedule, Team, Template, utcnow
from registry.permissions import Actor, Permission, can_see, require
from registry.templates import (
    access_of,
    checked_formats,
    find,
    load_version,
    require_not_archived,
    visible,
)


def schedule_not_found(schedule_id: int) -> NotFound:
    return NotFound(f"schedule {schedule_id} not found", "schedule_not_found")


def create(
    session: Session,
    actor: Actor,
    *,
    template: str,
    expression: str,
    timezone: str = "UTC",
    inputs: dict[str, Any] | None = None,
    formats: list[str] | None = None,
) -> Schedule:
    """A new API schedule; its inputs are checked against the active version now."""
    row = find(session, actor, template, Permission.SCHEDULE_WRITE)
    require_not_archived(row)
    inputs = inputs or {}
    _check_timing(expression, timezone)
    if row.active_version is not None:
        validate_inputs(load_version(row.active_version).spec, inputs)
    schedule = Schedule(
        template=row,
        source="api",
        expression=expression,
        timezone=timezone,
        inputs=inputs,
        formats=checked_formats(formats),
        owner_id=actor.principal_id,
        next_fire_at=cron.next_fire(expression, timezone, utcnow()),
    )
    session.add(schedule)
    session.flush()
    record(
        session, actor, "schedule.create", "schedule", str(schedule.id), details=_describe(schedule)
    )
    return schedule


def get(session: Session, actor: Actor, schedule_id: int) -> Schedule:
    """The schedule if `actor` holds `schedule:write` on its template (its inputs and errors
    are the schedule owner's business); `NotFound` if the template is hidden, else `Forbidden`."""
    schedule = session.get(Schedule, schedule_id)
    if schedule is None or not can_see(actor, access_of(schedule.template)):
        raise schedule_not_found(schedule_id)
    require(actor, Permission.SCHEDULE_WRITE, access_of(schedule.template), schedule.template.name)
    return schedule


def list_schedules(session: Session, actor: Actor, template: str | None = None) -> list[Schedule]:
    """Schedules of the templates on which `actor` holds `schedule:write`."""
    query = select(Schedule).join(Template).join(Team, Template.owner_team_id == Team.id)
    if template is not None:
        query = query.where(Template.name == template)
    return list(
        session.scalars(visible(actor, query, Permission.SCHEDULE_WRITE).order_by(Schedule.id))
    )


def delete(session: Session, actor: Actor, schedule_id: int) -> None:
    """Stop a schedule. A template's own schedule comes back when a version with a `schedule`
    block is activated again (re-activating the active version changes nothing)."""
    schedule = get(session, actor, schedule_id)
    record(
        session,
        actor,
        "schedule.delete",
        "schedule",
        str(schedule_id),
        details=_describe(schedule),
    )
    session.delete(schedule)


def mirror_template_block(
    session: Session, actor: Actor, template: Template, spec: TemplateSpec
) -> None:
    """Make the template's own schedule match the block of the version just activated.

    Publishing the version is the permission for its block: `template:publish` suffices."""
    block = spec.schedule
    current = session.scalar(
        select(Schedule).where(Schedule.template_id == template.id, Schedule.source == "template")
    )
    if block is None:
        if current is not None:
            record(session, actor, "schedule.delete", "schedule", str(current.id))
            session.delete(current)
        return
    if current is None:
        current = Schedule(template=template, source="template")
        session.add(current)
    timing_changed = (current.expression, current.timezone) != (block.expression, block.timezone)
    current.expression, current.timezone = block.expression, block.timezone
    current.inputs = dict(block.inputs)
    current.formats = None
    current.owner_id = actor.principal_id
    current.last_error = _input_problems(spec, block.inputs)  # shown now, not at the first fire
    if timing_changed:
        current.next_fire_at = cron.next_fire(block.expression, block.timezone, utcnow())
    session.flush()
    record(
        session, actor, "schedule.mirror", "schedule", str(current.id), details=_describe(current)
    )


def advance(
    session: Session,
    schedule_id: int,
    tick: datetime,
    *,
    next_fire_at: datetime,
    job_id: str | None,
    error: str | None,
) -> bool:
    """Move a schedule past `tick`, only if nobody did already (the compare-and-set that makes
    each tick fire once across schedulers). Commits; returns whether this call won."""
    result: Any = session.execute(
        update(Schedule)
        .where(Schedule.id == schedule_id, Schedule.next_fire_at == tick)
        .values(next_fire_at=next_fire_at, last_fire_at=tick, last_job_id=job_id, last_error=error)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(result.rowcount)


def due(session: Session, now: datetime, limit: int = 100) -> list[tuple[int, datetime]]:
    """(id, tick) of schedules whose next fire time has come, oldest first."""
    rows = session.execute(
        select(Schedule.id, Schedule.next_fire_at)
        .where(Schedule.next_fire_at <= now)
        .order_by(Schedule.next_fire_at)
        .limit(limit)
    )
    return [(row.id, row.next_fire_at) for row in rows]


def _input_problems(spec: TemplateSpec, inputs: dict[str, Any]) -> str | None:
    """Why the block's inputs cannot run, if they cannot: the schedule still exists (a `schedule`
    block also carries the template's timeout and retries) but each fire will be refused."""
    try:
        validate_inputs(spec, inputs)
    except UserError as exc:
        return f"the schedule block's inputs do not run: {exc}"
    return None


def _check_timing(expression: str, timezone: str) -> None:
    try:
        cron.check(expression)
        cron.zone(timezone)
    except ValueError as exc:
        raise Invalid(str(exc), "invalid_schedule") from None


def _describe(schedule: Schedule) -> dict[str, Any]:
    return {
        "template": schedule.template.name,
        "expression": schedule.expression,
        "timezone": schedule.timezone,
        "source": schedule.source,
    }
