"""The authoring page in Debian's Chromium against a real `autoglm serve`: problems under their
lines, a dry-run preview (HTML and the real PDF) without a model, publishing, and refusals."""

from __future__ import annotations

import json
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import func, select

from api.app import create_app
from console.previews import PreviewStore, previews_of
from core.settings import Settings
from documents.document import Document
from registry.models import AuditEntry, Job, Template, TemplateVersion
from tests.console.conftest import LAPTOP, PHONE, Console, sign_in
from tests.console.test_browse import fits_a_phone
from tests.readers import pdf_text

BROKEN = textwrap.dedent(
    """\
    name: release-notes
    version: "1"
    description: Notes for a release.
    colour: blue
    variables:
      - name: title
        required: true
    generate:
      summary:
        prompt: "Summarise {{ title }}."
        max_tokens: lots
    body: |
      # {{ title }}

      {{ generated.summary }}
    """
)
UNDEFINED = textwrap.dedent(
    """\
    name: release-notes
    version: "1"
    description: Notes for a release.
    variables:
      - name: title
        required: true
    generate:
      summary:
        prompt: "Summarise {{ title }}."
        max_tokens: 120
    body: |
      # {{ title }}

      Released by {{ releaser }}.

      {{ generated.summary }}
    """
)
FIXED = UNDEFINED.replace("Released by {{ releaser }}.", "Released by the platform team.")
PLACEHOLDER = "⟨summary: generated text, up to 120 tokens⟩"


def test_check_preview_and_publish(
    page: Page, context: BrowserContext, console: Console, tmp_path: Path
) -> None:
    sign_in(page, console, console.alice.token)
    page.get_by_role("link", name="New template").click()
    expect(page).to_have_url(f"{console.url}/console/author")
    editor = page.get_by_label("Template YAML")
    expect(editor).to_contain_text("name: my-report")  # a starter to edit

    editor.fill(BROKEN)
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_role("heading", name="2 problems found")).to_be_visible()
    assert page.locator(".author-problem").count() == 2
    line4 = page.locator("#line-4")
    expect(line4.locator("code.text")).to_have_text("colour: blue")
    expect(line4.locator(".author-problem")).to_contain_text("colour: unknown field")
    line11 = page.locator("#line-11")
    expect(line11.locator("code.text")).to_have_text("    max_tokens: lots")
    expect(line11.locator(".author-problem")).to_contain_text(
        "generate.summary.max_tokens: Input should be a valid integer"
    )
    expect(page.locator("#line-10 .author-problem")).to_have_count(0)
    expect(editor).to_have_value(BROKEN)  # the text stays for fixing
    page.screenshot(path=tmp_path / "problems.png", full_page=True)
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.screenshot(path=tmp_path / "problems-phone.png", full_page=True)
    assert fits_a_phone(page), "the problems scroll sideways on a phone"
    page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]

    editor.fill(UNDEFINED)
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_role("heading", name="No problems found")).to_be_visible()
    expect(page.locator("#rehearsal")).to_have_text(
        "Ready to publish a new template 'release-notes' owned by team a, version 1 "
        "(not active yet)."
    )
    page.get_by_role("button", name="Preview").click()  # renders: `releaser` is undefined
    expect(page.get_by_role("heading", name="1 problem found")).to_be_visible()
    expect(page.locator("#line-14 .author-problem")).to_contain_text("'releaser' is undefined")

    editor.fill(FIXED)
    page.get_by_text("Preview inputs").click()
    page.get_by_label("Inputs as a JSON object").fill(json.dumps({"title": "Release 7.1"}))
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Dry-run preview")).to_be_visible()
    expect(page.locator(".author-fields li")).to_contain_text(["summary placeholder"])
    frame = page.frame_locator("iframe.author-frame")
    expect(frame.locator("h1")).to_have_text("Release 7.1")
    expect(frame.locator("mark.placeholder")).to_have_text(PLACEHOLDER)
    expect(frame.get_by_text("Released by the platform team.")).to_be_visible()
    assert page.locator("iframe.author-frame").get_attribute("sandbox") == ""
    page.screenshot(path=tmp_path / "preview.png", full_page=True)
    page.locator("iframe.author-frame").screenshot(path=tmp_path / "preview-frame.png")

    html_url = page.locator("iframe.author-frame").get_attribute("src")
    pdf_url = page.get_by_role("link", name="Open the PDF").get_attribute("href")
    assert html_url and pdf_url
    shown = context.request.get(console.url + html_url)
    assert "script-src" not in shown.headers["content-security-policy"]
    assert "sandbox" in shown.headers["content-security-policy"]
    pdf = context.request.get(console.url + pdf_url, timeout=90_000)
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    (tmp_path / "preview.pdf").write_bytes(pdf.body())
    text = pdf_text(pdf.body(), tmp_path)
    assert "Release 7.1" in text
    assert PLACEHOLDER in " ".join(text.split())

    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.screenshot(path=tmp_path / "preview-phone.png", full_page=True)
    assert fits_a_phone(page), "the authoring page scrolls sideways on a phone"
    page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]

    page.get_by_label("Activate now (new jobs use this version)").check()
    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(f"{console.url}/console/templates/release-notes")
    assert page.locator(".version-list li").all_inner_texts()[0].startswith("v1\nactive")
    with console.sessions() as session:
        template = session.scalar(select(Template).where(Template.name == "release-notes"))
        assert template is not None
        assert template.owner_team.name == "a"
        assert template.active_version is not None
        assert template.active_version.source == FIXED  # as typed, not with the browser's CRLF

    # Published again unchanged: the registry's own refusal, shown on the page.
    page.goto(f"{console.url}/console/author?template=release-notes")
    expect(page.get_by_label("Template YAML")).to_have_value(FIXED)
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("alert")).to_have_text(
        "template 'release-notes' version '1' already exists; versions are immutable, "
        "upload a new version"
    )


