"""Managing templates, schedules and webhooks in the console, and the audit log, in Debian's
headless Chromium against a real `autoglm serve`: what the registry allows is offered, what it
refuses is refused (and not offered), and every change lands in the audit log."""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import APIResponse, Page, Response, expect

from tests import factories
from tests.console.conftest import PHONE, Console, sign_in
from tests.console.test_browse import fits_a_phone
from tests.factories import User

WEEKLY = "/console/templates/weekly"


@pytest.fixture(scope="module")
def root(console: Console) -> User:
    """An admin: the built-in `admin` role grants every permission, the audit log included."""
    with console.sessions() as session:
        return factories.user(session, "root", roles=["admin"])


def another_page(page: Page, console: Console, user: User) -> Page:
    """A page in a browser context of its own (its own cookies), signed in as `user`."""
    browser = page.context.browser
    assert browser is not None
    other = browser.new_page()
    sign_in(other, console, user.token)
    return other


def csrf_of(page: Page) -> str:
    """This session's CSRF token, as every form on the page carries it."""
    value = page.locator("form.who input[name=csrf]").get_attribute("value")
    assert value
    return value


def submit(page: Page, button: str) -> Response:
    """Click a form's button and answer the response to its POST (before any redirect)."""
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state()
    return posted.value


def said(response: APIResponse) -> str:
    """A response page's text as a reader sees it (entities decoded)."""
    return html.unescape(response.text())


def fact(page: Page, term: str) -> str:
    """What the template page's facts say for `term` (e.g. "Read roles")."""
    return page.locator("dl.facts.wide div").filter(has_text=term).locator("dd").inner_text()


def version_item(page: Page, version: str) -> str:
    return page.locator(".version-list li").filter(has_text=f"v{version}").first.inner_text()


def test_diff_roll_back_archive_and_restore(page: Page, console: Console, tmp_path: Path) -> None:
    sign_in(page, console, console.alice.token)
    page.goto(f"{console.url}{WEEKLY}")
    expect(page.get_by_role("link", name="Run")).to_have_attribute("href", f"{WEEKLY}/run")
    expect(page.get_by_role("link", name="New version")).to_have_attribute(
        "href", "/console/author?template=weekly"
    )

    expect(page.get_by_label("From version")).to_have_value("1")
    expect(page.get_by_label("To version")).to_have_value("2")
    page.get_by_role("button", name="Show changes").click()
    expect(page).to_have_url(f"{console.url}{WEEKLY}/diff?from=1&to=2")
    removed, added = page.locator("pre.diff del"), page.locator("pre.diff ins")
    expect(removed.filter(has_text="description")).to_have_text(
        "-description: The weekly status report."
    )
    expect(added.filter(has_text="description")).to_have_text(
        "+description: The weekly status report, with a summary."
    )
    expect(added.filter(has_text="version")).to_have_text('+version: "2"')
    expect(page.locator("pre.diff .same").first).to_contain_text("name: weekly")
    lines = page.locator("pre.diff").inner_text().splitlines()  # one diff line per line
    assert lines[:3] == ["--- v1", "+++ v2", lines[2]] and lines[2].startswith("@@")
    assert "+description: The weekly status report, with a summary." in lines
    page.screenshot(path=tmp_path / "diff.png", full_page=True)

    assert submit(page, "Roll back to v1").status == 303
    expect(page).to_have_url(f"{console.url}{WEEKLY}?done=activated")
    expect(page.get_by_role("status")).to_have_text("The active version changed.")
    assert version_item(page, "1").startswith("v1\nactive")
    assert "active" not in version_item(page, "2").split("\n")[:2]
    submit(page, "Activate v2")
    assert version_item(page, "2").startswith("v2\nactive")

    submit(page, "Archive")
    expect(page.get_by_role("status")).to_contain_text("Archived")
    expect(page.locator(".head .tag")).to_have_text("archived")
    for gone in ("Run", "New version"):
        expect(page.get_by_role("link", name=gone)).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^(Activate|Roll back)"))).to_have_count(0)
    page.screenshot(path=tmp_path / "archived.png", full_page=True)
    submit(page, "Restore")
    expect(page.get_by_role("status")).to_contain_text("Restored")
    expect(page.locator(".head .tag")).to_have_count(0)

    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.goto(f"{console.url}{WEEKLY}/diff?from=1&to=2")
    page.get_by_text("Edit access").click()
    page.screenshot(path=tmp_path / "diff-phone.png", full_page=True)
    assert fits_a_phone(page), "the diff page scrolls sideways on a phone"


