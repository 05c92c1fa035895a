"""Put untrusted text into Markdown without letting it change the document's structure."""

from __future__ import annotations

import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_INLINE = re.compile(r"([\\`*_\[\]<>|~&!#])")
_BLOCK_START = re.compile(r"^([>+=-]|\d+[.)])")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_BACKTICKS = re.compile(r"`+")
_LANGUAGE = re.compile(r"[^\w+#.-]")


class Markdown(str):
    """Text already in Markdown, inserted as is (filters return it; `markdown` marks trust)."""

    __slots__ = ()


def strip_control(text: str) -> str:
    """Drop control characters that are invalid in XML (DOCX) and meaningless in documents."""
    return _CONTROL.sub("", text)


def escape_markdown(value: Any) -> str:
    """A value as literal inline text: one line, every Markdown marker escaped.

    Newlines become spaces, so a value cannot end a list item, add a table row or a heading.
    """
    if isinstance(value, Markdown):
        return str(value)
    text = " ".join(_clean(value).split())
    text = _INLINE.sub(r"\\\1", text)
    return _BLOCK_START.sub(lambda m: _escape_marker(m.group(1)), text)


def paragraphs(value: Any) -> Markdown:
    """A value as escaped paragraphs separated by blank lines (for text on its own lines)."""
    parts = _PARAGRAPH_BREAK.split(_clean(value))
    return Markdown("\n\n".join(escape_markdown(p) for p in parts if p.strip()))


def code_span(value: Any) -> Markdown:
    """A value as inline code, fenced with more backticks than it contains."""
    text = " ".join(_clean(value).split())
    fence = "`" * (_longest_backticks(text) + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return Markdown(f"{fence}{padded}{fence}")


def code_block(value: Any, language: str = "") -> Markdown:
    """A value as a fenced code block that its own backticks cannot close (lines kept as is)."""
    text = _clean(value).rstrip("\n")
    fence = "`" * max(3, _longest_backticks(text) + 1)
    return Markdown(f"{fence}{_LANGUAGE.sub('', language)[:30]}\n{text}\n{fence}")


def _clean(value: Any) -> str:
    return "" if value is None else strip_control(str(value))


def _longest_backticks(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def _escape_marker(marker: str) -> str:
    if marker[-1] in ".)":
        return marker[:-1] + "\\" + marker[-1]
    return "\\" + marker
