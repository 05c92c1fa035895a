"""Word fields (PAGE, NUMPAGES, TOC, PAGEREF) and bookmarks as raw WordprocessingML.

A field is begin / instruction / separate / result / end runs; the result is what readers that
do not recompute fields show, so callers always give a real one."""

from __future__ import annotations

from collections.abc import Iterator

from docx.document import Document as WordDocument
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.text.paragraph import Paragraph


def field_char(kind: str) -> BaseOxmlElement:
    """A run holding one `w:fldChar` (begin, separate or end)."""
    run = OxmlElement("w:r")
    char = OxmlElement("w:fldChar")
    char.set(qn("w:fldCharType"), kind)
    run.append(char)
    return run


def instruction(text: str) -> BaseOxmlElement:
    run = OxmlElement("w:r")
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {text} "
    run.append(instr)
    return run


def text_run(text: str) -> BaseOxmlElement:
    run = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.set(qn("xml:space"), "preserve")
    t.text = text
    run.append(t)
    return run


def field_runs(code: str, result: str) -> Iterator[BaseOxmlElement]:
    """The five runs of a simple field with ``result`` as its current value."""
    yield field_char("begin")
    yield instruction(code)
    yield field_char("separate")
    yield text_run(result)
    yield field_char("end")


def add_field(paragraph: Paragraph, code: str, result: str) -> None:
    """Append a field (PAGE, NUMPAGES ...) to ``paragraph``; the runs take its last run's
    formatting from the paragraph style."""
    for run in field_runs(code, result):
        paragraph._p.append(run)


def bookmark(paragraph: Paragraph, name: str, bookmark_id: int) -> None:
    """Wrap the paragraph's content in bookmark ``name`` (TOC links and PAGEREF target it)."""
    start = OxmlElement("w:bookmarkStart")
    start.set(qn("w:id"), str(bookmark_id))
    start.set(qn("w:name"), name)
    end = OxmlElement("w:bookmarkEnd")
    end.set(qn("w:id"), str(bookmark_id))
    p_pr = paragraph._p.pPr
    if p_pr is None:
        paragraph._p.insert(0, start)
    else:
        p_pr.addnext(start)
    paragraph._p.append(end)


def request_field_update(doc: WordDocument) -> None:
    """Ask Word to refresh fields (TOC page numbers) when the file opens; placed where the
    schema wants it (before `w:compat`), as Word is strict about element order here."""
    settings = doc.settings.element
    if settings.find(qn("w:updateFields")) is None:
        update = OxmlElement("w:updateFields")
        update.set(qn("w:val"), "true")
        settings.insert_element_before(
            update, "w:hdrShapeDefaults", "w:footnotePr", "w:endnotePr", "w:compat", "w:rsids"
        )
