"""Running and watching jobs in the console, in Debian's Chromium: the run form made from
typed variables, a job run by a separate `autoglm worker` on PostgreSQL + Redis growing its
fields on the page with the real model, the PDF, the jobs list; nothing of it for another
team."""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from core.db import make_engine, session_factory
from tests import factories
from tests.console.conftest import PHONE, Console, sign_in
from tests.console.test_browse import fits_a_phone
from tests.readers import pdf_text, squash
from tests.stack import Stack, distributed_stack

pytestmark = pytest.mark.model

NOTES = """\
name: field-notes
version: "1"
description: Notes from a field trip, written by the model.
variables:
  - name: place
    description: Where the trip went.
  - name: days
    type: integer
    default: 2
    description: How long it took.
  - name: rainy
    type: boolean
    default: false
  - name: sights
    type: list
    default: [lighthouse]
  - name: extra
    type: object
    required: false
generate:
  story:
    prompt: "Write a long story about a {{ days }}-day trip to {{ place }}."
    max_tokens: 220
    temperature: 0.8
body: |
  # Field notes: {{ place }}

  {{ generated.story }}
export:
  formats: [pdf, md]
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("jobs")
    with distributed_stack(root, NOTES, AUTOGLM_PROGRESS_INTERVAL_SECONDS="0.2") as running:
        running.start("worker")
        yield running


@pytest.fixture(scope="module")
def bob_token(stack: Stack) -> str:
    engine = make_engine(stack.database_url)
    try:
        with session_factory(engine)() as session:
            return factories.user(session, "bob", teams=["b"], roles=["maintainer"]).token
    finally:
        engine.dispose()


def as_console(stack: Stack) -> Console:
    return Console(stack.url, None, None, None)  # type: ignore[arg-type]


def field_text(page: Page) -> str:
    return page.locator('[data-field="story"] [data-field-text]').inner_text()


def test_run_a_template_from_its_form_and_watch_the_job_grow(
    page: Page, context: BrowserContext, stack: Stack, bob_token: str, tmp_path: Path
) -> None:
    sign_in(page, as_console(stack), stack.token)
    page.goto(f"{stack.url}/console/templates/field-notes/run")
    expect(page.get_by_label("days")).to_have_value("2")
    expect(page.get_by_text("Where the trip went.")).to_be_visible()
    assert page.get_by_label("place").get_attribute("aria-required") == "true"
    expect(page.get_by_label("sights")).to_have_value('["lighthouse"]')
    expect(page.get_by_label("PDF")).to_be_checked()
    expect(page.get_by_label("Word")).not_to_be_checked()
    page.screenshot(path=tmp_path / "run.png", full_page=True)

    page.get_by_label("place").fill("Brittany")
    page.get_by_label("days").fill("2.5")  # the browser lets it through (novalidate): the server
    page.get_by_label("extra").fill("[1, 2]")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_text("days: must be a whole number")).to_be_visible()
    expect(page.get_by_text("extra: must be a JSON object")).to_be_visible()
    expect(page.get_by_label("place")).to_have_value("Brittany")  # what was typed stays
    assert page.get_by_label("days").get_attribute("aria-invalid") == "true"

    page.get_by_label("days").fill("3")
    page.get_by_label("extra").fill('{"guide": "Anne"}')
    page.get_by_label("rainy").check()
    page.get_by_role("button", name="Run").click()
    page.wait_for_url(f"{stack.url}/console/jobs/*")
    job_id = page.url.rsplit("/", 1)[1]

    seen: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = page.locator("[data-job-status]").inner_text()
        text = field_text(page)
        if text and (not seen or text != seen[-1]):
            seen.append(text)
        if status == "succeeded" and page.locator("iframe.pdf").count():
            break
        if len(seen) == 2:
            page.screenshot(path=tmp_path / "job-running.png", full_page=True)
        time.sleep(0.1)
    expect(page.locator("[data-job-status]")).to_have_text("succeeded")  # else: the error box
    growing = [t for t in seen[:-1] if t]
    assert len(growing) >= 2, f"the text arrived in {len(seen)} steps: {seen}"
    assert all(len(a) < len(b) for a, b in pairwise(growing))
    final = field_text(page)
    assert final.startswith(growing[0].strip()[:10])
    page.screenshot(path=tmp_path / "job-done.png", full_page=True)

    job = stack.job(job_id)
    assert job["inputs"] == {
        "place": "Brittany",
        "days": 3,
        "rainy": True,
        "sights": ["lighthouse"],
        "extra": {"guide": "Anne"},
    }
    assert job["formats"] == ["pdf", "md"]
    assert final == job["generation"][0]["text"]
    page.get_by_text("Provenance").click()
    expect(page.locator(".provenance")).to_contain_text("SmolLM2")

    pdf_url = page.locator("iframe.pdf").get_attribute("src")
    pdf = context.request.get(f"{stack.url}{pdf_url}")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline")
    assert "Fieldnotes:Brittany" in squash(pdf_text(pdf.body(), tmp_path))
    markdown = context.request.get(f"{stack.url}/console/jobs/{job_id}/files/md")
    assert markdown.headers["content-disposition"].startswith("attachment")
    assert "# Field notes: Brittany" in markdown.text()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
    expect(page.locator("table.jobs tbody tr")).to_have_count(1)
    expect(page.locator("table.jobs")).to_contain_text("succeeded")
    page.get_by_label("Status").select_option("dead")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No jobs match these filters.")).to_be_visible()
    page.goto(f"{stack.url}/console/jobs?requester=ci&period=1h&template=field-notes")
    expect(page.locator("table.jobs tbody tr")).to_have_count(1)
    page.screenshot(path=tmp_path / "jobs.png", full_page=True)
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    assert fits_a_phone(page), "the jobs list scrolls sideways on a phone"
    page.goto(f"{stack.url}/console/jobs/{job_id}")
    page.screenshot(path=tmp_path / "job-phone.png", full_page=True)
    assert fits_a_phone(page), "the job page scrolls sideways on a phone"

    other = context.browser.new_context()  # type: ignore[union-attr]
    try:
        bobs = other.new_page()
        sign_in(bobs, as_console(stack), bob_token)
        for path in ("", "/events", "/files/pdf"):
            response = bobs.goto(f"{stack.url}/console/jobs/{job_id}{path}")
            assert response is not None and response.status == 404, path
        missing = bobs.goto(f"{stack.url}/console/jobs/{'0' * 32}")
        assert missing is not None and missing.status == 404
        assert bobs.goto(f"{stack.url}/console/templates/field-notes/run").status == 404  # type: ignore[union-attr]
        bobs.goto(f"{stack.url}/console/jobs")
        expect(bobs.get_by_text("No jobs match these filters.")).to_be_visible()
    finally:
        other.close()


def test_a_run_form_post_without_the_csrf_token_makes_no_job(
    page: Page, context: BrowserContext, stack: Stack
) -> None:
    sign_in(page, as_console(stack), stack.token)
    before = len(context.request.get(f"{stack.url}/jobs", headers=stack.headers).json())
    response = context.request.post(
        f"{stack.url}/console/templates/field-notes/run",
        form={"var.place": "Nowhere", "formats": "md"},
    )
    assert response.status == 403
    after = len(context.request.get(f"{stack.url}/jobs", headers=stack.headers).json())
    assert after == before


def test_the_jobs_list_shows_a_new_job_without_a_reload(page: Page, stack: Stack) -> None:
    sign_in(page, as_console(stack), stack.token)
    page.goto(f"{stack.url}/console/jobs?template=field-notes")
    rows = page.locator("table.jobs tbody tr")
    before = rows.count()
    page.evaluate("window.notReloaded = true")
    job = stack.submit({"template": "field-notes", "inputs": {"place": "Ushant"}})
    expect(page.locator(f'a[href="/console/jobs/{job["id"]}"]')).to_be_visible(timeout=15_000)
    assert rows.count() == before + 1
    assert page.evaluate("window.notReloaded") is True  # the body was swapped, not the page
