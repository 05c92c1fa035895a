"""The console's routes: sign-in and sign-out, the templates list, a template and its versions.

Pages call the registry's service functions with the signed-in actor, exactly as the API
does, so what the API hides is hidden here too: a template the actor may not read answers the
same 404 page as one that does not exist.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from console import sessions
from console.sessions import ConsoleSession, ConsoleSettings, Signer
from registry import templates
from registry.accounts import authenticate
from registry.errors import NotFound, Unauthenticated
from registry.models import Template, TemplateVersion
from registry.permissions import Actor, Permission

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
HOME = "/console/templates"
SIGN_IN = "/console/sign-in"
LIST_LIMIT = 200
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

router = APIRouter(prefix="/console", include_in_schema=False)


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["when"] = _when
pages = Jinja2Templates(env=environment)


def install(app: FastAPI) -> None:
    """Mount the console on `app` under `/console`, with `/` redirecting there."""
    app.state.console_settings = settings = ConsoleSettings()
    app.state.console_signer = Signer.from_settings(settings)
    app.include_router(router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console", status_code=307)


def db_session(request: Request) -> Iterator[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    with factory() as session:
        yield session


DbSession = Annotated[Session, Depends(db_session)]


def _signer(request: Request) -> Signer:
    signer: Signer = request.app.state.console_signer
    return signer


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """Every console cookie with the same flags: HttpOnly, SameSite=Lax, console paths only,
    Secure whenever the request came over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=sessions.COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("actor", None)
    context.setdefault("csrf", "")
    response = pages.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def _current(request: Request, session: Session) -> tuple[Actor, ConsoleSession] | None:
    console_session = sessions.decode(_signer(request), request.cookies.get(sessions.COOKIE))
    if console_session is None:
        return None
    actor = sessions.actor_of(session, console_session)
    return None if actor is None else (actor, console_session)


def _to_sign_in(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"{SIGN_IN}?next={quote(target, safe='')}", status_code=303)
    # A cookie that no longer signs anybody in (revoked token, expired) is dropped.
    response.delete_cookie(sessions.COOKIE, path=sessions.COOKIE_PATH)
    return response


def _safe_next(target: str | None) -> str:
    """Only a console path is a place to go after sign-in (no open redirect)."""
    plain = not any(c in (target or "") for c in "\\\r\n")
    return target if target and plain and target.startswith("/console/") else HOME


def _forbidden(request: Request, message: str) -> HTMLResponse:
    return render(request, "error.html", 403, title="Refused", message=message)


def _not_found(request: Request, message: str, actor: Actor, csrf: str) -> HTMLResponse:
    return render(
        request, "error.html", 404, title="Not found", message=message, actor=actor, csrf=csrf
    )


@router.get("", include_in_schema=False)
def console_home() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


@router.get("/static/console.css")
def stylesheet() -> FileResponse:
    return FileResponse(
        STATIC / "console.css",
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(
    request: Request, next_url: Annotated[str, Query(alias="next", max_length=2000)] = ""
) -> HTMLResponse:
    return _sign_in_page(request, _safe_next(next_url))


def _sign_in_page(
    request: Request, next_url: str, error: str = "", status_code: int = 200
) -> HTMLResponse:
    signer = _signer(request)
    nonce_cookie = request.cookies.get(sessions.SIGN_IN_COOKIE)
    nonce = signer.load("sign-in-cookie", nonce_cookie)
    fresh = nonce is None or not isinstance(nonce.get("n"), str)
    value = secrets.token_urlsafe(24) if fresh else str(nonce["n"] if nonce else "")
    response = render(
        request,
        "sign_in.html",
        status_code,
        title="Sign in",
        next_url=next_url,
        error=error,
        form_csrf=signer.mac("sign-in", value),
    )
    if fresh:
        _set_cookie(
            request,
            response,
            sessions.SIGN_IN_COOKIE,
            signer.dump("sign-in-cookie", {"n": value}),
            sessions.SIGN_IN_LIFETIME_SECONDS,
        )
    return response


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    session: DbSession,
    token: Annotated[str, Form(max_length=500)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=2000)] = "",
) -> Response:
    signer = _signer(request)
    nonce = signer.load("sign-in-cookie", request.cookies.get(sessions.SIGN_IN_COOKIE))
    expected = signer.mac("sign-in", str(nonce.get("n"))) if nonce else ""
    if not sessions.csrf_ok(expected, csrf):
        return _forbidden(request, "The form expired or did not come from this site; try again.")
    try:
        authenticate(session, token.strip())
    except Unauthenticated:
        return _sign_in_page(
            request, _safe_next(next_url), "That token is invalid, expired or revoked.", 401
        )
    settings: ConsoleSettings = request.app.state.console_settings
    console_session = sessions.new_session(token.strip(), settings.session_seconds)
    response = RedirectResponse(_safe_next(next_url), status_code=303)
    _set_cookie(
        request,
        response,
        sessions.COOKIE,
        sessions.encode(signer, console_session),
        settings.session_seconds,
    )
    response.delete_cookie(sessions.SIGN_IN_COOKIE, path=sessions.COOKIE_PATH)
    return response


