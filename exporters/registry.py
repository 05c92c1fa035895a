"""The exporter registry: canonical format names, their aliases, file extensions and media types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.errors import UserError
from documents.document import Document
from documents.spec import FORMAT_ALIASES
from exporters.docx import export_docx
from exporters.markdown import export_markdown
from exporters.pdf import export_pdf


@dataclass(frozen=True)
class Exporter:
    name: str
    extension: str
    media_type: str
    export: Callable[[Document], bytes]


EXPORTERS: dict[str, Exporter] = {
    "pdf": Exporter("pdf", "pdf", "application/pdf", export_pdf),
    "docx": Exporter(
        "docx",
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        export_docx,
    ),
    "md": Exporter("md", "md", "text/markdown; charset=utf-8", export_markdown),
}


def get_exporter(name: str) -> Exporter:
    """Look up by canonical name or alias (`word` -> docx, `markdown` -> md)."""
    canonical = FORMAT_ALIASES.get(name.strip().lower())
    if canonical is None:
        raise UserError(f"unknown format {name!r} (known: {', '.join(sorted(FORMAT_ALIASES))})")
    return EXPORTERS[canonical]


def resolve_formats(names: list[str]) -> list[str]:
    """Canonical names for ``names``, in order without repeats; all problems reported at once."""
    problems, found = [], []
    for name in names:
        try:
            found.append(get_exporter(name).name)
        except UserError as exc:
            problems.extend(exc.problems)
    if problems:
        raise UserError(problems)
    return list(dict.fromkeys(found))
