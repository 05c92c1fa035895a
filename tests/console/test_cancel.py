"""The Cancel button in Debian's Chromium: a job run by a separate `autoglm worker` on
PostgreSQL + Redis with the real model is stopped from its page, which then shows it
`cancelled`; no button for a reader who may not cancel, none without the CSRF token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.autoglm.test_cancel import ENDLESS
from tests.committed import token_on
from tests.console.conftest import sign_in
from tests.console.test_jobs import as_console
from tests.stack import Stack, distributed_stack

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("cancel")
    fast = {"AUTOGLM_PROGRESS_INTERVAL_SECONDS": "0.2", "AUTOGLM_CANCEL_POLL_SECONDS": "0.2"}
    with distributed_stack(root, ENDLESS, **fast) as running:
        running.start("worker")
        yield running


@pytest.fixture(scope="module")
def viewer_token(stack: Stack) -> str:
    return token_on(stack.database_url, "vera", ["a"], ["viewer"])


def test_cancel_a_running_job_from_its_page(
    page: Page, context: BrowserContext, stack: Stack, viewer_token: str
) -> None:
    job = stack.submit({"template": "endless", "inputs": {"topic": "harbours"}})
    sign_in(page, as_console(stack), stack.token)
    page.goto(f"{stack.url}/console/jobs/{job['id']}")
    story = page.locator('[data-field="story"] [data-field-text]')
    expect(story).not_to_be_empty(timeout=120_000)  # the model is writing

    other = context.browser.new_context()  # type: ignore[union-attr]
    try:
        readers = other.new_page()
        sign_in(readers, as_console(stack), viewer_token)
        readers.goto(f"{stack.url}/console/jobs/{job['id']}")
        expect(readers.locator("[data-job-status]")).to_have_text("running")
        expect(readers.get_by_role("button", name="Cancel job")).to_have_count(0)
        forged = other.request.post(f"{stack.url}/console/jobs/{job['id']}/cancel")
        assert forged.status == 403  # no CSRF token
    finally:
        other.close()
    assert stack.job(job["id"])["cancel_requested_at"] is None

    page.get_by_role("button", name="Cancel job").click()
    page.wait_for_url(f"{stack.url}/console/jobs/{job['id']}")
    expect(page.locator("[data-job-status]")).to_have_text("cancelled", timeout=30_000)
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    expect(page.locator(".error-box")).to_contain_text("cancelled by ci")
    expect(page.get_by_role("heading", name="Files")).to_have_count(0)
    done = stack.job(job["id"])
    assert done["status"] == "cancelled" and done["artifacts"] == []

    page.goto(f"{stack.url}/console/jobs?status=cancelled")
    expect(page.locator("table.jobs tbody tr")).to_have_count(1)
    expect(page.locator("table.jobs .status-cancelled")).to_have_text("cancelled")
