"""The retention loop (`autoglm scheduler`, embedded `serve`): removes expired jobs, their files
and expired cached generations (`registry.retention`), counting what it removed."""

from __future__ import annotations

from datetime import datetime

import structlog
from prometheus_client import Counter
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from registry.retention import Swept, sweep_expired
from registry.storage import ArtifactStore, store_for
from triggers.loops import Every

log = structlog.get_logger(__name__)

DELETED = Counter(
    "autoglm_retention_deleted_total",
    "What retention removed: job rows, artifact files, cached generations.",
    ["kind"],
)
KINDS = ("jobs", "artifacts", "cached_generations")
for _kind in KINDS:
    DELETED.labels(kind=_kind)  # every series exists from the start, at 0


def sweep(
    session: Session, store: ArtifactStore, settings: Settings, now: datetime | None = None
) -> Swept:
    """One retention pass, counted."""
    swept = sweep_expired(session, store, settings, now=now)
    for kind in KINDS:
        if count := getattr(swept, kind):
            DELETED.labels(kind=kind).inc(count)
    if swept.jobs or swept.cached_generations:
        log.info("retention removed expired rows", **{k: getattr(swept, k) for k in KINDS})
    return swept


def retention_loop(sessions: sessionmaker[Session], settings: Settings) -> Every:
    store = store_for(settings)
    return Every(
        "retention",
        settings.retention_interval_seconds,
        sessions,
        lambda session: sweep(session, store, settings),
    )
