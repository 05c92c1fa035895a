"""Layout options a template author controls: TOC, running header and footer, cover, page
breaks, tables, fonts, watermark, metadata and PDF variants. Each exporter uses what applies."""

from __future__ import annotations

import re
import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CSS_LENGTH = re.compile(r"^\d+(\.\d+)?(mm|cm|in|pt|px|pc)$")
FONT_SIZE = re.compile(r"^\d+(\.\d+)?pt$")
PLACEHOLDERS = ("title", "page", "pages")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_running_text(value: str | None) -> str | None:
    """Header/footer text: plain text with `{title}`, `{page}` and `{pages}`; `{{`/`}}` are
    literal braces. Anything else in braces is refused, naming the placeholder."""
    if value is None:
        return None
    if _CONTROL.search(value):
        raise ValueError("header and footer text cannot hold control characters")
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc} (write {{{{ and }}}} for literal braces)") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            raise ValueError(f"{value!r}: unknown placeholder {{{name}}} (known: {known})")
    return value


def running_parts(value: str, title: str) -> list[tuple[str, str]]:
    """Split running text into ("text", s) and ("counter", "page"|"pages") parts, `{title}`
    already replaced, so each exporter writes counters its own way (CSS counters, Word fields)."""
    parts: list[tuple[str, str]] = []
    for literal, name, _, _ in string.Formatter().parse(value):
        if literal:
            parts.append(("text", literal))
        if name == "title":
            parts.append(("text", title))
        elif name is not None:
            parts.append(("counter", name))
    return parts


class TocOptions(_Strict):
    """Where the table of contents goes, how deep it lists headings, and its title."""

    position: Literal["after_title", "none"] = Field(
        default="after_title",
        description="after_title: after the cover page when there is one, else after the "
        "title block (the first level-1 heading and the text before the next heading).",
    )
    depth: int = Field(default=3, ge=1, le=6, description="Deepest heading level listed.")
    title: str | None = Field(
        default=None, max_length=100, description="Default: 目录 for Chinese text, else Contents."
    )

    def title_for(self, chinese: bool) -> str:
        """The title shown: the one given, else 目录 for a Chinese document, else Contents."""
        return self.title or ("目录" if chinese else "Contents")


class TableOptions(_Strict):
    """How Markdown tables look; column alignment comes from the Markdown (`|---:|`)."""

    header_row: bool = Field(default=True, description="Shade the first row and repeat it.")
    zebra: bool = Field(default=False, description="Shade every other body row.")
    borders: Literal["grid", "rows", "none"] = "grid"


class MetadataOptions(_Strict):
    """Document properties beyond title and author (PDF info and XMP, Word core properties)."""

    subject: str | None = Field(default=None, max_length=500)
    keywords: list[str] = Field(default_factory=list, max_length=30)

    @field_validator("subject")
    @classmethod
    def _plain(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL.search(value):
            raise ValueError("subject cannot hold control characters")
        return value

    @field_validator("keywords")
    @classmethod
    def _plain_keywords(cls, value: list[str]) -> list[str]:
        for keyword in value:
            if len(keyword) > 100 or _CONTROL.search(keyword) or "," in keyword:
                raise ValueError(
                    f"keyword {keyword[:40]!r} must be under 100 characters, without commas"
                )
        return value


# PDF/A-3 allows the provenance attachment (PDF/A-2 does not); the -a and /ua variants are tagged.
PdfVariant = Literal["pdf/a-3b", "pdf/a-3u", "pdf/a-3a", "pdf/ua-1"]
