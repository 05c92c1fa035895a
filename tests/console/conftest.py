"""A real `autoglm serve` on embedded defaults (SQLite, no broker) with two teams' templates,
and Debian's headless Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy.orm import Session, sessionmaker

import migrations
from core.db import make_engine, session_factory
from registry import accounts, publishing, templates
from tests import factories
from tests.factories import OPERATOR, User
from tests.stack import Stack

CHROMIUM = os.environ.get("AUTOGLM_TEST_CHROMIUM", "/usr/bin/chromium")
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@dataclass
class Console:
    url: str
    sessions: sessionmaker[Session]
    alice: User  # maintainer of team a: weekly (v1, v2 active) and invoice
    bob: User  # maintainer of team b: secret-plan

    def token_for(self, name: str) -> tuple[int, str]:
        """A fresh token for `name`: (id, secret)."""
        with self.sessions() as session:
            issued = accounts.issue_token(session, OPERATOR, name)
            session.commit()
        return issued.id, issued.secret

    def revoke(self, token_id: int) -> None:
        with self.sessions() as session:
            accounts.revoke_token(session, OPERATOR, token_id)
            session.commit()


def template_text(name: str, version: str, category: str, description: str) -> bytes:
    return textwrap.dedent(
        f"""\
        name: {name}
        version: "{version}"
        category: {category}
        description: {description}
        variables:
          - name: title
            description: What the report is about.
          - name: week
            type: integer
            default: 1
        body: |
          # {{{{ title }}}} (week {{{{ week }}}})

          Plain text, no model needed.
        """
    ).encode()


def _seed(session: Session) -> tuple[User, User]:
    alice = factories.user(session, "alice", teams=["a"], roles=["maintainer"])
    bob = factories.user(session, "bob", teams=["b"], roles=["maintainer"])
    uploads = [
        ("weekly", "1", "reports", "The weekly status report.", "a"),
        ("weekly", "2", "reports", "The weekly status report, with a summary.", "a"),
        ("invoice", "1", "finance", "A customer invoice.", "a"),
        ("secret-plan", "1", "reports", "Team b only.", "b"),
    ]
    for name, version, category, description, team in uploads:
        raw = template_text(name, version, category, description)
        templates.upload(session, OPERATOR, raw, owner_team=team, max_bytes=64 * 1024)
        session.commit()
        publishing.activate(session, OPERATOR, name, version)
        session.commit()
    return alice, bob


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    root = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{root / 'autoglm.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    with factory() as session:
        alice, bob = _seed(session)
    stack = Stack(
        env={
            "AUTOGLM_DATABASE_URL": url,
            "AUTOGLM_ARTIFACT_DIR": str(root / "artifacts"),
            "AUTOGLM_BROKER_URL": "",
        },
        database_url=url,
        artifacts=root / "artifacts",
    )
    try:
        stack.serve()
        yield Console(stack.url, factory, alice, bob)
    finally:
        stack.stop()
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/bootstrap --dev (Debian's chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=LAPTOP)  # type: ignore[arg-type]
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, console: Console, token: str) -> None:
    page.goto(f"{console.url}/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{console.url}/console/templates")
