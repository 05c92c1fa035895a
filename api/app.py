"""The FastAPI application: `create_app()` wires settings, database, queue and artifact store.

No model is loaded here: jobs are queued and run by workers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session, sessionmaker

import console
from api import audit, health, job_cancel, job_purge, jobs, problems, schedules, templates, webhooks
from api.limits import BodyLimit
from api.params import storable_parameters
from api.problems import UNAVAILABLE_RESPONSE
from console.previews import close as close_previews
from core.db import make_engine, session_factory
from core.settings import Settings, get_settings
from registry.storage import ArtifactStore, store_for
from triggers.dispatch import Dispatcher, dispatcher_for

DESCRIPTION = """Open-AutoGLM docgen: template registry and document jobs.

Authenticate with `Authorization: Bearer <token>` (tokens come from `autoglm admin`).
Errors are JSON: `{"error": {"code": "...", "message": "...", "problems": [...]}}`.
A template or job you may not read answers 404, exactly like a missing one.
While the database cannot be reached, every endpoint that needs it answers 503
`database_unavailable` with `Retry-After`; nothing was changed."""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Nothing to start; at shutdown, stop the console's preview export process if one ran."""
    yield
    close_previews(app)


def create_app(
    settings: Settings | None = None,
    sessions: sessionmaker[Session] | None = None,
    dispatcher: Dispatcher | None = None,
    store: ArtifactStore | None = None,
    models_status: Callable[[], dict[str, str]] | None = None,
) -> FastAPI:
    """An app on `settings` (default: the environment); the other parts default from it."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Open-AutoGLM docgen",
        version="0.1.0",
        description=DESCRIPTION,
        dependencies=[Depends(storable_parameters)],
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.sessions = sessions or session_factory(make_engine(settings.database_url))
    app.state.dispatcher = dispatcher or dispatcher_for(settings)
    app.state.store = store or store_for(settings)  # a bucket when AUTOGLM_S3_BUCKET is set
    app.state.models_status = models_status  # the composition root knows the models
    problems.install(app)
    limit = max(settings.request_max_bytes, settings.template_max_bytes + 64 * 1024)
    app.add_middleware(BodyLimit, max_bytes=limit)
    for router in (
        templates.router,
        jobs.router,
        job_cancel.router,
        job_purge.router,
        webhooks.router,
        webhooks.hooks,
        schedules.router,
        audit.router,
    ):
        app.include_router(router, responses=UNAVAILABLE_RESPONSE)
    app.include_router(health.router)
    console.install(app)  # /console pages, and / redirecting there
    return app
