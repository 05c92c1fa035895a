"""Permissions as data and the one place that decides who may do what to a template.

Roles say *what* a principal may do; teams say *on which templates*. A template belongs to
its owner team; ``read_roles`` let other principals see it and ``run_roles`` let them see and
run it. ``admin`` may do everything. Nothing here touches the database or HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from registry.errors import Forbidden, NotFound


class Permission(StrEnum):
    TEMPLATE_READ = "template:read"
    TEMPLATE_WRITE = "template:write"
    TEMPLATE_PUBLISH = "template:publish"
    JOB_CREATE = "job:create"
    JOB_READ = "job:read"
    SCHEDULE_WRITE = "schedule:write"
    ADMIN = "admin"


P = Permission
BUILTIN_ROLES: dict[str, tuple[str, frozenset[Permission]]] = {
    "admin": ("Everything, on every template, plus the audit log.", frozenset(Permission)),
    "maintainer": (
        "Upload, publish and run the team's templates; manage their schedules.",
        frozenset(
            {
                P.TEMPLATE_READ,
                P.TEMPLATE_WRITE,
                P.TEMPLATE_PUBLISH,
                P.JOB_CREATE,
                P.JOB_READ,
                P.SCHEDULE_WRITE,
            }
        ),
    ),
    "author": (
        "Upload new versions of the team's templates, without publishing them.",
        frozenset({P.TEMPLATE_READ, P.TEMPLATE_WRITE, P.JOB_CREATE, P.JOB_READ}),
    ),
    "runner": (
        "Run templates and read their jobs (CI/CD services, the Kafka bridge).",
        frozenset({P.TEMPLATE_READ, P.JOB_CREATE, P.JOB_READ}),
    ),
    "viewer": ("Read templates and jobs.", frozenset({P.TEMPLATE_READ, P.JOB_READ})),
}

# Which permissions a template's `read_roles` / `run_roles` extend beyond its owner team.
_READ_SHARED = frozenset({P.TEMPLATE_READ, P.JOB_READ})
_RUN_SHARED = _READ_SHARED | {P.JOB_CREATE}


@dataclass(frozen=True)
class Actor:
    """An authenticated principal: who, which teams, which roles, what those roles grant."""

    principal_id: int | None
    name: str
    teams: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    permissions: frozenset[Permission] = frozenset()

    @property
    def is_admin(self) -> bool:
        return Permission.ADMIN in self.permissions


@dataclass(frozen=True)
class TemplateAccess:
    """Who a template belongs to and which roles outside that team may see or run it."""

    owner_team: str
    read_roles: frozenset[str] = field(default_factory=frozenset)
    run_roles: frozenset[str] = field(default_factory=frozenset)


def permissions_of(role_permissions: Iterable[Iterable[str]]) -> frozenset[Permission]:
    """The union of several roles' permission names (unknown names are ignored)."""
    known = {p.value for p in Permission}
    return frozenset(Permission(n) for names in role_permissions for n in names if n in known)


def can(actor: Actor, permission: Permission, access: TemplateAccess) -> bool:
    """Whether `actor` may use `permission` on a template with `access`."""
    if actor.is_admin:
        return True
    if permission not in actor.permissions:
        return False
    if access.owner_team in actor.teams:
        return True
    if permission in _RUN_SHARED and actor.roles & access.run_roles:
        return True
    return permission in _READ_SHARED and bool(actor.roles & access.read_roles)


def shared_capabilities(permission: Permission) -> frozenset[str]:
    """Which `template_roles` capabilities extend `permission` beyond the owner team."""
    if permission in _READ_SHARED:
        return frozenset({"read", "run"})
    return frozenset({"run"}) if permission in _RUN_SHARED else frozenset()


def can_see(actor: Actor, access: TemplateAccess) -> bool:
    return can(actor, Permission.TEMPLATE_READ, access)


def require(actor: Actor, permission: Permission, access: TemplateAccess, name: str) -> None:
    """Raise `NotFound` when the template is invisible to `actor`, `Forbidden` when only the
    action is refused, so nobody can probe for names they may not see."""
    if not can_see(actor, access):
        raise NotFound.template(name)
    if not can(actor, permission, access):
        raise Forbidden(f"{actor.name} lacks {permission} on template {name!r}")


def require_global(actor: Actor, permission: Permission) -> None:
    """For actions not tied to one template (reading the audit log, creating a template)."""
    if not (actor.is_admin or permission in actor.permissions):
        raise Forbidden(f"{actor.name} lacks {permission}")
