"""The audit log for admins: who changed what and when, filtered and paged.

Others get the 404 page (`require_global(admin)` refuses them, as the API does; the console
hides what it refuses). `registry.audit.entries` narrows by actor, target and start time in
SQL; the action and the end of the time range it cannot take yet, so pages are cut from its
rows after those two are applied, reading at most `SCAN_LIMIT` rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from console import manage, web
from registry import audit
from registry.errors import Forbidden
from registry.models import AuditEntry
from registry.permissions import Permission, require_global

router = APIRouter(prefix="/console", include_in_schema=False)
PAGE_SIZES = (10, 25, 50, 100)
BATCH = 500
SCAN_LIMIT = 20_000
TARGET_KINDS = ("template", "schedule", "webhook", "principal", "team", "role", "token")


@dataclass(frozen=True)
class AuditFilter:
    """The filter form's fields as typed (times are UTC, `YYYY-MM-DDTHH:MM`)."""

    actor: str = ""
    action: str = ""
    kind: str = ""
    target: str = ""
    since: str = ""
    until: str = ""

    def query(self, **extra: object) -> str:
        fields = {k: v for k, v in asdict(self).items() if v} | extra
        return urlencode(fields)


def _time(text: str, field: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise manage.FormError(f"{field}: {text!r} is not a date and time") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _acts(entry: AuditEntry, action: str) -> bool:
    """An exact action (`template.activate`), or a family by its first part (`template`)."""
    return not action or entry.action == action or entry.action.startswith(action + ".")


def _matching(session: Session, wanted: AuditFilter) -> Iterator[AuditEntry]:
    """Entries passing every filter, newest first."""
    since = _time(wanted.since, "From")
    until = _time(wanted.until, "Until")
    for offset in range(0, SCAN_LIMIT, BATCH):
        rows = audit.entries(
            session,
            target_type=wanted.kind or None,
            target=wanted.target or None,
            actor=wanted.actor or None,
            since=since,
            limit=BATCH,
            offset=offset,
        )
        for entry in rows:
            if _acts(entry, wanted.action) and (until is None or entry.at <= until):
                yield entry
        if len(rows) < BATCH:
            return


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "actor": entry.actor_name,
        "action": entry.action,
        "kind": entry.target_type,
        "target": entry.target,
        "details": json.dumps(entry.details, sort_keys=True, ensure_ascii=False)
        if entry.details
        else "",
    }


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: web.DbSession,
    *,
    actor_name: Annotated[str, Query(alias="actor", max_length=100)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    kind: Annotated[str, Query(max_length=32)] = "",
    target: Annotated[str, Query(max_length=300)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    found = web.signed_in(request, session)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    try:
        require_global(actor, Permission.ADMIN)
    except Forbidden:
        missing = f"page {request.url.path!r} not found"
        return web.not_found(request, missing, actor, console_session.csrf)
    wanted = AuditFilter(*(v.strip() for v in (actor_name, action, kind, target, since, until)))
    per = per if per in PAGE_SIZES else 50
    error, rows = "", []
    try:
        for n, entry in enumerate(_matching(session, wanted)):
            if n >= page * per + 1:
                break
            if n >= (page - 1) * per:
                rows.append(_row(entry))
    except manage.FormError as exc:
        error = str(exc)
    older = len(rows) > per
    return web.render(
        request,
        "audit.html",
        400 if error else 200,
        title="Audit log",
        actor=actor,
        csrf=console_session.csrf,
        f=wanted,
        kinds=TARGET_KINDS,
        sizes=PAGE_SIZES,
        per=per,
        page=page,
        rows=rows[:per],
        error=error,
        scans=bool(wanted.action or wanted.until),
        scan_limit=SCAN_LIMIT,
        newer=f"/console/audit?{wanted.query(page=page - 1, per=per)}" if page > 1 else "",
        older=f"/console/audit?{wanted.query(page=page + 1, per=per)}" if older else "",
    )
