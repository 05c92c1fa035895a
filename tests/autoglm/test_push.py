"""`autoglm push` from a CI pipeline to a real registry server on PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from registry.models import Template
from tests import factories
from tests.autoglm.run import ROOT, autoglm
from tests.live import LiveRegistry, live_registry

SEEDS = sorted((ROOT / "templates").glob("*.yaml"))


@pytest.fixture(scope="module")
def registry() -> Iterator[tuple[LiveRegistry, dict[str, str]]]:
    with live_registry() as live, live.sessions() as session:
        ci = factories.user(session, "ci", teams=["docs"], roles=["maintainer"])
        env = {"AUTOGLM_REGISTRY_URL": live.url, "AUTOGLM_TOKEN": ci.token}
        yield live, env


def test_push_a_repository_of_templates_idempotently(
    registry: tuple[LiveRegistry, dict[str, str]], tmp_path: Path
) -> None:
    live, env = registry
    first = autoglm("push", *map(str, SEEDS), "--activate", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("pushed ") == len(SEEDS)
    with live.sessions() as session:
        active = {
            t.name: t.active_version.version if t.active_version else None
            for t in session.scalars(select(Template))
        }
    assert active["API接口文档"] == "1.2"
    assert len(active) == len(SEEDS) and None not in active.values()

    again = autoglm("push", *map(str, SEEDS), env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("unchanged ") == len(SEEDS)

    edited = tmp_path / "edited.yaml"
    shutil.copy(SEEDS[0], edited)
    edited.write_text(edited.read_text() + "\n# a change without a new version\n")
    clash = autoglm("push", str(edited), env=env)
    assert clash.returncode == 2
    assert "different content; versions are immutable, so bump `version`" in clash.stderr


def test_push_reports_each_bad_file_and_goes_on(
    registry: tuple[LiveRegistry, dict[str, str]], tmp_path: Path
) -> None:
    _live, env = registry
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nbody: [unclosed\n")
    good = tmp_path / "good.yaml"
    good.write_text(factories.template_yaml("pushed-after-a-failure", "1"))
    result = autoglm("push", str(broken), str(good), env=env)
    assert result.returncode == 2
    assert "pushed pushed-after-a-failure 1" in result.stdout
    assert f"error: {broken}: {broken} (line 3): invalid YAML" in result.stderr


def test_push_with_a_bad_token_or_no_registry(
    registry: tuple[LiveRegistry, dict[str, str]],
) -> None:
    _live, env = registry
    seed = str(SEEDS[0])
    refused = autoglm("push", seed, env=env | {"AUTOGLM_TOKEN": "agl_wrong"})
    assert refused.returncode == 2
    assert "registry refused (401): invalid, expired or revoked token" in refused.stderr
    missing = autoglm("push", seed, env=env | {"AUTOGLM_TOKEN": ""})
    assert missing.returncode == 2
    assert "no token" in missing.stderr
    down = autoglm("push", seed, "--url", "http://127.0.0.1:9", env=env)
    assert down.returncode == 1
    assert down.stderr.startswith("error: cannot reach the registry at http://127.0.0.1:9")
