"""The exact-result cache in the database, shared by every worker (see `generation.cache`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from generation.cache import result_from_json, result_to_json
from generation.protocol import GenerationResult
from registry.models import CachedGeneration, utcnow

log = structlog.get_logger(__name__)
TRIM_EVERY = 50  # puts between two trims of expired and excess rows
LOOKUPS = Counter(
    "autoglm_result_cache_requests_total",
    "Result cache lookups by outcome (hit, miss).",
    ["outcome"],
)
for _outcome in ("hit", "miss"):  # both series exist from the start: a hit rate needs them
    LOOKUPS.labels(outcome=_outcome)


class SqlResultCache:
    """Rows keyed by the request's hash, with a TTL and a size cap (oldest removed first).

    A cache that fails (the database blinked) never fails a job: a miss is just a miss.
    """

    def __init__(
        self, sessions: sessionmaker[Session], max_entries: int, ttl_seconds: float
    ) -> None:
        self.sessions, self.max_entries = sessions, max_entries
        self.ttl = timedelta(seconds=ttl_seconds)
        self._puts = 0

    def get(self, key: str) -> GenerationResult | None:
        result = self._lookup(key)
        LOOKUPS.labels(outcome="miss" if result is None else "hit").inc()
        return result

    def _lookup(self, key: str) -> GenerationResult | None:
        try:
            with self.sessions() as session:
                row = session.get(CachedGeneration, key)
                if row is None or row.expires_at < utcnow():
                    return None
                session.execute(
                    update(CachedGeneration)
                    .where(CachedGeneration.key == key)
                    .values(hits=CachedGeneration.hits + 1)
                )
                session.commit()
                return result_from_json(row.result, row.result["name"])
        except SQLAlchemyError as exc:
            log.warning("result cache read failed; generating", error=str(exc))
            return None

    def put(self, key: str, result: GenerationResult) -> None:
        now = utcnow()
        row = CachedGeneration(
            key=key, model=result.model, result=result_to_json(result),
            created_at=now, expires_at=now + self.ttl, hits=0,
        )  # fmt: skip
        try:
            with self.sessions() as session:
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:  # another worker stored the same answer first
                    session.rollback()
                self._puts += 1
                if self._puts % TRIM_EVERY == 1:
                    self.trim(session)
        except SQLAlchemyError as exc:
            log.warning("result cache write failed", error=str(exc))

    def trim(self, session: Session) -> int:
        """Remove expired rows, then the oldest beyond `max_entries`; the rows removed."""
        expired: Any = session.execute(
            delete(CachedGeneration).where(CachedGeneration.expires_at < utcnow())
        )
        removed = int(expired.rowcount or 0)
        keep = select(CachedGeneration.key).order_by(CachedGeneration.created_at.desc())
        excess = list(session.scalars(keep.offset(self.max_entries)))
        if excess:
            trimmed: Any = session.execute(
                delete(CachedGeneration).where(CachedGeneration.key.in_(excess))
            )
            removed += int(trimmed.rowcount or 0)
        session.commit()
        return removed
