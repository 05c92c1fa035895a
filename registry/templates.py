"""Finding templates and uploading versions; every read is filtered by what the actor may see."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, exists, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from documents.loader import LoadedTemplate, load_template_text
from documents.spec import TemplateSpec, canonical_formats
from registry.accounts import get_team
from registry.audit import record
from registry.errors import Conflict, Invalid, NotFound
from registry.models import Role, Team, Template, TemplateRole, TemplateVersion
from registry.permissions import (
    Actor,
    Permission,
    TemplateAccess,
    require,
    require_global,
    shared_capabilities,
)

URL_UNSAFE = "/"


def access_of(template: Template) -> TemplateAccess:
    by_capability: dict[str, set[str]] = {"read": set(), "run": set()}
    for grant in template.role_access:
        by_capability[grant.capability].add(grant.role.name)
    return TemplateAccess(
        owner_team=template.owner_team.name,
        read_roles=frozenset(by_capability["read"]),
        run_roles=frozenset(by_capability["run"]),
    )


def find(session: Session, actor: Actor, name: str, permission: Permission) -> Template:
    """The template `name` if `actor` holds `permission` on it; hidden ones are `NotFound`."""
    template = session.scalar(select(Template).where(Template.name == name))
    if template is None:
        raise NotFound.template(name)
    require(actor, permission, access_of(template), name)
    return template


def visible(
    actor: Actor, query: Select[Any], permission: Permission = Permission.TEMPLATE_READ
) -> Select[Any]:
    """Narrow a query joined to `Template` and its owner `Team` to the rows on which `actor`
    holds `permission`: the SQL form of `permissions.can` (owner team, or a shared role whose
    capability extends that permission)."""
    if actor.is_admin:
        return query
    if permission not in actor.permissions:
        return query.where(false())
    capabilities = shared_capabilities(permission)
    if not capabilities:
        return query.where(Team.name.in_(actor.teams))
    shared = exists().where(
        TemplateRole.template_id == Template.id,
        TemplateRole.capability.in_(capabilities),
        TemplateRole.role_id == Role.id,
        Role.name.in_(actor.roles),
    )
    return query.where(or_(Team.name.in_(actor.teams), shared))


def checked_formats(formats: list[str] | None) -> list[str] | None:
    """Canonical format names (`word` -> `docx`), None for none given; unknown ones are
    `Invalid` naming them."""
    try:
        return canonical_formats(formats) if formats else None
    except ValueError as exc:
        raise Invalid(f"formats: {exc}", "invalid_formats") from None


def list_templates(
    session: Session,
    actor: Actor,
    *,
    category: str | None = None,
    search: str | None = None,
    include_archived: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[Template]:
    query = select(Template).join(Team, Template.owner_team_id == Team.id)
    if category is not None:
        query = query.where(Template.category == category)
    if search:
        query = query.where(func.lower(Template.name).contains(search.lower(), autoescape=True))
    if not include_archived:
        query = query.where(Template.archived_at.is_(None))
    query = visible(actor, query).order_by(Template.name).limit(limit).offset(offset)
    return list(session.scalars(query))


def versions(session: Session, template: Template) -> list[TemplateVersion]:
    query = select(TemplateVersion).where(TemplateVersion.template_id == template.id)
    return list(session.scalars(query.order_by(TemplateVersion.id)))


def _find_version(session: Session, template: Template, version: str) -> TemplateVersion | None:
    return session.scalar(
        select(TemplateVersion).where(
            TemplateVersion.template_id == template.id, TemplateVersion.version == version
        )
    )


def get_version(session: Session, template: Template, version: str) -> TemplateVersion:
    row = _find_version(session, template, version)
    if row is None:
        raise NotFound(
            f"template {template.name!r} has no version {version!r}", "version_not_found"
        )
    return row


def upload(
    session: Session,
    actor: Actor,
    raw: bytes,
    *,
    source_name: str = "template",
    owner_team: str | None = None,
    max_bytes: int,
) -> TemplateVersion:
    """Validate and store a new immutable version; the caller commits (and may then publish).

    Two uploads of one name and version racing each other: the unique constraints let exactly
    one insert through; the other sees `Conflict` and its transaction is rolled back whole.
    """
    spec = load_template_text(raw, source_name, max_bytes).spec
    _check_storable(spec)
    template = session.scalar(select(Template).where(Template.name == spec.name))
    if template is None:
        template = _create_template(session, actor, spec, owner_team)
    else:
        _check_can_add_version(actor, template)
    if _find_version(session, template, spec.version) is not None:
        raise _version_exists(spec)
    row = TemplateVersion(
        template_id=template.id,
        version=spec.version,
        source=raw.decode("utf-8"),
        content_sha256=hashlib.sha256(raw).hexdigest(),
        meta=metadata_of(spec),
        uploaded_by_id=actor.principal_id,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise _version_exists(spec) from None
    record(
        session,
        actor,
        "template.upload",
        "template",
        spec.name,
        details={"version": spec.version, "sha256": row.content_sha256},
    )
    return row


def metadata_of(spec: TemplateSpec) -> dict[str, Any]:
    """What listings show without re-parsing the YAML."""
    return {
        "name": spec.name,
        "version": spec.version,
        "category": spec.category,
        "description": spec.description,
        "author": spec.author,
        "variables": [
            {"name": v.name, "type": v.type.value, "required": v.is_required}
            for v in spec.variables
        ],
        "generate": sorted(spec.generate),
        "formats": list(spec.formats),
        "schedule": spec.schedule.model_dump(mode="json") if spec.schedule else None,
    }


def _check_storable(spec: TemplateSpec) -> None:
    problems = [
        f"{what} {value!r} must not contain {URL_UNSAFE!r} (it is part of the template's URL)"
        for what, value in (("name", spec.name), ("version", spec.version))
        if URL_UNSAFE in value
    ]
    if spec.assets:
        problems.append("assets: uploads are a single YAML file; templates with assets are local")
    if problems:
        raise Invalid("; ".join(problems), "invalid_template")


def _create_template(
    session: Session, actor: Actor, spec: TemplateSpec, owner_team: str | None
) -> Template:
    require_global(actor, Permission.TEMPLATE_WRITE)
    team = get_team(session, _owner_team(actor, owner_team))
    template = Template(name=spec.name, category=spec.category, owner_team_id=team.id)
    try:
        with session.begin_nested():
            session.add(template)
    except IntegrityError:
        # Another upload created the name first; carry on as if it had existed all along.
        existing = session.scalar(select(Template).where(Template.name == spec.name))
        if existing is None:
            raise
        _check_can_add_version(actor, existing)
        return existing
    record(
        session, actor, "template.create", "template", spec.name, details={"owner_team": team.name}
    )
    return template


def _owner_team(actor: Actor, requested: str | None) -> str:
    if requested is not None:
        if requested not in actor.teams and not actor.is_admin:
            raise Invalid(f"you are not a member of team {requested!r}", "not_a_member")
        return requested
    if len(actor.teams) == 1:
        return next(iter(actor.teams))
    if not actor.teams:
        raise Invalid("you belong to no team; an admin must add you to one", "no_team")
    raise Invalid(
        f"you belong to several teams ({', '.join(sorted(actor.teams))}); name the owner team",
        "owner_team_required",
    )


def _check_can_add_version(actor: Actor, template: Template) -> None:
    try:
        require(actor, Permission.TEMPLATE_WRITE, access_of(template), template.name)
    except NotFound:
        # Not visible to this actor: creating it would be the natural reading, but the name
        # is taken. Say only that much.
        raise Conflict(
            f"template name {template.name!r} is not available", "name_unavailable"
        ) from None
    require_not_archived(template)


def require_not_archived(template: Template) -> None:
    if template.archived_at is not None:
        raise Conflict(f"template {template.name!r} is archived; restore it first", "archived")


def _version_exists(spec: TemplateSpec) -> Conflict:
    return Conflict(
        f"template {spec.name!r} version {spec.version!r} already exists; versions are "
        "immutable, upload a new version",
        "version_exists",
    )


def role_rows(session: Session, names: Sequence[str]) -> list[Role]:
    rows = list(session.scalars(select(Role).where(Role.name.in_(names))))
    if missing := sorted(set(names) - {r.name for r in rows}):
        raise Invalid(f"unknown role(s): {', '.join(missing)}", "unknown_role")
    return rows


def load_version(version: TemplateVersion) -> LoadedTemplate:
    """The parsed template of a stored version; parsed once per process and content."""
    return _load_source(version.id, version.content_sha256, version.source, version.template.name)


@lru_cache(maxsize=256)
def _load_source(_version_id: int, _sha256: str, source: str, name: str) -> LoadedTemplate:
    raw = source.encode("utf-8")
    return load_template_text(raw, name, max_bytes=len(raw) + 1)
