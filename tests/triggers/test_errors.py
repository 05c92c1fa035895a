"""One stable code per error, whoever reports it (the HTTP API's error body, the Kafka bridge's
dead-letter header)."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import exc

from core.db import database_unavailable
from documents.errors import InputError, TemplateError
from registry.errors import Invalid, NotFound
from triggers.errors import error_code


def dbapi(error_class: type[exc.DBAPIError], orig: Exception) -> exc.DBAPIError:
    return error_class("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InputError("unknown input 'tema'"), "invalid"),
        (TemplateError("invalid YAML"), "invalid_template"),
        (NotFound.template("x"), "template_not_found"),
        (Invalid("event is not JSON", "invalid_event"), "invalid_event"),
        (dbapi(exc.OperationalError, psycopg.OperationalError("refused")), "database_unavailable"),
        (exc.TimeoutError("QueuePool limit reached"), "database_unavailable"),
        (dbapi(exc.IntegrityError, psycopg.IntegrityError("dup")), "internal_error"),
        (RuntimeError("a bug"), "internal_error"),
    ],
)
def test_error_codes(error: Exception, code: str) -> None:
    assert error_code(error) == code


def test_unavailable_means_the_database_could_not_be_reached_not_a_bad_request() -> None:
    lost = dbapi(exc.DBAPIError, psycopg.InterfaceError("connection closed"))
    lost.connection_invalidated = True
    assert database_unavailable(lost)
    assert database_unavailable(dbapi(exc.InterfaceError, psycopg.InterfaceError("closed")))
    assert database_unavailable(dbapi(exc.OperationalError, psycopg.errors.AdminShutdown()))
    # Refused because of the request, whatever the class psycopg gives it:
    assert not database_unavailable(
        dbapi(exc.OperationalError, psycopg.errors.ProgramLimitExceeded("index row too big"))
    )
    assert not database_unavailable(dbapi(exc.DataError, psycopg.DataError("NUL")))
    assert not database_unavailable(dbapi(exc.IntegrityError, psycopg.IntegrityError("dup")))
    assert not database_unavailable(ValueError("not a database error"))
