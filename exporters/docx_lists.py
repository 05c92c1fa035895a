"""Numbered lists that restart where the Markdown restarts them: each ordered list gets its own
numbering instance (a new `w:num` over the style's abstract numbering, with a start override),
as Word itself does for "restart at"."""

from __future__ import annotations

from docx.document import Document as WordDocument
from docx.text.paragraph import Paragraph


def new_numbering(doc: WordDocument, style_name: str, start: int) -> int:
    """A fresh numbering instance for ``style_name`` (`List Number`, `List Number 2` ...)
    that counts from ``start``; returns its numId."""
    numbering = doc.part.numbering_part.element
    style_num = doc.styles[style_name].element.pPr.numPr.numId.val
    abstract = numbering.num_having_numId(style_num).abstractNumId.val
    num = numbering.add_num(abstract)
    num.add_lvlOverride(ilvl=0).add_startOverride(start)
    return int(num.numId)


def number_paragraph(paragraph: Paragraph, num_id: int) -> None:
    """Point an item's paragraph at its list's numbering instance (level 0 of its style's
    single-level numbering)."""
    num_pr = paragraph._p.get_or_add_pPr().get_or_add_numPr()
    num_pr.get_or_add_ilvl().val = 0
    num_pr.get_or_add_numId().val = num_id
