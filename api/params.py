"""Request values bounded by what the database can hold, checked before they reach it.

A value past a column's range is an error in the database, not an answer, so it never gets
there: an offset beyond BIGINT is 422 like any invalid parameter, an id beyond INTEGER is 404
exactly like an id that does not exist (none can), and text with NUL (U+0000), which
PostgreSQL can neither store nor compare, is 422 `invalid_request`, on SQLite too, so both
databases answer alike. (Unpaired surrogates, which JSON escapes can carry, pydantic refuses
in any `str` field already.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, field_validator

from registry.errors import NotFound

MAX_OFFSET = 2**63 - 1  # OFFSET is a BIGINT on PostgreSQL and a 64-bit integer on SQLite
MAX_ID = 2**31 - 1  # an INTEGER primary key on PostgreSQL (SQLite's is wider)

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip (0 to 2^63-1).")]


def id_path(description: str) -> Any:
    """A path id with its range in the OpenAPI schema (1 to 2^31-1), not enforced as 422:
    `checked_id` answers an id out of range with the resource's own 404."""
    return Path(description=description, json_schema_extra={"minimum": 1, "maximum": MAX_ID})


def checked_id(value: int, not_found: Callable[[int], NotFound]) -> int:
    """`value`, or the 404 `not_found(value)` when no row can have that id."""
    if not 1 <= value <= MAX_ID:
        raise not_found(value)
    return value


def unstorable(text: str) -> str | None:
    """Why the database cannot take `text`, or None when it can."""
    return "must not contain NUL (U+0000)" if "\x00" in text else None


def storable_parameters(request: Request) -> None:
    """An app-wide dependency: every path and query parameter is text the database takes."""
    errors = [
        {"type": "value_error", "loc": (where, name), "msg": problem, "input": value}
        for where, items in (
            ("path", list(request.path_params.items())),
            ("query", request.query_params.multi_items()),
        )
        for name, value in items
        if isinstance(value, str) and (problem := unstorable(value))
    ]
    if errors:
        raise RequestValidationError(errors)


class RequestBody(BaseModel):
    """A JSON request body whose text fields (and lists of text) are text the database takes.

    Free-form `dict` fields (job inputs) are not checked: they are stored as JSON, which
    escapes anything."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and (problem := unstorable(text)):
                raise ValueError(problem)
        return value
