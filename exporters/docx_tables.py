"""Markdown tables as Word tables: a shaded, bold header row that repeats on every page, optional
zebra rows, grid / rows / no borders, column widths from the content and column alignment
from the Markdown (`|---:|`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from docx.document import Document as WordDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Length, Pt
from docx.table import Table
from markdown_it.token import Token

from documents.layout import TableOptions
from exporters.docx_inline import InlineWriter
from exporters.docx_style import shade
from exporters.markdown_tree import column_weights

HEADER_FILL = "EEF2F6"  # as pdf.css
ZEBRA_FILL = "F6F8FA"
BORDER = {"val": "single", "sz": "4", "space": "0", "color": "D0D7DE"}
EDGES = ("top", "left", "bottom", "right", "insideH", "insideV")
DRAWN_EDGES = {"grid": set(EDGES), "rows": {"top", "bottom", "insideH"}, "none": set()}
ALIGNMENTS = {
    "left": WD_ALIGN_PARAGRAPH.LEFT,
    "center": WD_ALIGN_PARAGRAPH.CENTER,
    "right": WD_ALIGN_PARAGRAPH.RIGHT,
}


@dataclass
class TableShape:
    rows: int = 0
    cols: int = 1
    weights: list[int] = field(default_factory=list)


def table_shape(tokens: list[Token], start: int) -> TableShape:
    """Rows, columns and a width weight per column (`column_weights`)."""
    weights = column_weights(tokens, start)
    rows = 0
    for token in tokens[start:]:
        if token.type == "table_close":
            break
        rows += token.type == "tr_open"
    return TableShape(rows, max(len(weights), 1), weights)


def cell_alignment(token: Token) -> WD_ALIGN_PARAGRAPH | None:
    """markdown-it writes `style="text-align:right"` on th/td for `|---:|` columns."""
    style = str(token.attrGet("style") or "")
    return ALIGNMENTS.get(style.removeprefix("text-align:").strip())


@dataclass
class TableWriter:
    doc: WordDocument
    options: TableOptions
    width: Length
    inline: InlineWriter
    table: Table | None = None
    widths: list[Length] = field(default_factory=list)
    row: int = -1
    col: int = 0

    def start(self, tokens: list[Token], index: int) -> None:
        shape = table_shape(tokens, index)
        table = self.doc.add_table(rows=shape.rows, cols=shape.cols, style="Table Grid")
        table.autofit = False
        total = sum(shape.weights) or 1
        self.widths = [Length(int(self.width * weight / total)) for weight in shape.weights]
        for column, width in zip(table.columns, self.widths, strict=False):
            column.width = width
            for cell in column.cells:
                cell.width = width
        self._borders(table)
        self.table, self.row = table, -1

    def cell(self, tokens: list[Token], index: int) -> None:
        """Fill the next cell from its th/td token and the inline token after it."""
        if self.table is None:
            return
        token = tokens[index]
        header = self.row == 0 and self.options.header_row
        cell = self.table.cell(self.row, self.col)
        paragraph = cell.paragraphs[0]
        paragraph.paragraph_format.space_after = Pt(0)
        paragraph.paragraph_format.line_spacing = 1.15
        alignment = cell_alignment(token)
        if alignment is not None:
            paragraph.alignment = alignment
        # pictures in a cell fit the column inside its margins, not the page
        inline = replace(self.inline, max_width=Length(self.widths[self.col] - Pt(10)))
        inline.write(paragraph, tokens[index + 1], bold=header)
        zebra = self.options.zebra and self.row > 0 and self.row % 2 == 0
        if header or zebra:
            shade(cell._tc.get_or_add_tcPr(), HEADER_FILL if header else ZEBRA_FILL)
        self.col += 1

    def next_row(self) -> None:
        self.row, self.col = self.row + 1, 0
        if self.table is None:
            return
        tr_pr = self.table.rows[self.row]._tr.get_or_add_trPr()
        tr_pr.append(OxmlElement("w:cantSplit"))
        if self.row == 0 and self.options.header_row:
            tr_pr.append(OxmlElement("w:tblHeader"))  # repeat on every page

    def end(self) -> None:
        self.table = None

    def _borders(self, table: Table) -> None:
        drawn = DRAWN_EDGES[self.options.borders]
        borders = OxmlElement("w:tblBorders")
        for edge in EDGES:
            element = OxmlElement(f"w:{edge}")
            attributes = BORDER if edge in drawn else {"val": "nil"}
            for key, value in attributes.items():
                element.set(qn(f"w:{key}"), value)
            borders.append(element)
        margins = OxmlElement("w:tblCellMar")
        for side, twips in (("top", 40), ("left", 100), ("bottom", 40), ("right", 100)):
            margin = OxmlElement(f"w:{side}")
            margin.set(qn("w:w"), str(twips))
            margin.set(qn("w:type"), "dxa")
            margins.append(margin)
        tbl_pr = table._tbl.tblPr
        tbl_pr.insert_element_before(borders, "w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook")
        tbl_pr.insert_element_before(margins, "w:tblLook", "w:tblCaption", "w:tblDescription")