@router.post("/sign-out")
def sign_out(
    request: Request,
    session: DbSession,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    console_session = sessions.decode(_signer(request), request.cookies.get(sessions.COOKIE))
    if console_session is None:
        return RedirectResponse(SIGN_IN, status_code=303)
    if not sessions.csrf_ok(console_session.csrf, csrf):
        return _forbidden(request, "The form did not come from this site.")
    response = RedirectResponse(SIGN_IN, status_code=303)
    response.delete_cookie(sessions.COOKIE, path=sessions.COOKIE_PATH)
    return response


@router.get("/templates", response_class=HTMLResponse)
def template_list(
    request: Request,
    session: DbSession,
    q: Annotated[str, Query(max_length=200)] = "",
    category: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    current = _current(request, session)
    if current is None:
        return _to_sign_in(request)
    actor, console_session = current
    rows = templates.list_templates(
        session, actor, category=category or None, search=q.strip() or None, limit=LIST_LIMIT
    )
    everything = templates.list_templates(session, actor, limit=500)
    categories = sorted({t.category for t in everything if t.category})
    return render(
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
        "url": f"{HOME}/{quote(template.name, safe='')}",
        "category": template.category or "",
        "owner_team": template.owner_team.name,
        "active": active.version if active else None,
        "description": meta.get("description") or "",
        "archived": template.archived_at is not None,
    }


@router.get("/templates/{name}", response_class=HTMLResponse)
def template_page(request: Request, name: str, session: DbSession) -> Response:
    return _template_page(request, session, name, None)


@router.get("/templates/{name}/versions/{version}", response_class=HTMLResponse)
def version_page(request: Request, name: str, version: str, session: DbSession) -> Response:
    return _template_page(request, session, name, version)


def _template_page(request: Request, session: Session, name: str, version: str | None) -> Response:
    current = _current(request, session)
    if current is None:
        return _to_sign_in(request)
    actor, console_session = current
    try:
        template = templates.find(session, actor, name, Permission.TEMPLATE_READ)
        all_versions = templates.versions(session, template)
        shown = _shown_version(session, template, all_versions, version)
    except NotFound as exc:
        return _not_found(request, str(exc), actor, console_session.csrf)
    base = f"{HOME}/{quote(template.name, safe='')}"
    access = templates.access_of(template)
    return render(
        request,
        "template.html",
        title=template.name,
        actor=actor,
        csrf=console_session.csrf,
        template=_summary(template),
        access=access,
        versions=[
            {
                "version": v.version,
                "url": f"{base}/versions/{quote(v.version, safe='')}",
                "active": v.id == template.active_version_id,
                "shown": shown is not None and v.id == shown.id,
                "uploaded_at": v.uploaded_at,
                "uploaded_by": v.uploaded_by.name if v.uploaded_by else "",
            }
            for v in reversed(all_versions)
        ],
        shown=shown,
        shown_meta=shown.meta if shown else {},
        lines=shown.source.splitlines() if shown else [],
    )


def _shown_version(
    session: Session, template: Template, all_versions: list[TemplateVersion], version: str | None
) -> TemplateVersion | None:
    if version is not None:
        return templates.get_version(session, template, version)
    if template.active_version is not None:
        return template.active_version
    return all_versions[-1] if all_versions else None
