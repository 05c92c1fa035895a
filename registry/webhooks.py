"""Named webhooks: which template a signed delivery runs, with inputs taken from its payload.

Webhooks are automation, like schedules: managing one needs `schedule:write` on its template.
A delivery runs as the webhook's owner, so losing `job:create` later stops it at once.
The secret is kept encrypted (`registry.secrets`: an HMAC check needs it back, a database
dump must not show it) and only `create` ever returns it; no webhook is made without a key.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import MultiFernet
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import ConfigError
from core.settings import Settings, get_settings
from registry import secrets as crypto
from registry import templates
from registry.audit import record
from registry.errors import Conflict, Forbidden, Invalid, NotFound
from registry.models import Principal, Team, Template, TemplateVersion, Webhook
from registry.permissions import Actor, Permission

MANAGE = Permission.SCHEDULE_WRITE
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
SECRET_MIN, SECRET_MAX = 16, 200
# `$.a.b.0`: a dotted path into the JSON payload; digits index lists.
PATH = re.compile(r"^\$(\.[^.]+)+$")


def is_path(value: object) -> bool:
    """Whether an input value is meant as a payload path (a string starting with `$.`)."""
    return isinstance(value, str) and value.startswith("$.")


def path_segments(path: str) -> list[str]:
    return path.split(".")[1:]


def webhook_not_found(name: str) -> NotFound:
    # The same answer for a missing webhook and for one on a template the caller cannot see.
    return NotFound(f"webhook {name!r} not found", "webhook_not_found")


def create(
    session: Session,
    actor: Actor,
    *,
    name: str,
    template: str,
    version: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    formats: list[str] | None = None,
    secret: str | None = None,
    settings: Settings | None = None,
) -> tuple[Webhook, str]:
    """Add a webhook owned by `actor`; returns it and its secret (shown this once), stored
    encrypted under the first of `settings.secret_keys` (the process's settings by default).
    The caller commits."""
    ring = crypto.key_ring(settings or get_settings())
    if ring is None:
        raise Conflict(
            f"webhooks need {crypto.SETTING} (Fernet keys that encrypt their secrets at rest); "
            "an operator must set it first",
            "secret_keys_missing",
        )
    _check_name(name)
    row = templates.find(session, actor, template, MANAGE)
    templates.require_not_archived(row)
    pinned = templates.get_version(session, row, version) if version is not None else None
    mapping = _check_inputs(inputs or {}, pinned or row.active_version)
    secret = _check_secret(secret) if secret is not None else secrets.token_urlsafe(32)
    if session.scalar(select(Webhook.id).where(Webhook.name == name)) is not None:
        raise _exists(name)
    hook = Webhook(
        name=name,
        template=row,
        version=version,
        inputs=mapping,
        formats=templates.checked_formats(formats),
        secret=crypto.encrypt(ring, secret),
        owner=session.get(Principal, actor.principal_id) if actor.principal_id else None,
    )
    try:
        with session.begin_nested():
            session.add(hook)
    except IntegrityError:  # a concurrent create took the name first
        raise _exists(name) from None
    details = {"template": row.name, "version": version, "formats": hook.formats}
    record(session, actor, "webhook.create", "webhook", name, details=details)
    return hook, secret


def list_webhooks(session: Session, actor: Actor) -> list[Webhook]:
    """Webhooks of templates on which `actor` holds `schedule:write` (all, for an admin)."""
    query = (
        select(Webhook)
        .join(Template, Webhook.template_id == Template.id)
        .join(Team, Template.owner_team_id == Team.id)
        .order_by(Webhook.name)
    )
    return list(session.scalars(templates.visible(actor, query, MANAGE)))


def get(session: Session, actor: Actor, name: str) -> Webhook:
    """The webhook `name`: 404 when missing or its template is hidden, 403 without
    `schedule:write` on a template the actor can see."""
    hook = session.scalar(select(Webhook).where(Webhook.name == name))
    if hook is None:
        raise webhook_not_found(name)
    try:
        templates.find(session, actor, hook.template.name, MANAGE)
    except NotFound:
        raise webhook_not_found(name) from None
    except Forbidden:
        raise Forbidden(f"{actor.name} lacks {MANAGE} for webhook {name!r}") from None
    return hook


def delete(session: Session, actor: Actor, name: str) -> None:
    """Remove a webhook; later deliveries to it are 404. The caller commits."""
    hook = get(session, actor, name)
    session.delete(hook)
    record(
        session, actor, "webhook.delete", "webhook", name, details={"template": hook.template.name}
    )


def secret_of(hook: Webhook, settings: Settings) -> str:
    """The webhook's secret in clear, for an HMAC check; `ConfigError` without its key."""
    return crypto.decrypt(crypto.key_ring(settings), hook.secret)


def undecryptable(session: Session, ring: MultiFernet | None) -> list[str]:
    """Names of webhooks whose secret `ring` cannot decrypt (every encrypted one without a
    ring): what makes startup refuse to run."""
    problems = []
    for name, stored in session.execute(select(Webhook.name, Webhook.secret)):
        try:
            crypto.decrypt(ring, stored)
        except ConfigError:
            problems.append(name)
    return problems


def rotate_secrets(session: Session, actor: Actor, ring: MultiFernet | None) -> int:
    """Re-encrypt every webhook secret under the ring's first key (plain-text ones too), all
    or none: a secret no key decrypts raises before anything changes. The caller commits."""
    hooks = list(session.scalars(select(Webhook).order_by(Webhook.id).with_for_update(of=Webhook)))
    rotated = {hook.id: crypto.rotate(ring, hook.secret) for hook in hooks}
    for hook in hooks:
        hook.secret = rotated[hook.id]
    record(session, actor, "webhook.rotate_secrets", "webhook", "*", details={"count": len(hooks)})
    return len(hooks)


def _check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise Invalid(
            f"webhook name {name!r} must be 1-100 characters of lowercase letters, digits, "
            "'-' and '_', starting with a letter or digit (it is part of the URL /hooks/{name})",
            "invalid_name",
        )


def _check_secret(secret: str) -> str:
    if not SECRET_MIN <= len(secret) <= SECRET_MAX or not secret.isprintable():
        raise Invalid(
            f"secret must be {SECRET_MIN} to {SECRET_MAX} printable characters "
            "(leave it out to get a generated one)",
            "invalid_secret",
        )
    return secret


def _check_inputs(inputs: Mapping[str, Any], version: TemplateVersion | None) -> dict[str, Any]:
    """Paths well formed, literals JSON, names known to `version` (the pinned or the active
    one, where there is one; a delivery checks again against the version it runs)."""
    known = {v.name for v in templates.load_version(version).spec.variables} if version else None
    problems = []
    for key, value in inputs.items():
        if not isinstance(key, str) or not key:
            problems.append(f"inputs: names must be non-empty strings, not {key!r}")
        elif known is not None and key not in known:
            choices = ", ".join(sorted(known)) or "none"
            problems.append(f"inputs.{key}: the template has no such variable (it has: {choices})")
        elif is_path(value) and not PATH.fullmatch(value):
            problems.append(
                f"inputs.{key}: {value!r} is not a payload path; write `$.a.b.0` "
                "(dot-separated keys, digits index lists, no empty parts)"
            )
        elif not _is_json(value):
            problems.append(f"inputs.{key}: {value!r} is not a JSON value")
    if problems:
        raise Invalid("; ".join(problems), "invalid_inputs")
    return dict(inputs)


def _is_json(value: object) -> bool:
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def _exists(name: str) -> Conflict:
    return Conflict(f"webhook {name!r} already exists", "webhook_exists")
