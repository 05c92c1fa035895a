"""Publishing (which version is active), archiving, and who may see and run a template."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from registry.accounts import get_team
from registry.audit import record
from registry.errors import Invalid
from registry.models import Template, TemplateRole, utcnow
from registry.permissions import Actor, Permission, TemplateAccess
from registry.schedules import mirror_template_block
from registry.templates import (
    access_of,
    find,
    get_version,
    load_version,
    require_not_archived,
    role_rows,
)


def activate(session: Session, actor: Actor, name: str, version: str) -> Template:
    """Make `version` the one that runs: publishing a new version and rolling back are the same."""
    template = find(session, actor, name, Permission.TEMPLATE_PUBLISH)
    require_not_archived(template)
    chosen = get_version(session, template, version)
    previous = template.active_version.version if template.active_version else None
    if previous != chosen.version:
        template.active_version = chosen
        template.category = chosen.meta.get("category")
        mirror_template_block(session, actor, template, load_version(chosen).spec)
        record(
            session,
            actor,
            "template.activate",
            "template",
            name,
            details={"version": chosen.version, "previous": previous},
        )
    return template


def archive(session: Session, actor: Actor, name: str) -> Template:
    """Hide a template from listings and runs; its versions stay, and `restore` brings it back."""
    template = find(session, actor, name, Permission.TEMPLATE_PUBLISH)
    if template.archived_at is None:
        template.archived_at = utcnow()
        record(session, actor, "template.archive", "template", name)
    return template


def restore(session: Session, actor: Actor, name: str) -> Template:
    template = find(session, actor, name, Permission.TEMPLATE_PUBLISH)
    if template.archived_at is not None:
        template.archived_at = None
        record(session, actor, "template.restore", "template", name)
    return template


def set_access(
    session: Session,
    actor: Actor,
    name: str,
    *,
    owner_team: str,
    read_roles: Sequence[str],
    run_roles: Sequence[str],
) -> TemplateAccess:
    """Replace a template's access; only admins may hand it to a team they are not in."""
    template = find(session, actor, name, Permission.TEMPLATE_PUBLISH)
    if owner_team not in actor.teams and not actor.is_admin:
        raise Invalid(f"you are not a member of team {owner_team!r}", "not_a_member")
    before = access_of(template)
    template.owner_team = get_team(session, owner_team)
    roles = {
        capability: role_rows(session, sorted(set(names)))
        for capability, names in (("read", read_roles), ("run", run_roles))
    }
    template.role_access.clear()
    session.flush()  # delete the old grants before inserting ones with the same keys
    template.role_access = [
        TemplateRole(role=role, capability=capability)
        for capability, rows in roles.items()
        for role in rows
    ]
    after = TemplateAccess(owner_team, frozenset(read_roles), frozenset(run_roles))
    if after != before:
        record(
            session,
            actor,
            "template.access",
            "template",
            name,
            details={"before": _describe(before), "after": _describe(after)},
        )
    return after


def _describe(access: TemplateAccess) -> dict[str, object]:
    return {
        "owner_team": access.owner_team,
        "read_roles": sorted(access.read_roles),
        "run_roles": sorted(access.run_roles),
    }