def test_a_preview_reuses_the_last_generated_text(page: Page, console: Console) -> None:
    """The newest succeeded job's text stands in for its field, and says where it came from."""
    source = FIXED.replace("release-notes", "changelog")
    sign_in(page, console, console.alice.token)
    page.goto(f"{console.url}/console/author")
    page.get_by_label("Template YAML").fill(source)
    page.get_by_label("Activate now (new jobs use this version)").check()
    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(f"{console.url}/console/templates/changelog")
    job_id = succeeded_job(console, "changelog", "The importer no longer drops rows.")

    page.goto(f"{console.url}/console/author?template=changelog")
    page.get_by_text("Preview inputs").click()
    page.get_by_label("Inputs as a JSON object").fill('{"title": 5}')
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".author-general")).to_have_text(
        "changelog: input 'title': expected string, got int 5"  # no line: above the YAML
    )
    page.get_by_label("Inputs as a JSON object").fill("")
    page.get_by_role("button", name="Preview").click()
    field = page.locator(".author-fields li")
    expect(field).to_contain_text("last generated text")
    expect(field).to_contain_text(f"job {job_id} (v1,")
    frame = page.frame_locator("iframe.author-frame")
    expect(frame.get_by_text("The importer no longer drops rows.")).to_be_visible()
    expect(frame.locator("h1")).to_have_text("⟨title⟩")  # required, no default: a placeholder
    expect(frame.locator("mark.placeholder")).to_have_text("⟨title⟩")


def test_a_file_upload_is_checked_like_a_paste(
    page: Page, console: Console, tmp_path: Path
) -> None:
    upload = tmp_path / "notes.yaml"
    upload.write_text(BROKEN.replace("release-notes", "from-a-file"), encoding="utf-8")
    sign_in(page, console, console.alice.token)
    page.goto(f"{console.url}/console/author")
    page.get_by_label("Or upload a YAML file").set_input_files(upload)
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_role("heading", name="2 problems found")).to_be_visible()
    expect(page.get_by_label("Template YAML")).to_have_value(upload.read_text(encoding="utf-8"))
    expect(page.locator("#line-4 .author-problem")).to_contain_text("unknown field")

    editor = page.get_by_label("Template YAML")  # author.js: Tab indents, Esc then Tab leaves
    editor.press("Control+End")
    editor.press("Tab")
    assert editor.input_value().endswith("\n  ")
    editor.press("Escape")
    editor.press("Tab")
    expect(page.get_by_label("Or upload a YAML file")).to_be_focused()


