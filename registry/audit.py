"""The audit log: every change to templates, access and accounts writes one row here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import AuditEntry
from registry.permissions import Actor


def record(
    session: Session,
    actor: Actor,
    action: str,
    target_type: str,
    target: str,
    *,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit row to the caller's transaction, so it commits (or not) with the change."""
    entry = AuditEntry(
        actor_id=actor.principal_id,
        actor_name=actor.name,
        action=action,
        target_type=target_type,
        target=target,
        details=details or {},
    )
    session.add(entry)
    return entry


def entries(
    session: Session,
    *,
    target_type: str | None = None,
    target: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEntry]:
    """Newest first, optionally narrowed to one object, one actor or a start time."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if target:
        query = query.where(AuditEntry.target == target)
    if actor:
        query = query.where(AuditEntry.actor_name == actor)
    if since:
        query = query.where(AuditEntry.at >= since)
    return list(session.scalars(query.limit(limit).offset(offset)))
