"""Webhooks: the list the actor may manage, a form to make one, a page per webhook with a curl
example that signs a delivery as `triggers.webhooks.verify` checks it, and delete.

The secret is shown once. The create form redirects (so a reload never posts again) and hands
the secret to the webhook's page in a short-lived cookie, signed and bound to this console
session, that the page reads and deletes: reloading it shows the secret no more.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from console import manage, sessions, web
from core.errors import UserError
from registry import webhooks
from registry.models import Webhook
from registry.permissions import Actor
from triggers.webhooks import SIGNATURE_HEADER

router = APIRouter(prefix="/console", include_in_schema=False)
LIST = "/console/webhooks"
HANDOFF_COOKIE = "autoglm_console_handoff"
HANDOFF_PURPOSE = "webhook-handoff"
HANDOFF_SECONDS = 300
DONE = {"created": "Webhook created.", "deleted": "Webhook deleted."}


@dataclass
class WebhookForm:
    """What the create form holds, kept to show it again after a refusal (never the secret)."""

    name: str = ""
    template: str = ""
    version: str = ""
    inputs: str = "{}"
    formats: list[str] = field(default_factory=list)


def page_url(name: str) -> str:
    return f"{LIST}/{quote(name, safe='')}"


def example_payload(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON body that has a value at every `$.a.b` path the webhook reads its inputs from
    (a path that runs through another one's value is left out)."""
    payload: dict[str, Any] = {}
    for name, value in inputs.items():
        if not webhooks.is_path(value):
            continue
        *parents, last = webhooks.path_segments(value)
        node: Any = payload
        for segment in parents:
            node = node.setdefault(segment, {}) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.setdefault(last, f"example {name}")
    return payload


def curl_example(url: str, secret: str | None, inputs: Mapping[str, Any]) -> str:
    """A shell snippet that signs a body with HMAC-SHA256 under the secret and posts it, as
    the receiver verifies (`X-Hub-Signature-256: sha256=<hex>` over the raw body)."""
    body = json.dumps(example_payload(inputs), separators=(",", ":"), sort_keys=True)
    return "\n".join(
        [
            f"SECRET={shlex.quote(secret or 'paste-the-secret-you-saved')}",
            f"BODY={shlex.quote(body)}",
            'SIG=$(printf \'%s\' "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -r'
            " | cut -d' ' -f1)",
            f"curl -sS -X POST {shlex.quote(url)} \\",
            "  -H 'Content-Type: application/json' \\",
            f'  -H "{SIGNATURE_HEADER}: sha256=$SIG" \\',
            '  --data-binary "$BODY"',
        ]
    )


def _row(hook: Webhook) -> dict[str, Any]:
    return {
        "name": hook.name,
        "url": page_url(hook.name),
        "template": hook.template.name,
        "template_url": web.template_url(hook.template.name),
        "version": hook.version or "",
        "inputs": json.dumps(hook.inputs, sort_keys=True, ensure_ascii=False),
        "formats": hook.formats or [],
        "owner": hook.owner.name if hook.owner else "",
        "created_at": hook.created_at,
        "last_delivery_at": hook.last_delivery_at,
    }


@router.get("/webhooks", response_class=HTMLResponse)
def webhook_list(
    request: Request,
    session: web.DbSession,
    template: Annotated[str, Query(max_length=200)] = "",
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    found = web.signed_in(request, session)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    return _list_page(
        request, session, actor, console_session.csrf, WebhookForm(template=template), done=done
    )


def _list_page(
    request: Request,
    session: Session,
    actor: Actor,
    csrf: str,
    form: WebhookForm,
    *,
    error: str = "",
    status: int = 200,
    done: str = "",
) -> Response:
    return web.render(
        request,
        "webhooks.html",
        status,
        title="Webhooks",
        actor=actor,
        csrf=csrf,
        rows=[_row(h) for h in webhooks.list_webhooks(session, actor)],
        choices=[t.name for t in manage.schedulable(session, actor)],
        formats=manage.FORMATS,
        form=form,
        error=error,
        done=manage.done_message(done, DONE),
    )


@router.post("/webhooks", response_class=HTMLResponse)
def create_webhook(
    request: Request,
    session: web.DbSession,
    *,
    csrf: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
    template: Annotated[str, Form(max_length=200)] = "",
    version: Annotated[str, Form(max_length=64)] = "",
    inputs: Annotated[str, Form(max_length=20000)] = "",
    formats: Annotated[list[str] | None, Form()] = None,
    secret: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    form = WebhookForm(name.strip(), template, version.strip(), inputs, formats or [])
    made: list[str] = []

    def change(actor: Actor) -> str:
        hook, given = webhooks.create(
            session,
            actor,
            name=form.name,
            template=form.template,
            version=form.version or None,
            inputs=manage.json_object(form.inputs, "inputs"),
            formats=form.formats or None,
            secret=secret or None,
        )
        made.append(given)
        return f"{page_url(hook.name)}?done=created"

    def retry(actor: Actor, csrf: str, message: str, status: int) -> Response:
        return _list_page(request, session, actor, csrf, form, error=message, status=status)

    response = manage.post(request, session, csrf, change, retry)
    if made and response.status_code == 303:
        handed = {"w": form.name, "s": made[0], "c": csrf}
        value = web.signer(request).dump(HANDOFF_PURPOSE, handed)
        web.set_cookie(request, response, HANDOFF_COOKIE, value, HANDOFF_SECONDS)
    return response


def _handed_secret(request: Request, name: str, csrf: str) -> str | None:
    """The secret the create form handed to this webhook's page in this console session."""
    data = web.signer(request).load(HANDOFF_PURPOSE, request.cookies.get(HANDOFF_COOKIE))
    if data is None or data.get("w") != name or data.get("c") != csrf:
        return None
    secret = data.get("s")
    return secret if isinstance(secret, str) else None


@router.get("/webhooks/{name}", response_class=HTMLResponse)
def webhook_page(
    request: Request,
    name: str,
    session: web.DbSession,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    found = web.signed_in(request, session)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    try:
        hook = webhooks.get(session, actor, name)
    except UserError as exc:
        return manage.refused(request, exc, actor, console_session.csrf)
    secret = _handed_secret(request, hook.name, console_session.csrf)
    url = f"{str(request.base_url).rstrip('/')}/hooks/{quote(hook.name, safe='')}"
    response = web.render(
        request,
        "webhook.html",
        title=f"Webhook {hook.name}",
        actor=actor,
        csrf=console_session.csrf,
        h=_row(hook),
        hook_url=url,
        secret=secret,
        curl=curl_example(url, secret, hook.inputs),
        done=manage.done_message(done, DONE),
    )
    if HANDOFF_COOKIE in request.cookies:
        response.delete_cookie(HANDOFF_COOKIE, path=sessions.COOKIE_PATH)
    return response


@router.post("/webhooks/{name}/delete")
def delete_webhook(
    request: Request,
    name: str,
    session: web.DbSession,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    def change(actor: Actor) -> str:
        webhooks.delete(session, actor, name)
        return f"{LIST}?done=deleted"

    return manage.post(request, session, csrf, change)
