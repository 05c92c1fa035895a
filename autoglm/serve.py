"""`autoglm serve`: the HTTP API. On the embedded SQLite default it migrates the database itself."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from sqlalchemy.engine import make_url

import migrations
from api.app import create_app
from autoglm.exits import exits_cleanly
from core.errors import UserError
from core.logging import configure_logging
from core.settings import get_settings


@exits_cleanly
def serve(
    host: Annotated[str | None, typer.Option(help="Default AUTOGLM_API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default AUTOGLM_API_PORT.")] = None,
) -> None:
    """Serve the registry API (OpenAPI docs at /docs)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    url = settings.database_url
    if migrations.current(url) != migrations.head():
        if make_url(url).get_backend_name() != "sqlite":
            raise UserError("the database is not migrated; run `autoglm db upgrade` first")
        migrations.upgrade(url)
    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_config=None,
    )
