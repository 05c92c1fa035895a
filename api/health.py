"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from api.problems import RETRY_AFTER_SECONDS, UNAVAILABLE_RESPONSE
from core.db import database_unavailable
from registry.errors import StorageUnavailable
from registry.jobs import counts_by_status
from registry.models import CALLBACK_STATES, JOB_STATUSES, Job
from triggers.dispatch import Dispatcher

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive (it answers)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        503: {
            "description": "A dependency is unreachable (`checks` says which).",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        }
    },
)
def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers and the job queue and artifact store are reachable
    (a bucket by `HeadBucket`, a folder by being writable); `models` says which
    models are usable (a remote one by its circuit, or by answering `GET /models`)."""
    checks: dict[str, str] = {}
    try:
        with request.app.state.sessions() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        state = "unreachable" if database_unavailable(exc) else "error"
        checks["database"] = f"{state}: {type(exc).__name__}"
    try:
        request.app.state.dispatcher.ping()
        checks["queue"] = "ok"
    except Exception as exc:
        checks["queue"] = f"unreachable: {type(exc).__name__}: {exc}"
    try:
        request.app.state.store.ping()
        checks["storage"] = "ok"
    except StorageUnavailable as exc:
        checks["storage"] = f"unreachable: {exc}"
    except Exception as exc:  # a bucket that refuses us or does not exist (403, 404)
        checks["storage"] = f"error: {type(exc).__name__}: {exc}"
    ready = all(v == "ok" for v in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "checks": checks}
    models_status = getattr(request.app.state, "models_status", None)
    if models_status is not None:  # informational: a model down is a fallback, not an outage
        body["models"] = models_status()
    headers = None if ready else {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse(body, status_code=200 if ready else 503, headers=headers)


class JobStateCollector(Collector):
    """Jobs by status, callbacks by state and queue depth, read at scrape time: they live in
    the database and the broker, so they agree whichever process (or replica) is scraped."""

    def __init__(self, sessions: sessionmaker[Session], dispatcher: Dispatcher) -> None:
        self.sessions = sessions
        self.dispatcher = dispatcher

    def collect(self) -> Any:
        jobs = GaugeMetricFamily("autoglm_jobs", "Jobs by status.", labels=["status"])
        callbacks = GaugeMetricFamily(
            "autoglm_job_callbacks",
            "Jobs with a completion callback, by its state.",
            labels=["state"],
        )
        with self.sessions() as session:
            counts = counts_by_status(session)
            states = dict(
                session.execute(
                    select(Job.callback_state, func.count())
                    .where(Job.callback_state.is_not(None))
                    .group_by(Job.callback_state)
                ).all()
            )
        for status in JOB_STATUSES:
            jobs.add_metric([status], counts.get(status, 0))
        for state in CALLBACK_STATES:
            callbacks.add_metric([state], states.get(state, 0))
        yield jobs
        yield callbacks
        try:
            depth = self.dispatcher.depth()
        except Exception:
            depth = None
        if depth is not None:
            yield GaugeMetricFamily("autoglm_queue_depth", "Job messages waiting.", value=depth)


@router.get("/metrics", response_class=Response, responses=UNAVAILABLE_RESPONSE)
def metrics(request: Request) -> Response:
    """Prometheus text: job counts and queue depth, plus this process's own metrics (the
    in-process worker's durations and tokens on the embedded default)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobStateCollector(request.app.state.sessions, request.app.state.dispatcher))
    body = generate_latest(registry) + generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
