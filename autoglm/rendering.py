"""The local render behind `autoglm render`: load, fill with the model, export to files."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from rich.console import Console

from autoglm.inputs import parse_assignments, read_input_file
from autoglm.progress import FieldProgress
from core.settings import Settings
from documents.inputs import inputs_from_text
from documents.loader import load_template_file
from exporters.registry import resolve_formats
from generation.router import router_for
from workers.pipeline import export_files, fill_template


def render_file(
    template: Path,
    assignments: list[str],
    input_file: Path | None,
    formats: str | None,
    out: Path | None,
    seed: int | None,
    settings: Settings,
) -> list[Path]:
    """Render one template file; return the paths written."""
    loaded = load_template_file(template, settings.template_max_bytes)
    inputs: dict[str, Any] = read_input_file(input_file) if input_file else {}
    inputs.update(inputs_from_text(loaded.spec, parse_assignments(assignments)))
    chosen = resolve_formats(formats.split(",")) if formats else loaded.spec.formats
    base_seed = seed if seed is not None else settings.seed
    if base_seed is None:
        base_seed = secrets.randbelow(2**31)
    with FieldProgress(Console(stderr=True)) as progress:
        document = fill_template(
            loaded,
            inputs,
            lambda: router_for(settings),
            settings,
            seed=base_seed,
            on_progress=progress,
        )
    return [a.path for a in export_files(document, chosen, out or settings.output_dir)]
