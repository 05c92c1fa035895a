"""The stable code of a refused or failed request, the same for every trigger.

The HTTP API puts it in its error body (`{"error": {"code": ...}}`) and the Kafka bridge in
the `autoglm.error.code` header of a dead-lettered event, so one failure has one name
wherever it is reported. Codes stay stable across releases; messages may change.
"""

from __future__ import annotations

from core.db import database_unavailable
from core.errors import UserError
from documents.errors import TemplateError

INVALID = "invalid"
INVALID_TEMPLATE = "invalid_template"
DATABASE_UNAVAILABLE = "database_unavailable"
INTERNAL_ERROR = "internal_error"


def error_code(error: BaseException) -> str:
    """`invalid_template` for a template that does not load, a registry error's own code
    (`template_not_found`, `forbidden`, ...), `invalid` for other bad input (inputs that do
    not match the template), `database_unavailable` when the database cannot be reached, and
    `internal_error` for anything else."""
    if isinstance(error, TemplateError):
        return INVALID_TEMPLATE
    if isinstance(error, UserError):
        code = getattr(error, "code", None)
        return code if isinstance(code, str) and code else INVALID
    if database_unavailable(error):
        return DATABASE_UNAVAILABLE
    return INTERNAL_ERROR