def test_access_and_what_a_reader_is_offered(page: Page, console: Console, tmp_path: Path) -> None:
    sign_in(page, console, console.alice.token)
    page.goto(f"{console.url}{WEEKLY}")
    page.get_by_text("Edit access").click()
    page.get_by_role("group", name="Roles that may read it").get_by_label("maintainer").check()
    page.get_by_role("group", name="Roles that may read and run it").get_by_label("runner").check()
    page.screenshot(path=tmp_path / "access.png", full_page=True)
    submit(page, "Save access")
    expect(page.get_by_role("status")).to_have_text("Access saved.")
    assert (fact(page, "Read roles"), fact(page, "Run roles")) == ("maintainer", "runner")

    # bob (maintainer of team b) may now read weekly, and nothing more.
    bob = another_page(page, console, console.bob)
    bob.goto(f"{console.url}{WEEKLY}")
    expect(bob.get_by_role("heading", name="weekly", exact=True)).to_be_visible()
    expect(bob.locator("main form[method=post]")).to_have_count(0)
    expect(bob.locator("main button")).to_have_text(["Show changes"])
    for link in ("Run", "New version", "New schedule", "New webhook"):
        expect(bob.get_by_role("link", name=link)).to_have_count(0)
    expect(bob.get_by_text("Edit access")).to_have_count(0)
    bob.screenshot(path=tmp_path / "reader.png", full_page=True)
    for action, form in (("activate", {"version": "1"}), ("archive", {}), ("access", {})):
        refused = bob.request.post(
            f"{console.url}{WEEKLY}/{action}", form={"csrf": csrf_of(bob), **form}
        )
        assert refused.status == 403, action
        assert "bob lacks template:publish on template 'weekly'" in said(refused)
    hidden = bob.request.post(
        f"{console.url}/console/templates/invoice/archive", form={"csrf": csrf_of(bob)}
    )
    assert hidden.status == 404
    assert "template 'invoice' not found" in said(hidden)
    bob.close()

    page.reload()
    assert version_item(page, "2").startswith("v2\nactive")
    expect(page.locator(".head .tag")).to_have_count(0)
    page.get_by_text("Edit access").click()
    for group in ("Roles that may read it", "Roles that may read and run it"):
        for box in page.get_by_role("group", name=group).get_by_role("checkbox").all():
            box.uncheck()
    submit(page, "Save access")
    expect(page.get_by_role("status")).to_have_text("Access saved.")
    assert (fact(page, "Read roles"), fact(page, "Run roles")) == ("—", "—")


