"""`autoglm`: render templates locally, run and administer the registry, publish to it.

Exit codes: 0 success, 2 bad template or input, 1 internal failure.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from autoglm import admin, database, push, serve
from autoglm.exits import exits_cleanly
from autoglm.inputs import parse_assignments, read_input_file
from autoglm.progress import FieldProgress
from core.errors import UserError
from core.logging import configure_logging
from core.settings import Settings, get_settings
from documents.inputs import inputs_from_text
from documents.loader import load_template_file
from documents.spec import template_json_schema
from exporters.registry import resolve_formats
from generation.llama import LlamaEngine
from generation.protocol import Generator
from workers.pipeline import export_files, fill_template

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.add_typer(database.app, name="db")
app.add_typer(admin.app, name="admin")
app.command(name="push")(push.push)
app.command(name="serve")(serve.serve)
err = Console(stderr=True)


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
    settings = get_settings()
    configure_logging(settings.log_level)
    loaded = load_template_file(template, settings.template_max_bytes)
    inputs: dict[str, Any] = read_input_file(input_file) if input_file else {}
    inputs.update(inputs_from_text(loaded.spec, parse_assignments(set_ or [])))
    chosen = resolve_formats(formats.split(",")) if formats else loaded.spec.formats
    base_seed = seed if seed is not None else settings.seed
    if base_seed is None:
        base_seed = secrets.randbelow(2**31)
    with FieldProgress(err) as progress:
        document = fill_template(
            loaded,
            inputs,
            _generator_factory(settings),
            settings,
            seed=base_seed,
            on_progress=progress,
        )
    for artifact in export_files(document, chosen, out or settings.output_dir):
        print(artifact.path)


def _generator_factory(settings: Settings) -> Callable[[], Generator]:
    return lambda: LlamaEngine.from_settings(settings)


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
