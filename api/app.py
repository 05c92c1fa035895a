"""The FastAPI application: `create_app()` wires settings and the database; no model is loaded."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from api import audit, problems, templates
from core.db import make_engine, session_factory
from core.settings import Settings, get_settings

DESCRIPTION = """Template registry of Open-AutoGLM docgen.

Authenticate with `Authorization: Bearer <token>` (tokens come from `autoglm admin`).
Errors are JSON: `{"error": {"code": "...", "message": "...", "problems": [...]}}`.
A template you may not read answers 404, exactly like a missing one."""


def create_app(
    settings: Settings | None = None, sessions: sessionmaker[Session] | None = None
) -> FastAPI:
    """An app on `settings` (default: the environment) and `sessions` (default: its database)."""
    settings = settings or get_settings()
    app = FastAPI(title="Open-AutoGLM docgen", version="0.1.0", description=DESCRIPTION)
    app.state.settings = settings
    app.state.sessions = sessions or session_factory(make_engine(settings.database_url))
    problems.install(app)
    app.include_router(templates.router)
    app.include_router(audit.router)
    return app
