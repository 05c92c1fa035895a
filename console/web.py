"""What every console page shares: the Jinja environment, the security headers, the signed-in
actor, cookies with their flags, CSRF checks and the error pages.

Route modules (`signing`, `template_pages`, ...) each hold their own `APIRouter`; they use
these helpers so that a page is signed in, escaped and refused in one way everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from console import sessions
from console.sessions import ConsoleSession, Signer
from registry.permissions import Actor

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
HOME = "/console/templates"
SIGN_IN = "/console/sign-in"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'; "
        "form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def when(value: datetime | None) -> str:
    """A timestamp as people read it in the console: minutes, UTC, always labelled."""
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
environment.filters["when"] = when
environment.filters["urlpart"] = lambda value: quote(str(value), safe="")
pages = Jinja2Templates(env=environment)


def db_session(request: Request) -> Iterator[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    with factory() as session:
        yield session


DbSession = Annotated[Session, Depends(db_session)]


def signer(request: Request) -> Signer:
    value: Signer = request.app.state.console_signer
    return value


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """Every console cookie with the same flags: HttpOnly, SameSite=Lax, console paths only,
    Secure whenever the request came over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=sessions.COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("actor", None)
    context.setdefault("csrf", "")
    response = pages.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def current(request: Request, session: Session) -> tuple[Actor, ConsoleSession] | None:
    """The signed-in actor and their console session, or None (no cookie, forged, expired,
    or its token no longer authenticates)."""
    console_session = sessions.decode(signer(request), request.cookies.get(sessions.COOKIE))
    if console_session is None:
        return None
    actor = sessions.actor_of(session, console_session)
    return None if actor is None else (actor, console_session)


def to_sign_in(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"{SIGN_IN}?next={quote(target, safe='')}", status_code=303)
    # A cookie that no longer signs anybody in (revoked token, expired) is dropped.
    response.delete_cookie(sessions.COOKIE, path=sessions.COOKIE_PATH)
    return response


def forbidden(request: Request, message: str) -> HTMLResponse:
    return render(request, "error.html", 403, title="Refused", message=message)


def not_found(request: Request, message: str, actor: Actor, csrf: str) -> HTMLResponse:
    """The same page for what does not exist and what the actor may not see."""
    return render(
        request, "error.html", 404, title="Not found", message=message, actor=actor, csrf=csrf
    )


def bad_request(request: Request, message: str, actor: Actor, csrf: str) -> HTMLResponse:
    return render(
        request, "error.html", 400, title="Not accepted", message=message, actor=actor, csrf=csrf
    )


def template_url(name: str) -> str:
    return f"{HOME}/{quote(name, safe='')}"


def signed_in(
    request: Request, session: Session, csrf: str | None = None
) -> tuple[Actor, ConsoleSession] | Response:
    """The actor behind the request, or the response to send instead: the sign-in page when
    nobody is signed in, a refusal when a form (`csrf` given) lacks this session's token."""
    found = current(request, session)
    if found is None:
        return to_sign_in(request)
    if csrf is not None and not sessions.csrf_ok(found[1].csrf, csrf):
        return forbidden(request, "The form did not come from this site; reload it and try again.")
    return found
