"""The web console: server-rendered pages over the same registry services as the API.

It lives in the API's FastAPI app under `/console` (`console.install(app)`), reads the app's
`state.sessions` itself (never HTTP calls to the API, never `generation`), and signs people
in with an API token exchanged for a session cookie (`console.sessions`).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from console import (
    audit_pages,
    authoring,
    job_pages,
    run_pages,
    schedule_pages,
    signing,
    template_pages,
    webhook_pages,
)
from console.sessions import ConsoleSettings, Signer

ROUTERS = (
    signing.router,
    template_pages.router,
    authoring.router,
    schedule_pages.router,
    webhook_pages.router,
    audit_pages.router,
    job_pages.router,
    run_pages.router,
)


def install(app: FastAPI) -> None:
    """Mount the console on `app` under `/console`, with `/` redirecting there."""
    app.state.console_settings = settings = ConsoleSettings()
    app.state.console_signer = Signer.from_settings(settings)
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console", status_code=307)


__all__ = ["install"]
