"""What the management pages (templates, schedules, webhooks) share: which controls to offer,
how a change is posted, and how a refusal from the registry is shown.

A control is offered when the registry's own rule (`permissions.can` on the template's access)
would let it through; the registry checks again when the form arrives, and its refusal is shown
with the status the API gives it, so a hidden button and a refused request always agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from console import web
from core.errors import UserError
from registry import permissions, templates
from registry.errors import Conflict, Corrupt, Forbidden, Gone, NotFound, Unauthenticated
from registry.models import Template
from registry.permissions import Actor, Permission

# The export formats a schedule or webhook may ask for (canonical names, as people read them).
FORMATS = (("pdf", "PDF"), ("docx", "Word"), ("md", "Markdown"))
TITLES = {
    400: "Not accepted",
    403: "Refused",
    404: "Not found",
    409: "Not possible now",
    410: "No longer kept",
    500: "Server fault",
}


class FormError(UserError):
    """A form field the console itself cannot read (inputs that are not JSON): 400."""


# The API's mapping of registry errors to statuses (api.problems), which the console may not
# import; anything else a service refuses (invalid inputs, templates) is 422 there too.
STATUS: tuple[tuple[type[UserError], int], ...] = (
    (FormError, 400),
    (NotFound, 404),
    (Conflict, 409),
    (Gone, 410),
    (Forbidden, 403),
    (Unauthenticated, 401),
    (Corrupt, 500),
)


def status_of(exc: UserError) -> int:
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 422)


def may(actor: Actor, permission: Permission, template: Template) -> bool:
    """Whether to offer a control: the registry's rule on this template's access."""
    return permissions.can(actor, permission, templates.access_of(template))


def refused(request: Request, exc: UserError, actor: Actor, csrf: str) -> HTMLResponse:
    """The error page with the registry's message and the status the API would answer."""
    status = status_of(exc)
    return web.render(
        request,
        "error.html",
        status,
        title=TITLES.get(status, "Not accepted"),
        message=str(exc),
        actor=actor,
        csrf=csrf,
    )


# Makes the change as `actor` and answers where to go next (the caller commits nothing).
Change = Callable[[Actor], str]
# Shows the form again with the refusal next to it: (actor, csrf, message, status).
Retry = Callable[[Actor, str, str, int], Response]


def post(
    request: Request, session: Session, csrf: str, change: Change, retry: Retry | None = None
) -> Response:
    """One way to take a form: signed in with this session's CSRF token, the change made and
    committed, then 303 to the page it names; a refusal rolls everything back and is shown on
    the form (`retry`) or on the error page."""
    found = web.signed_in(request, session, csrf)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    try:
        location = change(actor)
        session.commit()
    except UserError as exc:
        session.rollback()
        if retry is None:
            return refused(request, exc, actor, console_session.csrf)
        return retry(actor, console_session.csrf, str(exc), status_of(exc))
    return RedirectResponse(location, status_code=303)


def done_message(done: str, messages: Mapping[str, str]) -> str:
    """The confirmation for `?done=` after a change; only known codes, so the URL cannot put
    words on the page."""
    return messages.get(done, "")


def json_object(text: str, field: str) -> dict[str, Any]:
    """A form's JSON object field (empty means `{}`), or `FormError` saying what is wrong."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise FormError(f"{field}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise FormError(f'{field}: must be a JSON object such as {{"title": "Weekly"}}')
    return value


def schedulable(session: Session, actor: Actor) -> list[Template]:
    """Templates the actor may attach schedules and webhooks to (the registry refuses
    archived ones, so they are not offered)."""
    return [
        t
        for t in templates.list_templates(session, actor, limit=500)
        if may(actor, Permission.SCHEDULE_WRITE, t)
    ]
