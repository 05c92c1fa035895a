"""Database engine and sessions from one URL, so PostgreSQL and the embedded SQLite behave alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; a SQLite file gets its folder, foreign keys, WAL and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see `_sqlite_begin_immediate`).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads then writes can fail with "database is locked" when
    # another writer got in between; taking the write lock up front makes writers queue instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (responses are built after it)."""
    return sessionmaker(engine, expire_on_commit=False)


# SQLSTATE classes that psycopg reports as OperationalError although the request caused them:
# 54 = program limit exceeded (an index row or a statement too large). A retry cannot help.
_REQUEST_CAUSED_SQLSTATE_CLASSES = frozenset({"54"})


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database could not be reached or used just now: connection
    refused or lost, the server shutting down or restarting, no pooled connection free in
    time, a lock or statement timeout, a locked SQLite file. Retrying later may succeed.

    Constraint violations, bad data and SQL errors are not unavailability (they are bugs or
    bad input, and a retry would fail the same way)."""
    if isinstance(error, sa_exc.TimeoutError):  # the pool had no connection to give in time
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated:  # SQLAlchemy recognised a disconnect
        return True
    if not isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None) or ""
    return sqlstate[:2] not in _REQUEST_CAUSED_SQLSTATE_CLASSES
