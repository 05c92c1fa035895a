"""Signing in and out: an API token exchanged for a session cookie, the stylesheet, and the
console's front door (`/console` and `/`)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from console import sessions, web
from console.sessions import ConsoleSettings
from console.web import HOME, SIGN_IN, STATIC
from registry.accounts import authenticate
from registry.errors import Unauthenticated

router = APIRouter(prefix="/console", include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a console path is a place to go after sign-in (no open redirect)."""
    plain = not any(c in (target or "") for c in "\\\r\n")
    return target if target and plain and target.startswith("/console/") else HOME


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """The console's own files (a fixed list: no path from the URL reaches the disk)."""
    media = STATIC_FILES.get(name)
    if media is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(
        STATIC / name,
        media_type=media,
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


STATIC_FILES = {
    "console.css": "text/css",
    "console.js": "text/javascript",
    "author.js": "text/javascript",
}


@router.get("", include_in_schema=False)
def console_home() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(
    request: Request, next_url: Annotated[str, Query(alias="next", max_length=2000)] = ""
) -> HTMLResponse:
    return _sign_in_page(request, _safe_next(next_url))


def _sign_in_page(
    request: Request, next_url: str, error: str = "", status_code: int = 200
) -> HTMLResponse:
    signer = web.signer(request)
    nonce_cookie = request.cookies.get(sessions.SIGN_IN_COOKIE)
    nonce = signer.load("sign-in-cookie", nonce_cookie)
    fresh = nonce is None or not isinstance(nonce.get("n"), str)
    value = secrets.token_urlsafe(24) if fresh else str(nonce["n"] if nonce else "")
    response = web.render(
        request,
        "sign_in.html",
        status_code,
        title="Sign in",
        next_url=next_url,
        error=error,
        form_csrf=signer.mac("sign-in", value),
    )
    if fresh:
        web.set_cookie(
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
    session: web.DbSession,
    token: Annotated[str, Form(max_length=500)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=2000)] = "",
) -> Response:
    signer = web.signer(request)
    nonce = signer.load("sign-in-cookie", request.cookies.get(sessions.SIGN_IN_COOKIE))
    expected = signer.mac("sign-in", str(nonce.get("n"))) if nonce else ""
    if not sessions.csrf_ok(expected, csrf):
        return web.forbidden(request, "The form expired or did not come from this site; try again.")
    try:
        authenticate(session, token.strip())
    except Unauthenticated:
        return _sign_in_page(
            request, _safe_next(next_url), "That token is invalid, expired or revoked.", 401
        )
    settings: ConsoleSettings = request.app.state.console_settings
    console_session = sessions.new_session(token.strip(), settings.session_seconds)
    response = RedirectResponse(_safe_next(next_url), status_code=303)
    web.set_cookie(
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
    session: web.DbSession,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    console_session = sessions.decode(web.signer(request), request.cookies.get(sessions.COOKIE))
    if console_session is None:
        return RedirectResponse(SIGN_IN, status_code=303)
    if not sessions.csrf_ok(console_session.csrf, csrf):
        return web.forbidden(request, "The form did not come from this site.")
    response = RedirectResponse(SIGN_IN, status_code=303)
    response.delete_cookie(sessions.COOKIE, path=sessions.COOKIE_PATH)
    return response
