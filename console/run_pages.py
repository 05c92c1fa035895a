"""Run a template from a form made of its typed variables.

Each variable becomes a control of its type (text, whole number, number, a checkbox, JSON for
lists, objects and untyped values), with its default, its description and a required mark.
The browser checks what HTML can (required, number steps); the server parses each value to
its type here and `triggers.submit` validates the inputs again as for any API call. A hidden
idempotency key made per form means a double click or a resent form makes one job.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from console import manage, web
from console.job_pages import FORMAT_LABELS, job_url
from core.errors import UserError
from core.settings import Settings
from documents.spec import TemplateSpec, Variable, VariableType, matches_type
from registry import templates
from registry.errors import NotFound
from registry.models import Template
from registry.permissions import Actor, Permission
from triggers import priorities
from triggers.dispatch import Dispatcher
from triggers.submit import JobRequest, submit

router = APIRouter(prefix="/console", include_in_schema=False)
WIDGETS = {
    VariableType.STRING: "text",
    VariableType.INTEGER: "integer",
    VariableType.NUMBER: "number",
    VariableType.BOOLEAN: "boolean",
}


@dataclass
class Control:
    """One variable as a form control: what is shown, and what was typed."""

    name: str
    type: str
    widget: str  # text | integer | number | boolean | json
    required: bool
    description: str
    value: str  # as the control shows it
    checked: bool = False
    error: str = ""


def controls_of(spec: TemplateSpec, typed: dict[str, str] | None = None) -> list[Control]:
    """The form's controls, showing `typed` (a resent form) or the defaults."""
    found = []
    for variable in spec.variables:
        widget = WIDGETS.get(variable.type, "json")
        value = typed.get(variable.name, "") if typed is not None else _shown(variable)
        found.append(
            Control(
                name=variable.name,
                type=variable.type.value,
                widget=widget,
                required=variable.is_required,
                description=variable.description or "",
                value=value,
                checked=value in ("true", "on") if widget == "boolean" else False,
            )
        )
    return found


def _shown(variable: Variable) -> str:
    default = variable.default
    if default is None:
        return ""
    if variable.type is VariableType.BOOLEAN:
        return "true" if default else ""
    if isinstance(default, str) and variable.type is VariableType.STRING:
        return default
    return json.dumps(default, ensure_ascii=False, indent=2 if isinstance(default, dict) else None)


def parse(control: Control) -> tuple[bool, Any]:
    """(given, value) of one control, or an error set on it; not given = use the default."""
    text = control.value.strip() if control.widget != "text" else control.value
    if control.widget == "boolean":
        return True, control.checked
    if text == "":
        if control.required:
            control.error = "required"
        return False, None
    if control.widget == "text":
        return True, text
    return _parsed(control, text)


def _parsed(control: Control, text: str) -> tuple[bool, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        if control.type == VariableType.ANY.value:
            return True, text  # an untyped value that is not JSON is taken as text
        control.error = "not valid JSON" if control.widget == "json" else "not a number"
        return False, None
    if not matches_type(VariableType(control.type), value):
        control.error = f"must be {_describe(control)}"
        return False, None
    return True, value


def _describe(control: Control) -> str:
    return {
        "integer": "a whole number",
        "number": "a number",
        "list": "a JSON list, e.g. [1, 2]",
        "object": 'a JSON object, e.g. {"key": "value"}',
    }.get(control.widget if control.widget != "json" else control.type, control.type)


def _runnable(session: Session, actor: Actor, name: str) -> tuple[Template, TemplateSpec]:
    template = templates.find(session, actor, name, Permission.JOB_CREATE)
    if template.active_version is None:
        raise NotFound(f"template {name!r} has no active version to run", "no_active_version")
    return template, templates.load_version(template.active_version).spec


@router.get("/templates/{name}/run", response_class=HTMLResponse)
def run_form(request: Request, name: str, session: web.DbSession) -> Response:
    found = web.signed_in(request, session)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    try:
        template, spec = _runnable(session, actor, name)
    except UserError as exc:
        return manage.refused(request, exc, actor, console_session.csrf)
    return _form(
        request,
        actor,
        console_session.csrf,
        template,
        spec,
        controls=controls_of(spec),
        formats=None,
    )


@router.post("/templates/{name}/run", response_class=HTMLResponse)
async def run(request: Request, name: str, session: web.DbSession) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    found = web.signed_in(request, session, values.get("csrf", ""))
    if isinstance(found, Response):
        return found
    actor, console_session = found
    try:
        template, spec = _runnable(session, actor, name)
    except UserError as exc:
        return manage.refused(request, exc, actor, console_session.csrf)
    typed = {k.removeprefix("var."): v for k, v in values.items() if k.startswith("var.")}
    controls = controls_of(spec, typed)
    inputs = {}
    for control in controls:
        given, value = parse(control)
        if given:
            inputs[control.name] = value
    formats = [v for k, v in form.multi_items() if k == "formats" and isinstance(v, str)]
    key = values.get("idempotency_key", "")

    def again(problem: str) -> HTMLResponse:
        return _form(
            request,
            actor,
            console_session.csrf,
            template,
            spec,
            controls=controls,
            formats=formats,
            problem=problem,
            key=key,
            status_code=422,
        )

    if any(c.error for c in controls) or not formats:
        return again("" if formats else "Pick at least one format.")
    dispatcher: Dispatcher = request.app.state.dispatcher
    settings: Settings = request.app.state.settings
    job_request = JobRequest(
        template.name,
        inputs,
        formats=formats,
        idempotency_key=key or None,
        priority=priorities.INTERACTIVE,
    )
    try:
        submission = submit(session, actor, job_request, dispatcher, settings)
    except UserError as exc:
        session.rollback()
        return again(str(exc))
    return RedirectResponse(job_url(submission.job.id), status_code=303)


def _form(
    request: Request,
    actor: Actor,
    csrf: str,
    template: Template,
    spec: TemplateSpec,
    *,
    controls: list[Control],
    formats: list[str] | None,
    problem: str = "",
    key: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    chosen = spec.formats if formats is None else formats
    return web.render(
        request,
        "run.html",
        status_code,
        title=f"Run {template.name}",
        actor=actor,
        csrf=csrf,
        template={"name": template.name, "url": web.template_url(template.name)},
        version=spec.version,
        controls=controls,
        formats=[
            {"name": f, "label": FORMAT_LABELS.get(f, f), "checked": f in chosen}
            for f in FORMAT_LABELS
        ],
        problem=problem,
        idempotency_key=key or secrets.token_urlsafe(16),
    )
