"""Every error is JSON `{"error": {"code", "message", "problems"}}` with a stable code.

The code of a refused request comes from `triggers.errors.error_code`, the same function
that names a dead-lettered Kafka event's error, so both say the same thing.
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.db import database_unavailable
from core.errors import UserError
from documents.errors import TemplateError
from registry.errors import (
    Conflict,
    Corrupt,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    StorageUnavailable,
    Unauthenticated,
)
from triggers.errors import DATABASE_UNAVAILABLE, INTERNAL_ERROR, error_code

log = structlog.get_logger(__name__)


class PayloadTooLarge(UserError):
    code = "too_large"


class UnsupportedMediaType(UserError):
    code = "unsupported_media_type"


STATUS: list[tuple[type[UserError], int]] = [
    (NotFound, 404),
    (Conflict, 409),
    (Gone, 410),
    (Forbidden, 403),
    (Unauthenticated, 401),
    (Invalid, 422),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (TemplateError, 422),
    (Corrupt, 500),  # our stored bytes fail their SHA-256: nothing the caller can fix
]
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}
INVALID_REQUEST = "invalid_request"  # the request itself (its JSON, a parameter) is malformed
RETRY_AFTER_SECONDS = 5  # what a 503 asks a client to wait while a dependency is away
UNAVAILABLE_RESPONSE: dict[int | str, dict[str, object]] = {
    503: {
        "description": "The database (or, for a file, the artifact store) cannot be reached; "
        "retry after `Retry-After` seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    }
}


def problem(
    status: int, code: str, problems: list[str], headers: dict[str, str] | None = None
) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body = {"error": {"code": code, "message": "; ".join(problems), "problems": problems}}
    return JSONResponse(body, status_code=status, headers=headers or None)


def unavailable() -> JSONResponse:
    """503 `database_unavailable` with `Retry-After`: nothing was changed, ask again later."""
    return problem(
        503,
        DATABASE_UNAVAILABLE,
        ["the database cannot be reached just now; retry later"],
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the one JSON error shape."""

    @app.exception_handler(UserError)
    async def user_error(_request: Request, exc: UserError) -> JSONResponse:
        status = next((s for cls, s in STATUS if isinstance(exc, cls)), 422)
        return problem(status, error_code(exc), exc.problems)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return problem(422, INVALID_REQUEST, lines)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, UnicodeDecodeError):  # FastAPI's 400 for a non-UTF-8 body
            return problem(422, INVALID_REQUEST, [f"body: not UTF-8 JSON: {exc.__cause__}"])
        return problem(
            exc.status_code, HTTP_CODES.get(exc.status_code, "http_error"), [str(exc.detail)]
        )

    @app.exception_handler(SQLAlchemyError)
    async def database_error(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        if not database_unavailable(exc):
            return internal_error(request, exc)
        log.warning("database unavailable", path=request.url.path, error=str(exc).strip())
        return unavailable()

    @app.exception_handler(StorageUnavailable)
    async def storage_error(request: Request, exc: StorageUnavailable) -> JSONResponse:
        log.warning("artifact store unavailable", path=request.url.path, error=str(exc))
        return problem(
            503,
            StorageUnavailable.code,
            ["the artifact store cannot be reached just now; retry later"],
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        return internal_error(request, exc)


def internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", path=request.url.path, exc_info=exc)
    return problem(500, INTERNAL_ERROR, ["internal error; see the server log"])
