"""One CommonMark parser for every exporter, plus heading anchors for tables of contents."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


MIN_COLUMN = 4
MAX_COLUMN = 40

# CommonMark with tables and strikethrough; raw HTML is off, so it is shown as text.
MD = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def _table_open(self: RendererHTML, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    """`<table>` plus the `<colgroup>` an exporter put in the token's meta (PDF widths)."""
    colgroup: str = tokens[idx].meta.get("colgroup", "")
    return str(self.renderToken(tokens, idx, options, env)) + colgroup


MD.add_render_rule("table_open", _table_open)


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str


def parse(markdown: str) -> tuple[list[Token], list[Heading]]:
    """Tokens of ``markdown`` with an ``id`` on every heading, and the headings in order."""
    tokens = MD.parse(markdown)
    headings: list[Heading] = []
    used: set[str] = set()
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            text = tokens[index + 1].content
            anchor = _unique(_slug(text) or "section", used)
            token.attrSet("id", anchor)
            headings.append(Heading(int(token.tag[1]), _plain(tokens[index + 1]), anchor))
    return tokens, headings


def to_html(tokens: list[Token]) -> str:
    return str(MD.renderer.render(tokens, MD.options, {}))


def title_block_end(tokens: list[Token]) -> int:
    """Where the title block ends: the blocks up to the second top-level heading, when the
    first one is a level-1 heading (the document's title); 0 when there is no such title.
    Exporters put the cover page and the TOC there."""
    starts = [i for i, t in enumerate(tokens) if t.type == "heading_open" and t.level == 0]
    if not starts or tokens[starts[0]].tag != "h1":
        return 0
    return starts[1] if len(starts) > 1 else len(tokens)


def column_weights(tokens: list[Token], table_open: int) -> list[int]:
    """A width weight per column of the table starting at `table_open`: its longest cell in
    display columns (CJK counted double), kept between 4 and 40 so that no column vanishes
    and one long cell wraps instead of taking the table. Both page exporters size by it."""
    weights: list[int] = []
    column = 0
    for index in range(table_open + 1, len(tokens)):
        token = tokens[index]
        if token.type == "table_close":
            break
        if token.type == "tr_open":
            column = 0
        elif token.type in ("th_open", "td_open"):
            if column == len(weights):
                weights.append(MIN_COLUMN)
            width = min(MAX_COLUMN, display_width(tokens[index + 1].content))
            weights[column] = max(weights[column], width)
            column += 1
    return weights


def display_width(text: str) -> int:
    """Columns a text takes in a monospace grid: wide (CJK) characters count twice."""
    text = re.sub(r"[*_`~\\]", "", text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def _plain(inline: Token) -> str:
    return "".join(
        child.content for child in inline.children or [] if child.type in ("text", "code_inline")
    )


def _slug(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"[^\w]+", "-", text).strip("-")[:60]


def _unique(anchor: str, used: set[str]) -> str:
    candidate, n = anchor, 1
    while candidate in used:
        n += 1
        candidate = f"{anchor}-{n}"
    used.add(candidate)
    return candidate