def test_schedules_show_fire_times_in_their_zone(
    page: Page, console: Console, tmp_path: Path
) -> None:
    sign_in(page, console, console.alice.token)
    page.goto(f"{console.url}/console/schedules")
    expect(page.get_by_text("No schedules on the templates you manage.")).to_be_visible()
    page.get_by_label("Template").select_option("weekly")
    page.get_by_label("Cron expression").fill("61 9 * * *")
    assert submit(page, "Create schedule").status == 422
    expect(page.get_by_role("alert")).to_have_text("cron expression '61 9 * * *' is not valid")
    expect(page.get_by_label("Cron expression")).to_have_value("61 9 * * *")
    page.screenshot(path=tmp_path / "schedule-error.png", full_page=True)
    page.get_by_label("Cron expression").fill("0 9 * * MON-FRI")
    page.get_by_label("Time zone").fill("Mars/Olympus")
    assert submit(page, "Create schedule").status == 422
    expect(page.get_by_role("alert")).to_contain_text("unknown time zone 'Mars/Olympus'")
    page.get_by_label("Time zone").fill("America/New_York")
    page.get_by_label("Inputs (JSON object)").fill('{"title": ')
    assert submit(page, "Create schedule").status == 400
    expect(page.get_by_role("alert")).to_contain_text("inputs: not valid JSON")
    page.get_by_label("Inputs (JSON object)").fill('{"nope": 1}')
    assert submit(page, "Create schedule").status == 422
    expect(page.get_by_role("alert")).to_contain_text("nope")
    page.goto(f"{console.url}/console/schedules")
    expect(page.get_by_text("No schedules on the templates you manage.")).to_be_visible()

    page.get_by_label("Template").select_option("weekly")
    page.get_by_label("Cron expression").fill("0 9 * * MON-FRI")
    page.get_by_label("Time zone").fill("America/New_York")
    page.get_by_label("Inputs (JSON object)").fill('{"title": "Status"}')
    page.get_by_label("Markdown").check()
    assert submit(page, "Create schedule").status == 303
    match = re.search(r"/console/schedules/(\d+)\?done=created$", page.url)
    assert match, page.url
    schedule_url = f"/console/schedules/{match.group(1)}"
    expect(page.get_by_role("status")).to_have_text("Schedule created.")
    fires = page.locator("ol.fires li").all_inner_texts()
    assert len(fires) == 3
    for fire in fires:  # 09:00 on New York's clocks, whatever the server's zone
        assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri) \d{4}-\d\d-\d\d 09:00 E[SD]T", fire), fires
    expect(page.locator("main")).to_contain_text('{"title": "Status"}')
    page.screenshot(path=tmp_path / "schedule.png", full_page=True)

    page.goto(f"{console.url}{WEEKLY}")
    expect(page.get_by_role("link", name=f"Schedule {match.group(1)}")).to_have_attribute(
        "href", schedule_url
    )
    page.goto(f"{console.url}/console/schedules")
    expect(page.locator("ul.rows > li")).to_have_count(1)
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.screenshot(path=tmp_path / "schedules-phone.png", full_page=True)
    assert fits_a_phone(page), "the schedules page scrolls sideways on a phone"

    bob = another_page(page, console, console.bob)
    hidden = bob.goto(f"{console.url}{schedule_url}")
    assert hidden is not None
    assert hidden.status == 404
    refused = bob.request.post(f"{console.url}{schedule_url}/delete", form={"csrf": csrf_of(bob)})
    assert refused.status == 404
    bob.goto(f"{console.url}/console/schedules")
    expect(bob.locator("ul.rows > li")).to_have_count(0)
    bob.close()

    page.goto(f"{console.url}{schedule_url}")
    submit(page, f"Delete schedule {match.group(1)}")
    expect(page).to_have_url(f"{console.url}/console/schedules?done=deleted")
    expect(page.get_by_role("status")).to_have_text("Schedule deleted.")
    expect(page.get_by_text("No schedules on the templates you manage.")).to_be_visible()


