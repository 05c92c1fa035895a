"""`/console/author`: write a template, check it, preview it without the model, publish it.

Every step calls what the API calls, with the signed-in actor: `load_template_text` (size cap,
safe YAML, sandboxed Jinja) for the check, `registry.templates.upload` and
`publishing.activate` for publishing. Before publishing, the page rehearses exactly that
upload in a transaction that is always rolled back, so the registry itself says whether it
would be accepted and nothing is stored. The preview is `documents.preview` (no model, no
`generation`), shown from `console.previews`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from console import web
from console.previews import HTML_CSP, PreviewBusy, preview_html, previews_of
from core.errors import AutoglmError, UserError
from core.settings import Settings
from documents.errors import TemplateError
from documents.loader import LoadedTemplate, Problem, load_template_text, problems_of
from documents.preview import LastText, Preview, preview_document
from registry import jobs, publishing, templates
from registry.errors import Conflict, Forbidden, Invalid, NotFound
from registry.models import TemplateVersion
from registry.permissions import Actor, Permission

router = APIRouter(prefix="/console", include_in_schema=False)
PAGE = "/console/author"
MAX_INPUTS_CHARS = 64 * 1024
STATUS: list[tuple[type[UserError], int]] = [
    (NotFound, 404),
    (Conflict, 409),
    (Forbidden, 403),
    (Invalid, 422),
    (TemplateError, 422),
]
STARTER = """\
name: my-report
version: "1"
description: What this document is for.
variables:
  - name: title
    required: true
generate:
  summary:
    prompt: "Summarise {{ title }} in three sentences."
    max_tokens: 200
body: |
  # {{ title }}

  {{ generated.summary }}
"""


@dataclass(frozen=True)
class Rehearsal:
    """What publishing would do now: `message` says it; `refusal` is the registry's error."""

    message: str
    refusal: UserError | None = None

    @property
    def may_preview(self) -> bool:
        """Whether the actor may author this name at all (a taken version is fine here)."""
        refusal = self.refusal
        if isinstance(refusal, Conflict):
            return refusal.code != "name_unavailable"
        return not isinstance(refusal, NotFound | Forbidden)


