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