def test_another_team_can_neither_preview_nor_publish_into_it(
    page: Page, browser: Browser, console: Console
) -> None:
    sign_in(page, console, console.alice.token)
    page.goto(f"{console.url}/console/author?template=weekly")
    expect(page.get_by_label("Template YAML")).to_contain_text('version: "2"')  # the active one
    page.get_by_role("button", name="Preview").click()
    alices = page.locator("iframe.author-frame").get_attribute("src")
    assert alices

    before = counts(console)
    bob = browser.new_context(viewport=LAPTOP)  # type: ignore[arg-type]
    try:
        other = bob.new_page()
        sign_in(other, console, console.bob.token)
        assert other.request.get(console.url + alices).status == 404  # not his preview
        assert other.request.get(console.url + alices.replace(".html", ".pdf")).status == 404
        hidden = other.goto(f"{console.url}/console/author?template=weekly")
        assert hidden is not None
        assert hidden.status == 404

        other.goto(f"{console.url}/console/author")
        other.get_by_label("Template YAML").fill(FIXED.replace("release-notes", "weekly"))
        for button in ("Preview", "Publish"):
            with other.expect_response(lambda r: r.request.method == "POST") as answer:
                other.get_by_role("button", name=button).click()
            assert answer.value.status == 409
            expect(other.get_by_role("alert")).to_have_text(
                "template name 'weekly' is not available"
            )
            expect(other.locator("iframe")).to_have_count(0)
    finally:
        bob.close()
    assert counts(console) == before  # no version, no audit entry, nothing


def test_forms_without_this_sessions_token_are_refused(page: Page, console: Console) -> None:
    sign_in(page, console, console.alice.token)
    before = counts(console)
    source = FIXED.replace("release-notes", "forged")
    for extra in ({}, {"csrf": "forged"}):
        refused = page.request.post(
            f"{console.url}/console/author",
            multipart={"action": "publish", "source": source, **extra},
        )
        assert refused.status == 403
    assert counts(console) == before


def test_previews_are_bounded_and_bound_to_their_principal() -> None:
    store = PreviewStore(limit=2, seconds=60)
    document = Document(title="t", markdown="# t", template_name="t", template_version="1")
    first = store.put(1, document, "<p>1</p>")
    second = store.put(1, document, "<p>2</p>")
    assert store.get(first, 2) is None  # another principal's key answers nothing
    third = store.put(2, document, "<p>3</p>")
    assert store.get(first, 1) is None  # over the cap: the oldest went
    assert [store.get(k, p) is not None for k, p in ((second, 1), (third, 2))] == [True, True]
    assert len(store) == 2
    store.seconds = 0.01
    time.sleep(0.02)
    assert len(store) == 0
    assert store.get(second, 1) is None


def counts(console: Console) -> tuple[int, int]:
    with console.sessions() as session:
        versions = session.scalar(select(func.count()).select_from(TemplateVersion))
        audit = session.scalar(select(func.count()).select_from(AuditEntry))
        return int(versions or 0), int(audit or 0)


def succeeded_job(console: Console, name: str, text: str) -> str:
    """A finished job of `name`'s active version whose `summary` field says `text`."""
    with console.sessions() as session:
        template = session.scalar(select(Template).where(Template.name == name))
        assert template is not None and template.active_version_id is not None
        job = Job(
            id=f"job-{name}",
            template_id=template.id,
            version_id=template.active_version_id,
            inputs={"title": "Earlier"},
            formats=["pdf"],
            seed=1,
            requested_by="alice",
            idempotency_key=f"key-{name}",
            request_sha256="0" * 64,
            trace_id="t",
            status="succeeded",
            attempts=1,
            max_attempts=1,
            timeout_seconds=60,
            retry_delay_seconds=1.0,
            backoff="fixed",
            finished_at=datetime.now(UTC),
            generation=[{"name": "summary", "text": text, "model": "m", "prompt": "p"}],
        )
        session.add(job)
        session.commit()
        return job.id


def test_the_preview_export_process_stops_with_the_app(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite://", broker_url="", artifact_dir=tmp_path)
    app = create_app(settings)
    with TestClient(app):
        assert previews_of(app) is previews_of(app)  # made once, kept in app.state
        pids = previews_of(app).pool().pids()
        assert len(pids) == 1
        assert psutil.pid_exists(pids[0])
    assert not psutil.pid_exists(pids[0]) or psutil.Process(pids[0]).status() == "zombie"
