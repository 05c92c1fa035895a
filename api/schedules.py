"""Cron schedules: list, create and delete (`schedule:write` on the template)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentActor, SessionDep
from api.params import RequestBody, checked_id, id_path
from registry import schedules
from registry.models import Schedule

router = APIRouter(prefix="/schedules", tags=["schedules"])


def schedule_id_in_range(
    schedule_id: Annotated[int, id_path("The schedule's id (1 to 2^31-1).")],
) -> int:
    """The path's schedule id; one no schedule can have is 404 like a missing schedule."""
    return checked_id(schedule_id, schedules.schedule_not_found)


ScheduleId = Annotated[int, Depends(schedule_id_in_range)]


class ScheduleIn(RequestBody):
    """A cron schedule: 5 fields, or 6 with seconds first (`"0 0 * * * *"` = hourly)."""

    model_config = ConfigDict(extra="forbid")

    template: str = Field(min_length=1, max_length=200)
    expression: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="UTC", min_length=1, max_length=64)
    inputs: dict[str, Any] = Field(default_factory=dict)
    formats: list[str] | None = Field(default=None, min_length=1, max_length=3)


class ScheduleOut(BaseModel):
    id: int
    url: str
    template: str
    source: str  # "api", or "template" for the active version's own `schedule` block
    expression: str
    timezone: str
    inputs: dict[str, Any]
    formats: list[str] | None
    owner: str | None
    next_fire_at: datetime
    last_fire_at: datetime | None
    last_job_id: str | None
    last_error: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Schedule) -> ScheduleOut:
        return cls(
            id=row.id,
            url=f"/schedules/{row.id}",
            template=row.template.name,
            source=row.source,
            expression=row.expression,
            timezone=row.timezone,
            inputs=row.inputs,
            formats=row.formats,
            owner=row.owner.name if row.owner else None,
            next_fire_at=row.next_fire_at,
            last_fire_at=row.last_fire_at,
            last_job_id=row.last_job_id,
            last_error=row.last_error,
            created_at=row.created_at,
        )


@router.get("", response_model=list[ScheduleOut])
def list_schedules(
    session: SessionDep, actor: CurrentActor, template: str | None = None
) -> list[ScheduleOut]:
    """Schedules of the templates the caller may read."""
    return [ScheduleOut.of(row) for row in schedules.list_schedules(session, actor, template)]


@router.post("", status_code=201, response_model=ScheduleOut)
def create_schedule(
    body: ScheduleIn, response: Response, session: SessionDep, actor: CurrentActor
) -> ScheduleOut:
    """Fire the template at every tick of `expression` in `timezone`, as the caller."""
    row = schedules.create(
        session,
        actor,
        template=body.template,
        expression=body.expression,
        timezone=body.timezone,
        inputs=body.inputs,
        formats=body.formats,
    )
    session.commit()
    created = ScheduleOut.of(row)
    response.headers["Location"] = created.url
    return created


@router.get("/{schedule_id}", response_model=ScheduleOut, responses={404: {}})
def get_schedule(session: SessionDep, actor: CurrentActor, schedule_id: ScheduleId) -> ScheduleOut:
    # The id is checked after the actor: a request without a token is 401 whatever the id.
    return ScheduleOut.of(schedules.get(session, actor, schedule_id))


@router.delete("/{schedule_id}", status_code=204, responses={404: {}, 403: {}})
def delete_schedule(session: SessionDep, actor: CurrentActor, schedule_id: ScheduleId) -> Response:
    schedules.delete(session, actor, schedule_id)
    session.commit()
    return Response(status_code=204)
