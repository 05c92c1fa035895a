"""The templates list and a template's page: its versions, a diff between two of them, and the
forms that publish, roll back, archive, restore and share it.

Pages call the registry's service functions with the signed-in actor, exactly as the API
does, so what the API hides is hidden here too: a template the actor may not read answers the
same 404 page as one that does not exist, and a change the registry refuses is refused here.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from console import manage, web
from console.manage import may
from registry import publishing, schedules, templates, webhooks
from registry.errors import NotFound
from registry.models import Role, Team, Template, TemplateVersion
from registry.permissions import Actor, Permission

router = APIRouter(prefix="/console", include_in_schema=False)
LIST_LIMIT = 200
DONE = {
    "activated": "The active version changed.",
    "archived": "Archived: it is hidden from listings and cannot run until restored.",
    "restored": "Restored: it is listed and runs again.",
    "access": "Access saved.",
}
Csrf = Annotated[str, Form(max_length=200)]


@router.get("/templates", response_class=HTMLResponse)
def template_list(
    request: Request,
    session: web.DbSession,
    q: Annotated[str, Query(max_length=200)] = "",
    category: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    found = web.signed_in(request, session)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    rows = templates.list_templates(
        session, actor, category=category or None, search=q.strip() or None, limit=LIST_LIMIT
    )
    everything = templates.list_templates(session, actor, limit=500)
    categories = sorted({t.category for t in everything if t.category})
    return web.render(
        request,
        "templates.html",
        title="Templates",
        actor=actor,
        csrf=console_session.csrf,
        rows=[_summary(t) for t in rows],
        q=q,
        category=category,
        categories=categories,
        limited=len(rows) == LIST_LIMIT,
    )


def _summary(template: Template) -> dict[str, Any]:
    active = template.active_version
    meta = active.meta if active else {}
    return {
        "name": template.name,
        "url": web.template_url(template.name),
        "category": template.category or "",
        "owner_team": template.owner_team.name,
        "active": active.version if active else None,
        "description": meta.get("description") or "",
        "archived": template.archived_at is not None,
    }


@router.get("/templates/{name}", response_class=HTMLResponse)
def template_page(
    request: Request,
    name: str,
    session: web.DbSession,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return _template_page(request, session, name, done=done)


@router.get("/templates/{name}/versions/{version}", response_class=HTMLResponse)
def version_page(request: Request, name: str, version: str, session: web.DbSession) -> Response:
    return _template_page(request, session, name, version=version)


@router.get("/templates/{name}/diff", response_class=HTMLResponse)
def diff_page(
    request: Request,
    name: str,
    session: web.DbSession,
    old: Annotated[str, Query(alias="from", max_length=64)] = "",
    new: Annotated[str, Query(alias="to", max_length=64)] = "",
) -> Response:
    return _template_page(request, session, name, compare=(old, new))


def _template_page(
    request: Request,
    session: Session,
    name: str,
    *,
    version: str | None = None,
    compare: tuple[str, str] | None = None,
    done: str = "",
) -> Response:
    found = web.signed_in(request, session)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    try:
        template = templates.find(session, actor, name, Permission.TEMPLATE_READ)
        all_versions = templates.versions(session, template)
        pair = _pair(session, template, compare) if compare else None
        shown = None if pair else _shown_version(session, template, all_versions, version)
    except NotFound as exc:
        return web.not_found(request, str(exc), actor, console_session.csrf)
    base = web.template_url(template.name)
    active = template.active_version
    return web.render(
        request,
        "template.html",
        title=template.name,
        actor=actor,
        csrf=console_session.csrf,
        template=_summary(template),
        base=base,
        access=templates.access_of(template),
        can=_controls(actor, template),
        done=manage.done_message(done, DONE),
        versions=_version_rows(template, all_versions, shown, base),
        shown=shown,
        shown_meta=shown.meta if shown else {},
        lines=shown.source.splitlines() if shown else [],
        pair=pair,
        diff=diff_lines(*pair) if pair else [],
        default_pair=_default_pair(all_versions, active),
        teams=_team_choices(session, actor, template),
        roles=list(session.scalars(select(Role.name).order_by(Role.name))),
        schedules=_schedules(session, actor, template),
        webhooks=_webhooks(session, actor, template),
    )


def _controls(actor: Actor, template: Template) -> dict[str, bool]:
    """Which forms and links to offer: the registry's permission, and what it refuses of an
    archived template (new versions, activation, runs, schedules)."""
    live = template.archived_at is None
    return {
        "publish": may(actor, Permission.TEMPLATE_PUBLISH, template),
        "activate": live and may(actor, Permission.TEMPLATE_PUBLISH, template),
        "upload": live and may(actor, Permission.TEMPLATE_WRITE, template),
        "run": live
        and template.active_version is not None
        and may(actor, Permission.JOB_CREATE, template),
        "automate": may(actor, Permission.SCHEDULE_WRITE, template),
        "add_automation": live and may(actor, Permission.SCHEDULE_WRITE, template),
    }


def _version_rows(
    template: Template,
    all_versions: list[TemplateVersion],
    shown: TemplateVersion | None,
    base: str,
) -> list[dict[str, Any]]:
    """Newest first; the activate button of a version older than the active one reads as the
    roll back it is."""
    active_id = template.active_version_id
    return [
        {
            "version": v.version,
            "url": f"{base}/versions/{quote(v.version, safe='')}",
            "active": v.id == active_id,
            "older": active_id is not None and v.id < active_id,
            "shown": shown is not None and v.id == shown.id,
            "uploaded_at": v.uploaded_at,
            "uploaded_by": v.uploaded_by.name if v.uploaded_by else "",
        }
        for v in reversed(all_versions)
    ]


def _shown_version(
    session: Session, template: Template, all_versions: list[TemplateVersion], version: str | None
) -> TemplateVersion | None:
    if version is not None:
        return templates.get_version(session, template, version)
    if template.active_version is not None:
        return template.active_version
    return all_versions[-1] if all_versions else None


def _pair(
    session: Session, template: Template, compare: tuple[str, str]
) -> tuple[TemplateVersion, TemplateVersion]:
    old, new = compare
    return templates.get_version(session, template, old), templates.get_version(
        session, template, new
    )


def _default_pair(
    all_versions: list[TemplateVersion], active: TemplateVersion | None
) -> tuple[str, str]:
    """What the compare form offers first: the active version against the one before it."""
    if not all_versions:
        return "", ""
    ids = [v.id for v in all_versions]
    at = ids.index(active.id) if active is not None and active.id in ids else len(ids) - 1
    return all_versions[max(at - 1, 0)].version, all_versions[at].version


def diff_lines(old: TemplateVersion, new: TemplateVersion) -> list[tuple[str, str]]:
    """A unified line diff as (kind, line): the kind names the CSS class and each line keeps
    its `+`/`-` sign, so a change reads without colour."""
    lines = difflib.unified_diff(
        old.source.splitlines(),
        new.source.splitlines(),
        f"v{old.version}",
        f"v{new.version}",
        lineterm="",
    )
    return [(_kind(n, line), line) for n, line in enumerate(lines)]


def _kind(n: int, line: str) -> str:
    if n < 2:  # the two file headers; a removed line may also start with "---"
        return "file"
    if line.startswith("@@"):
        return "hunk"
    return {"+": "add", "-": "del"}.get(line[:1], "same")


def _team_choices(session: Session, actor: Actor, template: Template) -> list[str]:
    """Teams the template may be handed to: the actor's own (the registry refuses others),
    every team for an admin."""
    if actor.is_admin:
        return list(session.scalars(select(Team.name).order_by(Team.name)))
    return sorted(actor.teams | {template.owner_team.name})


def _schedules(session: Session, actor: Actor, template: Template) -> list[dict[str, Any]]:
    return [
        {"id": s.id, "expression": s.expression, "timezone": s.timezone, "source": s.source}
        for s in schedules.list_schedules(session, actor, template.name)
    ]


def _webhooks(session: Session, actor: Actor, template: Template) -> list[dict[str, Any]]:
    return [
        {"name": h.name, "url": f"/console/webhooks/{quote(h.name, safe='')}"}
        for h in webhooks.list_webhooks(session, actor)
        if h.template_id == template.id
    ]


def _back(name: str, done: str) -> str:
    return f"{web.template_url(name)}?done={done}"


@router.post("/templates/{name}/activate")
def activate(
    request: Request,
    name: str,
    session: web.DbSession,
    csrf: Csrf = "",
    version: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    def change(actor: Actor) -> str:
        publishing.activate(session, actor, name, version)
        return _back(name, "activated")

    return manage.post(request, session, csrf, change)


@router.post("/templates/{name}/archive")
def archive(request: Request, name: str, session: web.DbSession, csrf: Csrf = "") -> Response:
    def change(actor: Actor) -> str:
        publishing.archive(session, actor, name)
        return _back(name, "archived")

    return manage.post(request, session, csrf, change)


@router.post("/templates/{name}/restore")
def restore(request: Request, name: str, session: web.DbSession, csrf: Csrf = "") -> Response:
    def change(actor: Actor) -> str:
        publishing.restore(session, actor, name)
        return _back(name, "restored")

    return manage.post(request, session, csrf, change)


@router.post("/templates/{name}/access")
def set_access(
    request: Request,
    name: str,
    session: web.DbSession,
    *,
    csrf: Csrf = "",
    owner_team: Annotated[str, Form(max_length=100)] = "",
    read_roles: Annotated[list[str] | None, Form()] = None,
    run_roles: Annotated[list[str] | None, Form()] = None,
) -> Response:
    def change(actor: Actor) -> str:
        publishing.set_access(
            session,
            actor,
            name,
            owner_team=owner_team,
            read_roles=read_roles or [],
            run_roles=run_roles or [],
        )
        return _back(name, "access")

    return manage.post(request, session, csrf, change)
