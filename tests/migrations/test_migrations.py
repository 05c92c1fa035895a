from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import migrations
from core.db import make_engine
from registry.models import Base
from tests.database import fresh_database

TABLES = {
    "teams",
    "principals",
    "team_members",
    "roles",
    "role_grants",
    "api_tokens",
    "templates",
    "template_roles",
    "template_versions",
    "audit_log",
    "jobs",
    "job_artifacts",
    "schedules",
    "webhooks",
    "generation_cache",
    "job_field_progress",
    "job_callbacks",
}


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'autoglm.db'}"
    else:
        with fresh_database("autoglm_migrations") as url:
            yield url


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_round_trip(empty_url: str) -> None:
    assert migrations.current(empty_url) is None
    migrations.upgrade(empty_url)
    assert tables(empty_url) == TABLES
    assert migrations.current(empty_url) == migrations.head()
    migrations.downgrade(empty_url, "base")
    assert tables(empty_url) == set()
    assert migrations.current(empty_url) is None
    migrations.upgrade(empty_url)
    assert tables(empty_url) == TABLES


def test_migrations_match_the_models(empty_url: str) -> None:
    """A model change without a migration (or the reverse) fails here, on both databases."""
    migrations.upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("target", "without"),
    [
        ("0005", {"job_callbacks"}),
        ("0004", {"job_field_progress", "job_callbacks"}),
        ("0003", {"generation_cache", "job_field_progress", "job_callbacks"}),
        (
            "0002",
            {"schedules", "webhooks", "generation_cache", "job_field_progress", "job_callbacks"},
        ),
        (
            "0001",
            {"jobs", "job_artifacts", "schedules", "webhooks", "generation_cache"}
            | {"job_field_progress", "job_callbacks"},
        ),
    ],
)
def test_each_revision_downgrades_alone(empty_url: str, target: str, without: set[str]) -> None:
    migrations.upgrade(empty_url)
    migrations.downgrade(empty_url, target)
    assert tables(empty_url) == TABLES - without
    assert migrations.current(empty_url) == target
    migrations.upgrade(empty_url)
    assert tables(empty_url) == TABLES
