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
    return _unblock(_literal(" ".join(_clean(value).split())))


def paragraphs(value: Any) -> Markdown:
    """A value as escaped paragraphs separated by blank lines (for text on its own lines);
    `code` between backticks stays inline code, as the model (or a person) meant it."""
    parts = _PARAGRAPH_BREAK.split(_clean(value))
    return Markdown("\n\n".join(code_spans(p) for p in parts if p.strip()))


def code_spans(value: Any) -> Markdown:
    """A value as literal inline text, like `escape_markdown`, except that text between
    matching backtick runs (CommonMark's rule: the same number of backticks) becomes inline
    code. A code span cannot change the structure, so this is as safe; a span holding `|`
    stays escaped text, because a GFM table would split its cell there."""
    text = " ".join(_clean(value).split())
    pieces: list[str] = []
    done = 0
    for start, end, inner in _code_spans(text):
        pieces += [_literal(text[done:start]), code_span(inner)]
        done = end
    pieces.append(_literal(text[done:]))
    return Markdown(_unblock("".join(pieces)))  # a block marker can only open the text


def _code_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of each code span in `text`: a backtick run closed by the next
    run of the same length; an opener that nothing closes is literal text."""
    runs = list(_BACKTICKS.finditer(text))
    found: list[tuple[int, int, str]] = []
    i = 0
    while i < len(runs):
        opener = runs[i]
        closer = next(
            (j for j in range(i + 1, len(runs)) if len(runs[j].group()) == len(opener.group())),
            None,
        )
        if closer is None:
            i += 1
            continue
        inner = text[opener.end() : runs[closer].start()]
        if inner.strip() and "|" not in inner:
            found.append((opener.start(), runs[closer].end(), inner))
        i = closer + 1
    return found


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


def _literal(text: str) -> str:
    """Every inline Markdown marker in `text` escaped."""
    return _INLINE.sub(r"\\\1", text)


def _unblock(text: str) -> str:
    """A line start that would open a block (`-`, `>`, `1.`) escaped."""
    return _BLOCK_START.sub(lambda m: _escape_marker(m.group(1)), text)


def _escape_marker(marker: str) -> str:
    if marker[-1] in ".)":
        return marker[:-1] + "\\" + marker[-1]
    return "\\" + marker
