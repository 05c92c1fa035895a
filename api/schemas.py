"""Response and request bodies of the registry API, built from the registry's rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from api.params import RequestBody
from registry.models import AuditEntry, Template, TemplateVersion
from registry.permissions import TemplateAccess
from registry.templates import access_of


def template_url(name: str) -> str:
    return f"/templates/{quote(name, safe='')}"


def version_url(name: str, version: str) -> str:
    return f"{template_url(name)}/versions/{quote(version, safe='')}"


class VersionOut(BaseModel):
    id: int
    name: str
    version: str
    content_sha256: str
    uploaded_by: str | None
    uploaded_at: datetime
    active: bool
    url: str
    metadata: dict[str, Any]

    @classmethod
    def of(cls, template: Template, row: TemplateVersion) -> VersionOut:
        return cls(
            id=row.id,
            name=template.name,
            version=row.version,
            content_sha256=row.content_sha256,
            uploaded_by=row.uploaded_by.name if row.uploaded_by else None,
            uploaded_at=row.uploaded_at,
            active=template.active_version_id == row.id,
            url=version_url(template.name, row.version),
            metadata=row.meta,
        )


class AccessBody(RequestBody):
    """Who owns a template and which roles outside that team may read or run it."""

    model_config = ConfigDict(extra="forbid")

    owner_team: str = Field(min_length=1, max_length=100)
    read_roles: list[str] = Field(default_factory=list, max_length=50)
    run_roles: list[str] = Field(default_factory=list, max_length=50)

    @classmethod
    def of(cls, access: TemplateAccess) -> AccessBody:
        return cls(
            owner_team=access.owner_team,
            read_roles=sorted(access.read_roles),
            run_roles=sorted(access.run_roles),
        )


class TemplateOut(BaseModel):
    name: str
    category: str | None
    access: AccessBody
    archived_at: datetime | None
    created_at: datetime
    active_version: VersionOut | None
    url: str

    @classmethod
    def of(cls, template: Template) -> TemplateOut:
        active = template.active_version
        return cls(
            name=template.name,
            category=template.category,
            access=AccessBody.of(access_of(template)),
            archived_at=template.archived_at,
            created_at=template.created_at,
            active_version=VersionOut.of(template, active) if active else None,
            url=template_url(template.name),
        )


class ActivateBody(RequestBody):
    """The version to make active; numbers are taken as their text (`1.2` -> "1.2")."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    version: str = Field(min_length=1, max_length=64)


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target: str
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditOut:
        return cls(
            id=entry.id,
            at=entry.at,
            actor=entry.actor_name,
            action=entry.action,
            target_type=entry.target_type,
            target=entry.target,
            details=entry.details,
        )
