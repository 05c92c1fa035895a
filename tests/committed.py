"""Databases whose rows are really committed, for code that works from several threads or
processes at once (the `db` fixture's rolled-back transaction shares one connection)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

import migrations
from core.db import make_engine, session_factory
from tests import factories
from tests.database import fresh_database
from tests.jobs_support import publish


@contextmanager
def committed_database(prefix: str) -> Iterator[sessionmaker[Session]]:
    """A fresh migrated PostgreSQL database with team a's `weekly` template published."""
    with fresh_database(prefix) as url:
        migrations.upgrade(url)
        engine = make_engine(url)
        factory = session_factory(engine)
        with factory() as session:
            publish(session)
        try:
            yield factory
        finally:
            engine.dispose()


def token_on(database_url: str, name: str, teams: Sequence[str], roles: Sequence[str]) -> str:
    """A new principal's token on the database at `database_url` (a running stack's)."""
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            return factories.user(session, name, teams=teams, roles=roles).token
    finally:
        engine.dispose()
