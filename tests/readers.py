"""Independent readers for exported files: poppler for PDF, python-docx, mistune for Markdown."""

from __future__ import annotations

import html
import io
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docx
import mistune


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "read.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def pdf_pages(data: bytes, tmp_path: Path) -> list[str]:
    """The text of each page, in order (pdftotext ends every page with a form feed)."""
    return pdf_text(data, tmp_path).split("\f")[:-1]


@dataclass(frozen=True)
class Word:
    page: int  # 1-based
    text: str
    x_min: float
    y_min: float
    x_max: float
    y_max: float


_WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
)


def pdf_words(data: bytes, tmp_path: Path) -> list[Word]:
    """Every word with its page and bounding box in points, from `pdftotext -bbox`."""
    path = tmp_path / "words.pdf"
    path.write_bytes(data)
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-bbox", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    words = []
    for number, page in enumerate(out.split("<page ")[1:], start=1):
        for x0, y0, x1, y1, text in _WORD.findall(page):
            words.append(Word(number, html.unescape(text), *map(float, (x0, y0, x1, y1))))
    return words


def pdf_fonts(data: bytes, tmp_path: Path) -> list[dict[str, str]]:
    """Rows of `pdffonts`: name, type and whether embedded."""
    path = tmp_path / "fonts.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines()[2:]:
        parts = line.split()
        rows.append({"name": parts[0], "emb": parts[-5]})
    return rows


def squash(text: str) -> str:
    """Whitespace removed, so text wrapped across lines by the PDF layout still matches."""
    return re.sub(r"\s+", "", text)


def markdown_ast(text: str) -> list[dict[str, Any]]:
    parse = mistune.create_markdown(renderer="ast", plugins=["table", "strikethrough"])
    return parse(text)  # type: ignore[return-value]


def markdown_headings(text: str) -> list[tuple[int, str]]:
    """(level, text) of every heading, by an independent CommonMark parser."""
    found: list[tuple[int, str]] = []

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            if node["type"] == "heading":
                found.append((node["attrs"]["level"], _text(node)))
            walk(node.get("children", []))

    walk(markdown_ast(text))
    return found


def _text(node: dict[str, Any]) -> str:
    if "raw" in node:
        return str(node["raw"])
    return "".join(_text(child) for child in node.get("children", []))


def open_docx(data: bytes) -> Any:
    return docx.Document(io.BytesIO(data))


def node_types(nodes: list[dict[str, Any]]) -> set[str]:
    """Every node type in a mistune AST, at any depth."""
    types: set[str] = set()
    for node in nodes:
        types.add(node["type"])
        types |= node_types(node.get("children", []))
    return types


def plain_text(nodes: list[dict[str, Any]]) -> str:
    return "".join(_text(node) for node in nodes)
