"""Inline Markdown as Word runs: bold, italic, strikethrough, code, links, breaks, and images
from the document's assets embedded as pictures (an SVG chart by its PNG twin)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from posixpath import normpath
from urllib.parse import unquote, urlsplit

from docx.shared import Length
from docx.text.paragraph import Paragraph
from markdown_it.token import Token

from exporters.docx_style import MONO_FONT, set_run_fonts

PICTURE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")


def asset_name(src: str) -> str | None:
    """The asset a relative URL names, as the PDF exporter's fetcher resolves it; None for
    absolute URLs and paths that climb out of the template folder."""
    parts = urlsplit(src)
    if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
        return None
    name = normpath(unquote(parts.path))
    return None if name.startswith("..") else name


def picture_data(assets: dict[str, bytes], src: str) -> bytes | None:
    """PNG, JPEG or GIF bytes for ``src``; an `.svg` is taken from its `.png` twin."""
    name = asset_name(src)
    if name is None:
        return None
    if name.lower().endswith(".svg"):
        name = name[:-4] + ".png"
    data = assets.get(name)
    if data is None or not data.startswith(PICTURE_MAGIC):
        return None
    return data


def only_images(inline: Token) -> bool:
    """A paragraph that is just a picture (a chart, a figure) is centred."""
    children = inline.children or []
    kinds = {c.type for c in children if not (c.type == "text" and not c.content.strip())}
    return kinds == {"image"}


@dataclass
class InlineWriter:
    """Writes one inline token's children into a paragraph."""

    assets: dict[str, bytes]
    max_width: Length

    def write(self, paragraph: Paragraph, inline: Token, bold: bool = False) -> None:
        state = {"strong": bold, "em": False, "s": False, "link": False}
        for child in inline.children or []:
            kind = child.type
            if kind.endswith("_open") or kind.endswith("_close"):
                name = kind.rsplit("_", 1)[0]
                if name in state:
                    state[name] = kind.endswith("_open") or (name == "strong" and bold)
                continue
            if kind == "softbreak":
                paragraph.add_run(" ")
            elif kind == "hardbreak":
                paragraph.add_run().add_break()
            elif kind == "image" and self.picture(paragraph, child):
                continue
            elif kind in ("text", "code_inline", "image"):
                run = paragraph.add_run(child.content)
                run.bold, run.italic = state["strong"] or None, state["em"] or None
                run.font.strike = state["s"] or None
                run.underline = state["link"] or None
                if kind == "code_inline":
                    set_run_fonts(run._r.get_or_add_rPr(), MONO_FONT)

    def picture(self, paragraph: Paragraph, image: Token) -> bool:
        """Embed the image if it is a usable asset, scaled down to the text width, with the
        alt text as its description; False leaves the alt text to the caller."""
        data = picture_data(self.assets, str(image.attrGet("src") or ""))
        if data is None:
            return False
        try:
            shape = paragraph.add_run().add_picture(io.BytesIO(data))
        except Exception:  # a damaged file: python-docx raises several kinds; show the alt text
            paragraph._p.remove(paragraph.runs[-1]._r)
            return False
        if shape.width > self.max_width:
            shape.height = Length(int(shape.height * self.max_width / shape.width))
            shape.width = self.max_width
        doc_pr = shape._inline.docPr
        doc_pr.set("descr", "".join(c.content for c in image.children or []))
        title = image.attrGet("title")
        if title:
            doc_pr.set("title", str(title))
        return True
