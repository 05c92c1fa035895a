"""Every error is JSON `{"error": {"code", "message", "problems"}}` with a stable code."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import UserError
from documents.errors import TemplateError
from registry.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated

log = structlog.get_logger(__name__)


class PayloadTooLarge(UserError):
    code = "too_large"


class UnsupportedMediaType(UserError):
    code = "unsupported_media_type"


STATUS: list[tuple[type[UserError], int]] = [
    (NotFound, 404),
    (Conflict, 409),
    (Forbidden, 403),
    (Unauthenticated, 401),
    (Invalid, 422),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (TemplateError, 422),
]
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}


def problem(status: int, code: str, problems: list[str]) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = {"error": {"code": code, "message": "; ".join(problems), "problems": problems}}
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the one JSON error shape."""

    @app.exception_handler(UserError)
    async def user_error(_request: Request, exc: UserError) -> JSONResponse:
        status = next((s for cls, s in STATUS if isinstance(exc, cls)), 422)
        code = (
            "invalid_template"
            if isinstance(exc, TemplateError)
            else getattr(exc, "code", "invalid")
        )
        return problem(status, code, exc.problems)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return problem(422, "invalid_request", lines)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code, HTTP_CODES.get(exc.status_code, "http_error"), [str(exc.detail)]
        )

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return problem(500, "internal_error", ["internal error; see the server log"])
