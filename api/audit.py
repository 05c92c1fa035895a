"""`/audit`: who changed what and when (admins only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentActor, SessionDep
from api.params import Offset
from api.schemas import AuditOut
from registry import audit
from registry.permissions import Permission, require_global

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[AuditOut], responses={403: {}})
def list_audit(
    session: SessionDep,
    actor: CurrentActor,
    target_type: str | None = None,
    target: str | None = None,
    actor_name: Annotated[str | None, Query(alias="actor")] = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[AuditOut]:
    """Newest first."""
    require_global(actor, Permission.ADMIN)
    rows = audit.entries(
        session,
        target_type=target_type,
        target=target,
        actor=actor_name,
        since=since,
        limit=limit,
        offset=offset,
    )
    return [AuditOut.of(e) for e in rows]
