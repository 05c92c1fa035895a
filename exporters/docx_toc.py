"""The table of contents: a TOC field whose result is already filled with the headings (linked
to bookmarks on them), so readers that never update fields still show a real contents list;
Word refreshes it, adding page numbers, when it opens the file.

The pre-filled entries carry no page numbers: only a layout engine knows them, and readers
that do not update fields (LibreOffice among them) would show a guess as if it were true."""

from __future__ import annotations

from collections.abc import Callable

from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph

from exporters.docx_fields import field_char, instruction, text_run
from exporters.markdown_tree import Heading

BOOKMARK_BASE = 100_000_000  # Word names its TOC bookmarks _Toc + a number


def heading_bookmark(index: int) -> str:
    """The bookmark of the ``index``-th heading, known before the heading is written."""
    return f"_Toc{BOOKMARK_BASE + index}"


def toc_entries(headings: list[Heading], depth: int) -> list[tuple[int, Heading]]:
    """(index among all headings, heading) of the headings the TOC lists."""
    return [(index, h) for index, h in enumerate(headings) if h.level <= depth]


def add_toc(
    new_paragraph: Callable[[str], Paragraph],
    headings: list[Heading],
    depth: int,
    title: str,
) -> bool:
    """Write the title and the field; False (nothing written) when no heading is listed."""
    entries = toc_entries(headings, depth)
    if not entries:
        return False
    new_paragraph("TOC Heading").add_run(title)
    for position, (index, heading) in enumerate(entries):
        paragraph = new_paragraph(f"toc {min(heading.level, 6)}")
        p = paragraph._p
        if position == 0:
            p.append(field_char("begin"))
            p.append(instruction(f'TOC \\o "1-{depth}" \\h \\z \\u'))
            p.append(field_char("separate"))
        link = OxmlElement("w:hyperlink")
        link.set(qn("w:anchor"), heading_bookmark(index))
        link.set(qn("w:history"), "1")
        link.append(text_run(heading.text))
        p.append(link)
        if position == len(entries) - 1:
            p.append(field_char("end"))
    return True
