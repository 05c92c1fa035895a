"""The console in Debian's headless Chromium against a real `autoglm serve`: sign in, browse,
search, read a version; another team sees nothing; CSRF; cookie flags; revocation."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.console.conftest import PHONE, Console, sign_in


def card_names(page: Page) -> list[str]:
    return page.locator("ul.cards h2").all_inner_texts()


def test_sign_in_browse_search_and_read_a_version(
    page: Page, context: BrowserContext, console: Console, tmp_path: Path
) -> None:
    page.goto(f"{console.url}/")
    expect(page).to_have_url(f"{console.url}/console/sign-in?next=%2Fconsole%2Ftemplates")
    sign_in(page, console, console.alice.token)
    assert card_names(page) == ["invoice", "weekly"]
    expect(page.get_by_text("The weekly status report, with a summary.")).to_be_visible()
    page.screenshot(path=tmp_path / "templates.png", full_page=True)

    cookie = next(c for c in context.cookies() if c["name"] == "autoglm_console")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http here; https sets it (test_sessions)
    assert time.time() + 3600 < cookie["expires"] < time.time() + 9 * 3600
    assert console.alice.token not in cookie["value"]

    page.get_by_label("Search by name").fill("WEEK")
    page.get_by_role("button", name="Filter").click()
    assert card_names(page) == ["weekly"]
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Category").select_option("finance")
    page.get_by_role("button", name="Filter").click()
    assert card_names(page) == ["invoice"]
    page.get_by_label("Category").select_option("")
    page.get_by_label("Search by name").fill("nothing-like-this")
    page.get_by_label("Search by name").press("Enter")
    expect(page.get_by_text("No templates match these filters.")).to_be_visible()

    page.goto(f"{console.url}/console/templates")
    page.get_by_role("link", name="weekly").click()
    expect(page.get_by_role("heading", name="weekly", exact=True)).to_be_visible()
    versions = page.locator(".version-list li")
    assert versions.all_inner_texts()[0].startswith("v2\nactive")
    assert "active" not in versions.all_inner_texts()[1]
    expect(page.locator("pre.yaml")).to_contain_text('version: "2"')
    page.screenshot(path=tmp_path / "template.png", full_page=True)

    page.get_by_role("link", name="v1", exact=True).click()
    expect(page).to_have_url(f"{console.url}/console/templates/weekly/versions/1")
    yaml = page.locator("pre.yaml")
    expect(yaml).to_contain_text('version: "1"')
    expect(yaml).to_contain_text("The weekly status report.")
    assert page.locator(".version-list li.shown").inner_text().startswith("v1")

    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.screenshot(path=tmp_path / "template-phone.png", full_page=True)
    assert fits_a_phone(page), "the template page scrolls sideways on a phone"
    page.goto(f"{console.url}/console/templates")
    page.screenshot(path=tmp_path / "templates-phone.png", full_page=True)
    assert fits_a_phone(page), "the list scrolls sideways on a phone"


def fits_a_phone(page: Page) -> bool:
    """Nothing is wider than the viewport (the YAML scrolls inside its own box)."""
    widest = page.evaluate(
        "Math.max(...[...document.querySelectorAll('main *:not(pre *)')]"
        ".map(e => e.getBoundingClientRect().right))"
    )
    return bool(
        widest <= PHONE["width"]
        and page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    )


def test_keyboard_reaches_the_controls(page: Page, console: Console) -> None:
    sign_in(page, console, console.alice.token)
    reached = []
    for _ in range(24):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")
        )
    every = ("Templates", "Jobs", "Webhooks", "Sign out", "q", "category", "Filter", "invoice")
    for wanted in (*every, "weekly"):
        assert wanted in reached, reached


def test_another_team_sees_nothing_of_it(page: Page, console: Console) -> None:
    sign_in(page, console, console.bob.token)
    assert card_names(page) == ["secret-plan"]
    page.get_by_label("Search by name").fill("weekly")
    page.get_by_role("button", name="Filter").click()
    assert card_names(page) == []

    hidden = page.goto(f"{console.url}/console/templates/weekly")
    assert hidden is not None
    assert hidden.status == 404
    hidden_text = page.locator("main").inner_text()
    missing = page.goto(f"{console.url}/console/templates/weekly-nope")
    assert missing is not None
    assert missing.status == 404
    assert page.locator("main").inner_text() == hidden_text.replace("weekly", "weekly-nope")
    version = page.goto(f"{console.url}/console/templates/weekly/versions/1")
    assert version is not None
    assert version.status == 404
    assert "YAML" not in page.content()


def test_a_post_without_the_csrf_token_is_refused(page: Page, console: Console) -> None:
    anonymous = page.request.post(f"{console.url}/console/sign-in", form={"token": "x"})
    assert anonymous.status == 403
    sign_in(page, console, console.alice.token)
    for form in ({}, {"csrf": "forged"}):
        refused = page.request.post(f"{console.url}/console/sign-out", form=form)
        assert refused.status == 403
    page.reload()
    expect(page).to_have_url(f"{console.url}/console/templates")  # still signed in

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{console.url}/console/sign-in")
    page.goto(f"{console.url}/console/templates/weekly")
    expect(page).to_have_url(f"{console.url}/console/sign-in?next=%2Fconsole%2Ftemplates%2Fweekly")
    page.get_by_label("API token").fill(console.alice.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{console.url}/console/templates/weekly")  # back where it was


def test_a_bad_token_is_told_and_a_revoked_one_ends_the_session(
    page: Page, console: Console
) -> None:
    page.goto(f"{console.url}/console/sign-in")
    page.get_by_label("API token").fill("agl_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That token is invalid, expired or revoked.")

    token_id, secret = console.token_for("alice")
    sign_in(page, console, secret)
    assert card_names(page) == ["invoice", "weekly"]
    console.revoke(token_id)
    page.reload()
    expect(page).to_have_url(f"{console.url}/console/sign-in?next=%2Fconsole%2Ftemplates")
    assert page.context.cookies() == [] or all(
        c["name"] != "autoglm_console" for c in page.context.cookies()
    )
    gone = page.goto(f"{console.url}/console/templates/weekly")
    assert gone is not None
    assert "/console/sign-in" in gone.url
