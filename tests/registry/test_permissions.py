"""The permission rules, with no database and no HTTP."""

from __future__ import annotations

import pytest

from registry.errors import Forbidden, NotFound
from registry.permissions import (
    BUILTIN_ROLES,
    Actor,
    Permission,
    TemplateAccess,
    can,
    permissions_of,
    require,
    require_global,
)

P = Permission
PRIVATE_B = TemplateAccess(owner_team="b")
SHARED_B = TemplateAccess("b", read_roles=frozenset({"viewer"}), run_roles=frozenset({"runner"}))


def actor(*roles: str, teams: tuple[str, ...] = ("a",)) -> Actor:
    return Actor(
        1,
        "someone",
        teams=frozenset(teams),
        roles=frozenset(roles),
        permissions=permissions_of(BUILTIN_ROLES[r][1] for r in roles),
    )


def test_permission_names_are_resource_action() -> None:
    assert {p.value for p in Permission} == {
        "template:read",
        "template:write",
        "template:publish",
        "job:create",
        "job:read",
        "schedule:write",
        "admin",
    }


@pytest.mark.parametrize("permission", list(Permission))
def test_another_teams_private_template_is_out_of_reach(permission: Permission) -> None:
    assert not can(actor("maintainer"), permission, PRIVATE_B)


@pytest.mark.parametrize("permission", list(Permission))
def test_admin_may_do_everything(permission: Permission) -> None:
    assert can(actor("admin", teams=()), permission, PRIVATE_B)


def test_owner_team_members_act_within_their_roles() -> None:
    viewer, maintainer = actor("viewer", teams=("b",)), actor("maintainer", teams=("b",))
    assert can(viewer, P.TEMPLATE_READ, PRIVATE_B)
    assert not can(viewer, P.TEMPLATE_WRITE, PRIVATE_B)
    assert not can(viewer, P.TEMPLATE_PUBLISH, PRIVATE_B)
    assert not can(actor("author", teams=("b",)), P.TEMPLATE_PUBLISH, PRIVATE_B)
    for permission in (P.TEMPLATE_WRITE, P.TEMPLATE_PUBLISH, P.JOB_CREATE, P.SCHEDULE_WRITE):
        assert can(maintainer, permission, PRIVATE_B)


def test_read_roles_share_reading_only() -> None:
    reader = actor("viewer")
    assert can(reader, P.TEMPLATE_READ, SHARED_B)
    assert can(reader, P.JOB_READ, SHARED_B)
    assert not can(reader, P.JOB_CREATE, SHARED_B)


def test_run_roles_share_running_but_never_changing() -> None:
    runner = actor("runner")
    assert can(runner, P.JOB_CREATE, SHARED_B)
    assert can(runner, P.TEMPLATE_READ, SHARED_B)
    # A maintainer elsewhere who also holds `runner` still cannot change team b's template.
    both = actor("runner", "maintainer")
    assert not can(both, P.TEMPLATE_WRITE, SHARED_B)
    assert not can(both, P.TEMPLATE_PUBLISH, SHARED_B)


def test_a_shared_role_still_needs_the_permission() -> None:
    # Holding a role named in read_roles does not grant what the role itself lacks.
    no_read = Actor(1, "x", roles=frozenset({"viewer"}), permissions=frozenset({P.JOB_READ}))
    assert not can(no_read, P.TEMPLATE_READ, SHARED_B)


def test_require_hides_invisible_templates_and_refuses_visible_ones() -> None:
    with pytest.raises(NotFound) as hidden:
        require(actor("maintainer"), P.TEMPLATE_READ, PRIVATE_B, "secret")
    assert hidden.value.code == "template_not_found"
    with pytest.raises(Forbidden):
        require(actor("viewer"), P.TEMPLATE_PUBLISH, SHARED_B, "shared")
    require(actor("viewer"), P.TEMPLATE_READ, SHARED_B, "shared")


def test_global_permissions() -> None:
    require_global(actor("admin"), P.ADMIN)
    with pytest.raises(Forbidden):
        require_global(actor("maintainer"), P.ADMIN)


def test_unknown_permission_names_grant_nothing() -> None:
    assert permissions_of([["template:read", "template:delete"]]) == {P.TEMPLATE_READ}
