from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import migrations
from core.db import make_engine
from core.settings import Settings
from documents.loader import LoadedTemplate, load_template_text
from generation.llama import LlamaEngine
from tests.database import fresh_database
from tests.kafka import Broker, tansu

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
# Tests that only need some real model output use the light bundled model (about 3x faster
# than the default): here and in every process they start. Tests of the default model set
# AUTOGLM_MODEL themselves.
os.environ.setdefault("AUTOGLM_MODEL", "smollm2")
# Webhook secrets are stored encrypted: one generated key for this run, here and in every
# process the tests start (a test of key handling passes its own Settings).
os.environ.setdefault("AUTOGLM_SECRET_KEYS", Fernet.generate_key().decode())


@pytest.fixture(scope="session")
def engine() -> LlamaEngine:
    """The real llama.cpp engine with the bundled model, loaded once for the whole run."""
    return LlamaEngine.from_settings(Settings(n_ctx=2048))


@pytest.fixture
def template() -> Callable[[str], LoadedTemplate]:
    """Load a template from an indented YAML snippet."""
    return lambda text: load_template_text(textwrap.dedent(text), "t.yaml")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database created for this test session and migrated to head."""
    with fresh_database() as url:
        migrations.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(pg_engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions inside one outer transaction that is rolled back after the test.

    Code under test may commit: with `create_savepoint` its commits end savepoints only.
    """
    with pg_engine.connect() as connection:
        outer = connection.begin()
        yield sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        outer.rollback()


@pytest.fixture
def session(db: sessionmaker[Session]) -> Iterator[Session]:
    with db() as s:
        yield s


@pytest.fixture
def kafka() -> Iterator[Broker]:
    """A real Kafka-protocol broker (tansu, in memory), one per test: it starts in
    milliseconds, and a shared one slows down (group joins of 10-30 s) after a test whose
    consumers went away."""
    with tansu() as broker:
        yield broker
