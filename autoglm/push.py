"""`autoglm push`: publish template files to a registry from CI/CD, idempotently.

Pushing a version that the registry already holds with the same bytes is a no-op, so a
pipeline can push a whole repository of templates on every commit.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer

from autoglm.exits import EXIT_INTERNAL, exits_cleanly
from core.errors import UserError
from core.settings import get_settings
from documents.loader import load_template_text

TIMEOUT_S = 30.0


@exits_cleanly
def push(
    files: Annotated[list[Path], typer.Argument(help="Template YAML files.")],
    activate: Annotated[bool, typer.Option(help="Also make each pushed version active.")] = False,
    url: Annotated[
        str | None, typer.Option(help="Registry URL; default AUTOGLM_REGISTRY_URL.")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Bearer token; default AUTOGLM_TOKEN.", show_default=False)
    ] = None,
    team: Annotated[str | None, typer.Option(help="Owner team of new templates.")] = None,
) -> None:
    """Upload templates to the registry; exit 2 if any was refused, 1 if it was unreachable."""
    settings = get_settings()
    secret = token or settings.token
    if not secret:
        raise UserError("no token: pass --token or set AUTOGLM_TOKEN")
    problems: list[str] = []
    with httpx.Client(
        base_url=url or settings.registry_url,
        headers={"Authorization": f"Bearer {secret}"},
        timeout=TIMEOUT_S,
    ) as client:
        for path in files:
            try:
                print(_push_one(client, path, activate, team, settings.template_max_bytes))
            except UserError as exc:
                problems.extend(f"{path}: {p}" for p in exc.problems)
            except httpx.TransportError as exc:
                print(
                    f"error: cannot reach the registry at {client.base_url}: {exc}", file=sys.stderr
                )
                raise typer.Exit(EXIT_INTERNAL) from None
    if problems:
        raise UserError(problems)


def _push_one(
    client: httpx.Client, path: Path, activate: bool, team: str | None, max_bytes: int
) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read ({exc.strerror})") from None
    spec = load_template_text(raw, str(path), max_bytes).spec  # refuse locally what we can
    name, version = spec.name, spec.version
    params: dict[str, Any] = {"activate": activate}
    if team:
        params["owner_team"] = team
    response = client.post(
        "/templates", content=raw, params=params, headers={"Content-Type": "application/yaml"}
    )
    if response.status_code == httpx.codes.CREATED:
        return f"pushed {name} {version}" + (" (active)" if activate else "")
    if _error_code(response) != "version_exists":
        raise _refused(response)
    existing = client.get(f"/templates/{quote(name, safe='')}/versions/{quote(version, safe='')}")
    if existing.status_code != httpx.codes.OK:
        raise _refused(existing)
    if existing.json()["content_sha256"] != hashlib.sha256(raw).hexdigest():
        raise UserError(
            f"{name} {version} is already in the registry with different content; "
            "versions are immutable, so bump `version`"
        )
    if activate and not existing.json()["active"]:
        activated = client.post(
            f"/templates/{quote(name, safe='')}/active", json={"version": version}
        )
        if activated.status_code != httpx.codes.OK:
            raise _refused(activated)
        return f"unchanged {name} {version} (now active)"
    return f"unchanged {name} {version}"


def _error_code(response: httpx.Response) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def _refused(response: httpx.Response) -> Exception:
    if response.status_code >= httpx.codes.INTERNAL_SERVER_ERROR:
        return RuntimeError(f"registry answered {response.status_code}: {response.text[:200]}")
    try:
        problems = [str(p) for p in response.json()["error"]["problems"]]
    except (ValueError, KeyError, TypeError):
        problems = [response.text[:200]]
    return UserError([f"registry refused ({response.status_code}): {p}" for p in problems])