def test_a_webhook_secret_is_shown_once_with_a_curl_that_delivers(
    page: Page, console: Console, tmp_path: Path
) -> None:
    sign_in(page, console, console.alice.token)
    page.goto(f"{console.url}{WEEKLY}")
    page.get_by_role("link", name="New webhook").click()
    expect(page.get_by_label("Template")).to_have_value("weekly")
    page.get_by_label("Name").fill("Not A Name")
    assert submit(page, "Create webhook").status == 422
    expect(page.get_by_role("alert")).to_contain_text("webhook name 'Not A Name' must be")
    page.get_by_label("Name").fill("release-notes")
    page.get_by_label("Inputs (JSON object)").fill('{"title": "$.release.name", "week": 7}')
    page.get_by_label("Markdown").check()
    assert submit(page, "Create webhook").status == 303
    expect(page).to_have_url(f"{console.url}/console/webhooks/release-notes?done=created")
    secret = page.get_by_label("Secret", exact=True).input_value()
    assert len(secret) >= 32
    curl = page.get_by_label("Example (shell)").input_value()
    assert f"SECRET={secret}" in curl or f"SECRET='{secret}'" in curl
    page.screenshot(path=tmp_path / "webhook-created.png", full_page=True)

    delivered = subprocess.run(
        ["bash", "-c", curl], capture_output=True, text=True, timeout=30, check=True
    )
    job = json.loads(delivered.stdout)
    assert job["template"] == "weekly", job
    assert job["inputs"] == {"title": "example title", "week": 7}
    tampered = subprocess.run(
        ["bash", "-c", curl.replace(secret, "not-the-secret-" * 3)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "does not match the body" in tampered.stdout

    page.reload()
    expect(page.get_by_label("Secret", exact=True)).to_have_count(0)
    assert secret not in page.content()
    expect(page.get_by_text("The secret was shown once")).to_be_visible()
    expect(page.get_by_label("Example (shell)")).to_contain_text("paste-the-secret-you-saved")
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.screenshot(path=tmp_path / "webhook-phone.png", full_page=True)
    assert fits_a_phone(page), "the webhook page scrolls sideways on a phone"

    bob = another_page(page, console, console.bob)
    hidden = bob.goto(f"{console.url}/console/webhooks/release-notes")
    assert hidden is not None
    assert hidden.status == 404
    assert "webhook 'release-notes' not found" in bob.locator("main").inner_text()
    refused = bob.request.post(
        f"{console.url}/console/webhooks/release-notes/delete", form={"csrf": csrf_of(bob)}
    )
    assert refused.status == 404
    bob.goto(f"{console.url}/console/webhooks")
    expect(bob.locator("ul.rows > li")).to_have_count(0)
    bob.close()

    page.goto(f"{console.url}/console/webhooks")
    expect(page.locator("ul.rows > li")).to_have_count(1)
    page.get_by_role("link", name="release-notes").click()
    submit(page, "Delete webhook release-notes")
    expect(page.get_by_role("status")).to_have_text("Webhook deleted.")
    gone = page.goto(f"{console.url}/console/webhooks/release-notes")
    assert gone is not None
    assert gone.status == 404


def test_a_post_without_the_csrf_field_changes_nothing(page: Page, console: Console) -> None:
    sign_in(page, console, console.alice.token)
    posts = {
        f"{WEEKLY}/archive": {},
        f"{WEEKLY}/activate": {"version": "1"},
        f"{WEEKLY}/access": {"owner_team": "a", "read_roles": "viewer"},
        "/console/schedules": {"template": "weekly", "expression": "@daily"},
        "/console/webhooks": {"name": "forged", "template": "weekly"},
    }
    for path, form in posts.items():
        for csrf in ({}, {"csrf": "forged"}):
            refused = page.request.post(f"{console.url}{path}", form={**form, **csrf})
            assert refused.status == 403, path
    page.goto(f"{console.url}{WEEKLY}")
    assert version_item(page, "2").startswith("v2\nactive")
    expect(page.locator(".head .tag")).to_have_count(0)
    assert fact(page, "Read roles") == "—"
    page.goto(f"{console.url}/console/schedules")
    expect(page.locator("ul.rows > li")).to_have_count(0)
    page.goto(f"{console.url}/console/webhooks")
    expect(page.locator("ul.rows > li")).to_have_count(0)


def test_the_audit_log_is_for_admins(
    page: Page, console: Console, root: User, tmp_path: Path
) -> None:
    sign_in(page, console, console.alice.token)
    expect(page.get_by_role("link", name="Audit")).to_have_count(0)
    hidden = page.goto(f"{console.url}/console/audit")
    assert hidden is not None
    assert hidden.status == 404
    page.goto(f"{console.url}/console/templates/invoice")
    submit(page, "Archive")
    submit(page, "Restore")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, console, root.token)
    page.get_by_role("link", name="Audit").click()
    expect(page).to_have_url(f"{console.url}/console/audit")
    page.get_by_label("Actor").fill("alice")
    page.get_by_label("Action").fill("template")
    page.get_by_label("Target", exact=True).fill("invoice")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("template.restore")
    expect(rows.nth(1)).to_contain_text("template.archive")
    expect(rows.nth(0)).to_contain_text("alice")

    page.get_by_label("Target", exact=True).fill("")
    page.get_by_label("Action").fill("schedule.create")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("weekly")
    page.get_by_label("Action").fill("")
    page.get_by_label("Until (UTC)").fill("2001-01-01T00:00")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No entries match these filters.")).to_be_visible()
    page.get_by_label("Until (UTC)").fill("")
    page.get_by_label("From (UTC)").fill("2999-01-01T00:00")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No entries match these filters.")).to_be_visible()
    bad = page.goto(f"{console.url}/console/audit?since=yesterday")
    assert bad is not None
    assert bad.status == 400
    expect(page.get_by_role("alert")).to_have_text("From: 'yesterday' is not a date and time")

    page.goto(f"{console.url}/console/audit?per=10")
    expect(rows).to_have_count(10)
    first_page = rows.all_inner_texts()
    page.get_by_role("link", name="Older entries").click()
    expect(page.get_by_text("Page 2", exact=True)).to_be_visible()
    assert rows.count() >= 1
    assert rows.all_inner_texts() != first_page
    expect(page.get_by_role("link", name="Newer entries")).to_be_visible()
    page.screenshot(path=tmp_path / "audit.png", full_page=True)
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.screenshot(path=tmp_path / "audit-phone.png", full_page=True)
    assert fits_a_phone(page), "the audit page scrolls sideways on a phone"
