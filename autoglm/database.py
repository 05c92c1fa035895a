"""`autoglm db`: apply and inspect the registry's schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

import migrations
from autoglm.exits import exits_cleanly
from core.settings import get_settings

app = typer.Typer(no_args_is_help=True, help="Database schema migrations (Alembic).")
Revision = Annotated[str, typer.Argument(help="Alembic revision id, `head` or `base`.")]


@app.command()
@exits_cleanly
def upgrade(revision: Revision = "head") -> None:
    """Migrate the database at AUTOGLM_DATABASE_URL up to REVISION (default: the latest)."""
    url = get_settings().database_url
    migrations.upgrade(url, revision)
    print(f"database at {migrations.current(url)}")


@app.command()
@exits_cleanly
def downgrade(revision: Revision) -> None:
    """Migrate down to REVISION (`base` drops every registry table, and its data)."""
    url = get_settings().database_url
    migrations.downgrade(url, revision)
    print(f"database at {migrations.current(url) or 'base'}")


@app.command()
@exits_cleanly
def current() -> None:
    """Print the database's revision and the latest one this release knows."""
    url = get_settings().database_url
    print(f"database: {migrations.current(url) or 'not migrated'}; latest: {migrations.head()}")