@router.get("/author", response_class=HTMLResponse)
def author_page(
    request: Request,
    session: web.DbSession,
    template: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    found = web.signed_in(request, session)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    source = STARTER
    if template:
        try:
            row = templates.find(session, actor, template, Permission.TEMPLATE_READ)
            stored = row.active_version or next(reversed(templates.versions(session, row)), None)
        except NotFound as exc:
            return web.not_found(request, str(exc), actor, console_session.csrf)
        source = stored.source if stored is not None else STARTER
    return _page(request, actor, console_session.csrf, source=source, based_on=template)


@router.post("/author", response_class=HTMLResponse)
def author_action(
    request: Request,
    session: web.DbSession,
    *,
    csrf: Annotated[str, Form(max_length=200)] = "",
    action: Annotated[str, Form(max_length=20)] = "check",
    source: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
    inputs: Annotated[str, Form()] = "",
    activate: Annotated[str, Form(max_length=10)] = "",
    owner_team: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    found = web.signed_in(request, session, csrf)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    raw, source_name = _submitted(source, file)
    submission = _Submission(raw, source_name, inputs, bool(activate), owner_team)
    return _Author(request, session, actor, console_session.csrf, submission).act(action)


@dataclass(frozen=True)
class _Submission:
    """One post of the form; the page shows it again as it came."""

    raw: bytes
    source_name: str
    inputs: str
    activate: bool
    owner_team: str

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", errors="replace")


class _Author:
    """One action of the form for the signed-in actor: check, preview or publish."""

    def __init__(
        self, request: Request, session: Session, actor: Actor, csrf: str, form: _Submission
    ) -> None:
        self.request, self.session, self.actor = request, session, actor
        self.csrf, self.form = csrf, form
        self.settings: Settings = request.app.state.settings

    def act(self, action: str) -> Response:
        form = self.form
        try:
            loaded = load_template_text(
                form.raw, form.source_name, self.settings.template_max_bytes
            )
        except TemplateError as exc:
            return self.page(200 if action == "check" else 422, **_problems(form.text, exc))
        if action == "publish":
            return self.publish(loaded)
        rehearsal = self.rehearse()
        facts: dict[str, Any] = {"summary": _summary(loaded), "rehearsal": rehearsal}
        return self.preview(loaded, facts) if action == "preview" else self.page(**facts)

    def publish(self, loaded: LoadedTemplate) -> Response:
        """Store the version (and activate it): all of it is committed, or none of it."""
        try:
            name = self._store().template.name
            self.session.commit()
        except UserError as exc:
            self.session.rollback()
            return self.page(_status(exc), error=str(exc), summary=_summary(loaded))
        except BaseException:
            self.session.rollback()
            raise
        return RedirectResponse(web.template_url(name), status_code=303)

    def rehearse(self) -> Rehearsal:
        """The same calls as publishing, always rolled back: the registry's own answer."""
        try:
            row = self._store()
            first = len(templates.versions(self.session, row.template)) == 1
            what = (
                f"a new template {row.template.name!r} owned by team "
                f"{row.template.owner_team.name}, version {row.version}"
                if first
                else f"version {row.version} of {row.template.name!r}"
            )
            active = ", made active at once" if self.form.activate else " (not active yet)"
            return Rehearsal(f"Ready to publish {what}{active}.")
        except UserError as exc:
            return Rehearsal(f"Publishing would be refused: {exc}", exc)
        finally:
            self.session.rollback()  # nothing a rehearsal wrote is kept

    def preview(self, loaded: LoadedTemplate, facts: dict[str, Any]) -> Response:
        refusal = facts["rehearsal"].refusal
        if not facts["rehearsal"].may_preview and refusal is not None:
            return self.page(_status(refusal), error=str(refusal), **facts)
        given, problem = _given_inputs(self.form.inputs)
        last = _last_texts(self.session, self.actor, loaded.spec.name)
        try:
            if problem is not None:
                raise UserError(problem)
            preview = preview_document(
                loaded, given, last, default_max_tokens=self.settings.max_tokens
            )
        except UserError as exc:
            problems = _problems(self.form.text, exc, self.form.source_name)
            return self.page(422, **facts, **problems)
        return self.page(preview=_stored(self.request, self.actor, preview), **facts)

    def page(self, status_code: int = 200, **context: Any) -> HTMLResponse:
        form = self.form
        return _page(
            self.request,
            self.actor,
            self.csrf,
            status_code,
            source=form.text,
            inputs_text=form.inputs,
            activate=form.activate,
            owner_team=form.owner_team,
            **context,
        )

    def _store(self) -> TemplateVersion:
        row = templates.upload(
            self.session,
            self.actor,
            self.form.raw,
            source_name=self.form.source_name,
            owner_team=self.form.owner_team or None,
            max_bytes=self.settings.template_max_bytes,
        )
        if self.form.activate:
            publishing.activate(self.session, self.actor, row.template.name, row.version)
        return row


def _submitted(source: str, file: UploadFile | None) -> tuple[bytes, str]:
    """The template bytes: an uploaded file as is, else the text area (newlines as typed;
    browsers send CRLF). The app's body limit already caps how much arrived."""
    if file is not None and file.filename:
        return file.file.read(), file.filename
    return source.replace("\r\n", "\n").encode("utf-8"), "template"


def _given_inputs(text: str) -> tuple[dict[str, Any], str | None]:
    if not text.strip():
        return {}, None
    if len(text) > MAX_INPUTS_CHARS:
        return {}, _input_problem(f"inputs are over {MAX_INPUTS_CHARS} characters")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return {}, _input_problem(f"not valid JSON ({exc.msg} at line {exc.lineno})")
    except RecursionError:
        return {}, _input_problem("JSON nests too deeply")
    if not isinstance(value, dict):
        return {}, _input_problem("inputs must be a JSON object of variable names to values")
    return value, None


def _input_problem(message: str) -> str:
    return f"preview inputs: {message}"


def _last_texts(session: Session, actor: Actor, name: str) -> dict[str, LastText]:
    """Field texts of the newest succeeded job of `name` the actor may read."""
    newest = jobs.list_jobs(session, actor, template=name, status="succeeded", limit=1)
    if not newest:
        return {}
    job = newest[0]
    origin = f"job {job.id} (v{job.version.version}, {web.when(job.finished_at)})"
    return {
        str(record["name"]): LastText(str(record.get("text") or ""), origin)
        for record in job.generation or []
        if isinstance(record, dict) and record.get("name")
    }


def _stored(request: Request, actor: Actor, preview: Preview) -> dict[str, Any]:
    previews = previews_of(request.app)
    key = previews.store.put(
        actor.principal_id, preview.document, preview_html(preview.document, preview.markers)
    )
    previews.pool()  # started now, so it has warmed up by the time the PDF is asked for
    base = f"{PAGE}/previews/{key}"
    return {
        "html_url": f"{base}/document.html",
        "pdf_url": f"{base}/document.pdf",
        "title": preview.document.title,
        "fields": preview.fields,
        "prompts": preview.prompts,
        "inputs": json.dumps(preview.inputs, ensure_ascii=False, indent=2, default=str),
    }


def _summary(loaded: LoadedTemplate) -> dict[str, Any]:
    spec = loaded.spec
    return {
        "name": spec.name,
        "version": spec.version,
        "variables": [v.name + ("*" if v.is_required else "") for v in spec.variables],
        "generate": list(spec.generate),
        "formats": list(spec.formats),
    }


def _problems(text: str, error: UserError, source_name: str = "") -> dict[str, Any]:
    """Problems by line for the numbered listing; those without a line (or past the end) on top."""
    problems = problems_of(error, source_name)
    lines = text.splitlines()
    by_line: dict[int, list[Problem]] = {}
    general = []
    for problem in problems:
        if problem.line is not None and 1 <= problem.line <= max(len(lines), 1):
            by_line.setdefault(problem.line, []).append(problem)
        else:
            general.append(problem)
    numbered = [
        {"number": n, "text": line, "problems": by_line.get(n, [])}
        for n, line in enumerate(lines or [""], start=1)
    ]
    return {"problems": problems, "general": general, "lines": numbered}


def _status(error: UserError) -> int:
    return next((status for kind, status in STATUS if isinstance(error, kind)), 400)


def _page(
    request: Request,
    actor: Actor,
    csrf: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    context.setdefault("inputs_text", "")
    context.setdefault("activate", False)
    context.setdefault("owner_team", "")
    context.setdefault("error", "")
    return web.render(
        request,
        "author.html",
        status_code,
        title="Author a template",
        actor=actor,
        csrf=csrf,
        teams=sorted(actor.teams),
        based_on=context.pop("based_on", ""),
        **context,
    )


@router.get("/author/previews/{key}/document.html", response_class=HTMLResponse)
def preview_document_html(request: Request, key: str, session: web.DbSession) -> Response:
    found = web.signed_in(request, session)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    stored = previews_of(request.app).store.get(key, actor.principal_id)
    if stored is None:
        return web.not_found(request, _GONE, actor, console_session.csrf)
    headers = dict(web.SECURITY_HEADERS) | {"Content-Security-Policy": HTML_CSP}
    return HTMLResponse(stored.html, headers=headers)


@router.get("/author/previews/{key}/document.pdf")
def preview_document_pdf(request: Request, key: str, session: web.DbSession) -> Response:
    """The real PDF (the workers' exporter, in the preview export process)."""
    found = web.signed_in(request, session)
    if isinstance(found, Response):
        return found
    actor, console_session = found
    previews = previews_of(request.app)
    stored = previews.store.get(key, actor.principal_id)
    if stored is None:
        return web.not_found(request, _GONE, actor, console_session.csrf)
    session.close()  # the export may take seconds; hold no connection meanwhile
    try:
        data = previews.pdf(stored)
    except PreviewBusy as exc:
        return web.render(request, "error.html", 503, title="Busy", message=str(exc))
    except AutoglmError as exc:  # the exporter failed, ran out of time or of memory
        message = f"The PDF could not be made: {exc}"
        return web.render(request, "error.html", 422, title="Not exported", message=message)
    headers = {
        "Content-Disposition": 'inline; filename="preview.pdf"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Referrer-Policy": "same-origin",
    }
    return Response(data, media_type="application/pdf", headers=headers)


_GONE = "This preview expired or is not yours; preview the template again."
