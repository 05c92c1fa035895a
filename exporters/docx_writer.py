"""Turns the flat markdown-it block token stream into Word paragraphs, lists, code and tables,
with page breaks placed on the next paragraph (never an empty page)."""

from __future__ import annotations

from dataclasses import dataclass, field

from docx.document import Document as WordDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt
from docx.text.paragraph import Paragraph
from markdown_it.token import Token

from documents.layout import TableOptions
from exporters.docx_fields import bookmark
from exporters.docx_inline import InlineWriter, only_images
from exporters.docx_lists import new_numbering, number_paragraph
from exporters.docx_style import CODE_STYLE, list_style, text_width
from exporters.docx_tables import TableWriter
from exporters.docx_toc import heading_bookmark

KEEP_CODE_LINES = 20  # shorter code blocks are kept on one page


@dataclass
class _List:
    style: str  # List Bullet / List Number
    num_id: int | None = None  # the numbering instance of an ordered list
    item_has_text: bool = False


@dataclass
class BlockWriter:
    doc: WordDocument
    assets: dict[str, bytes]
    tables: TableOptions
    break_level: str = "none"  # page_break_before: none | h1 | h2
    lists: list[_List] = field(default_factory=list)
    quote_depth: int = 0
    headings: int = 0
    started: bool = False  # anything written yet
    pending_break: bool = False  # the next paragraph starts a new page
    after_table: bool = False
    last: Paragraph | None = None  # the paragraph written last
    inline: InlineWriter = field(init=False)
    table: TableWriter = field(init=False)

    def __post_init__(self) -> None:
        width = text_width(self.doc)
        self.inline = InlineWriter(self.assets, width)
        self.table = TableWriter(self.doc, self.tables, width, self.inline)

    def page_break(self) -> None:
        """Start a new page before whatever comes next, if anything came before."""
        self.pending_break = self.started

    def paragraph(self, style: str | None = None) -> Paragraph:
        """A new paragraph, taking a pending page break and space after a table."""
        paragraph = self.doc.add_paragraph(style=style)
        if self.pending_break:
            paragraph.paragraph_format.page_break_before = True
        elif self.after_table:
            paragraph.paragraph_format.space_before = Pt(8)
        self.started, self.pending_break, self.after_table = True, False, False
        self.last = paragraph
        return paragraph

    def block(self, tokens: list[Token], index: int) -> None:
        token = tokens[index]
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            self._open_list(token)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
            if not self.lists and self.last is not None:  # the space a paragraph has below
                self.last.paragraph_format.space_after = self.doc.styles[
                    "Normal"
                ].paragraph_format.space_after
        elif kind == "list_item_open":
            self.lists[-1].item_has_text = False
        elif kind == "blockquote_open":
            self.quote_depth += 1
        elif kind == "blockquote_close":
            self.quote_depth -= 1
        elif kind == "heading_open":
            self._heading(token, tokens[index + 1])
        elif kind == "paragraph_open" and self.table.table is None:
            self._paragraph(tokens[index + 1])
        elif kind in ("fence", "code_block"):
            self._code(token.content)
        elif kind == "hr":
            rule = self.paragraph()
            rule.add_run("⁂")
            rule.alignment = WD_ALIGN_PARAGRAPH.CENTER
        else:
            self._table(tokens, index)

    def _open_list(self, token: Token) -> None:
        if token.type == "bullet_list_open":
            self.lists.append(_List("List Bullet"))
            return
        start = int(token.attrGet("start") or 1)
        style = list_style("List Number", len(self.lists) + 1)
        self.lists.append(_List("List Number", new_numbering(self.doc, style, start)))

    def _heading(self, token: Token, inline: Token) -> None:
        level = int(token.tag[1])
        if self.break_level == token.tag:
            self.page_break()
        heading = self.paragraph(f"Heading {level}")
        self.inline.write(heading, inline)
        bookmark(heading, heading_bookmark(self.headings), self.headings + 1)
        self.headings += 1

    def _paragraph(self, inline: Token) -> None:
        current = self.lists[-1] if self.lists else None
        if current is None:
            paragraph = self.paragraph("Quote" if self.quote_depth else "Normal")
        elif current.item_has_text:  # the item's further paragraphs: indented, unnumbered
            paragraph = self.paragraph(list_style("List Continue", len(self.lists)))
        else:
            current.item_has_text = True
            paragraph = self.paragraph(list_style(current.style, len(self.lists)))
            if current.num_id is not None:
                number_paragraph(paragraph, current.num_id)
        if only_images(inline):
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        self.inline.write(paragraph, inline)

    def _code(self, content: str) -> None:
        """One paragraph per line (blank lines kept), short blocks kept on one page."""
        lines = content.removesuffix("\n").split("\n")
        keep = len(lines) <= KEEP_CODE_LINES
        for number, line in enumerate(lines, start=1):
            paragraph = self.paragraph(CODE_STYLE)
            paragraph.add_run(line.replace("\t", "    "))
            layout = paragraph.paragraph_format
            if number == 1:
                layout.space_before = Pt(4)
            if number == len(lines):
                layout.space_after = Pt(8)
            elif keep:
                layout.keep_with_next = True

    def _table(self, tokens: list[Token], index: int) -> None:
        kind = tokens[index].type
        if kind == "table_open":
            if self.pending_break:  # a table cannot carry the break itself
                self.paragraph()
            self.table.start(tokens, index)
            self.started = True
        elif kind == "table_close":
            self.table.end()
            self.after_table = True
        elif kind == "tr_open":
            self.table.next_row()
        elif kind in ("th_open", "td_open"):
            self.table.cell(tokens, index)
