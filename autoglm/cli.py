"""`autoglm`: render templates locally, run and administer the registry, publish to it.

Exit codes: 0 success, 2 bad template or input, 1 internal failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from autoglm import admin, bridge, database, push, scheduler, serve, worker
from autoglm.exits import exits_cleanly
from core.errors import UserError
from core.logging import configure_logging
from core.settings import get_settings
from documents.loader import load_template_file
from documents.spec import template_json_schema

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.add_typer(database.app, name="db")
app.add_typer(admin.app, name="admin")
app.command(name="push")(push.push)
app.command(name="serve")(serve.serve)
app.command(name="worker")(worker.worker)
app.command(name="scheduler")(scheduler.scheduler)
app.command(name="bridge")(bridge.bridge)


@app.command()
@exits_cleanly
def render(
    template: Annotated[Path, typer.Argument(help="Template YAML file.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", "-s", help="Input as key=value (repeatable).")
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", "-i", help="Inputs from a JSON or YAML file.")
    ] = None,
    formats: Annotated[
        str | None, typer.Option("--format", "-f", help="Comma-separated: pdf,docx,md.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder.")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Base seed; the same seed repeats a run.")
    ] = None,
) -> None:
    """Render TEMPLATE to PDF, Word and/or Markdown and print the artifact paths."""
    # Imported here so that `autoglm admin`, `push` and `db` do not pay for loading
    # llama.cpp and WeasyPrint.
    from autoglm.rendering import render_file  # noqa: PLC0415

    settings = get_settings()
    configure_logging(settings.log_level)
    for path in render_file(template, set_ or [], input_file, formats, out, seed, settings):
        print(path)


@app.command()
@exits_cleanly
def validate(
    files: Annotated[list[Path], typer.Argument(help="Template YAML files.")],
) -> None:
    """Check templates; exit 0 when all are valid, 2 with one line per problem otherwise."""
    problems: list[str] = []
    for path in files:
        try:
            loaded = load_template_file(path, get_settings().template_max_bytes)
            print(f"ok: {path}: {loaded.spec.name} {loaded.spec.version}")
        except UserError as exc:
            problems.extend(exc.problems)
    if problems:
        raise UserError(problems)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the template format (for editor completion and CI linting)."""
    print(json.dumps(template_json_schema(), indent=2, ensure_ascii=False))
