"""Word exports as another office suite lays them out: each document is converted to PDF once by
LibreOffice (headless, private profile), and the PDF is read back with poppler and pypdf.

LibreOffice updates no fields on conversion except page counters, so this is also what any
reader that does not refresh fields shows: the TOC must already be filled."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from PIL import Image
from pypdf import PdfReader

from documents.document import Document
from exporters.docx import export_docx
from exporters.markdown_tree import has_cjk
from tests.exporters.docx_samples import GENERATED, ZH_SENTENCES, rich_document, template_document
from tests.readers import markdown_headings, squash

CONVERT_TIMEOUT = 240  # seconds, for all documents in one LibreOffice run
ALL = ["zh", "en", *GENERATED]


class Word(NamedTuple):
    text: str
    x0: float
    x1: float
    y0: float


@dataclass
class Converted:
    """One document's PDF as LibreOffice wrote it, with lazily read views of it."""

    document: Document
    pdf: Path

    def _run(self, *args: str) -> str:
        command = [*args, str(self.pdf), "-"]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    @cached_property
    def pages(self) -> list[str]:
        return self._run("pdftotext", "-enc", "UTF-8").split("\f")[:-1]

    @cached_property
    def layout_pages(self) -> list[str]:
        return self._run("pdftotext", "-enc", "UTF-8", "-layout").split("\f")[:-1]

    @cached_property
    def words(self) -> list[list[Word]]:
        """Per page, every word with its box, from `pdftotext -bbox`."""
        html = self._run("pdftotext", "-enc", "UTF-8", "-bbox")
        pattern = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)"[^>]*>([^<]*)<')
        return [
            [
                Word(text, float(x0), float(x1), float(y0))
                for x0, y0, x1, text in pattern.findall(page)
            ]
            for page in html.split("<page ")[1:]
        ]

    @cached_property
    def reader(self) -> PdfReader:
        return PdfReader(self.pdf)

    def info(self) -> str:
        return subprocess.run(
            ["pdfinfo", str(self.pdf)], capture_output=True, text=True, check=True
        ).stdout


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Converted]:
    """Every sample and shipped template, exported and converted in a single LibreOffice run."""
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice is missing: scripts/bootstrap --dev installs it"
    folder = tmp_path_factory.mktemp("libreoffice")
    documents = {
        "zh": rich_document("zh"),
        "en": rich_document("en"),
        **{name: template_document(name) for name in GENERATED},
    }
    for name, document in documents.items():
        (folder / f"{name}.docx").write_bytes(export_docx(document))
    profile = (folder / "lo-profile").as_uri()
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(folder),
            *(str(folder / f"{name}.docx") for name in documents),
        ],
        capture_output=True,
        check=True,
        timeout=CONVERT_TIMEOUT,
    )
    return {name: Converted(doc, folder / f"{name}.pdf") for name, doc in documents.items()}


def _lines(page: str) -> list[str]:
    return [line for line in page.splitlines() if line.strip()]


def _toc_title(doc: Converted) -> str | None:
    toc = doc.document.options.toc_options
    if toc.position == "none":
        return None
    return toc.title or ("目录" if has_cjk(doc.document.markdown) else "Contents")


def _toc_page(doc: Converted) -> int:
    """Index of the page that holds the table of contents."""
    title = _toc_title(doc)
    found = [i for i, page in enumerate(doc.pages) if title in page.splitlines()]
    assert len(found) == 1, f"TOC title {title!r} on pages {found}"
    return found[0]


@pytest.mark.parametrize("name", ALL)
def test_headings_appear_in_order(converted: dict[str, Converted], name: str) -> None:
    doc = converted[name]
    pages = list(doc.pages)
    title = _toc_title(doc)
    if title is not None:  # only the text before the TOC title, so entries do not count
        toc = _toc_page(doc)
        pages[toc] = pages[toc].split(f"\n{title}\n")[0]
    text, position = squash("".join(pages)), 0
    for _, heading in markdown_headings(doc.document.markdown):
        found = text.find(squash(heading), position)
        assert found >= 0, f"{heading!r} missing or out of order in {name}"
        position = found + len(squash(heading))


@pytest.mark.parametrize(("name", "depth"), [("zh", 3), ("en", 2), ("api_reference", 3)])
def test_toc_page_lists_the_headings(
    converted: dict[str, Converted], name: str, depth: int
) -> None:
    doc = converted[name]
    page = doc.pages[_toc_page(doc)]
    entries = [squash(line) for line in page.splitlines() if line.strip()]
    headings = markdown_headings(doc.document.markdown)
    listed = [squash(text) for level, text in headings if level <= depth]
    start = entries.index(squash(_toc_title(doc) or "")) + 1
    assert entries[start : start + len(listed)] == listed
    deeper = [squash(text) for level, text in headings if level > depth]
    assert not set(deeper) & set(entries[start:])


def test_cover_page_holds_only_the_title_block(converted: dict[str, Converted]) -> None:
    cover = squash(converted["zh"].pages[0])
    assert cover == squash(f"季度运营报告{ZH_SENTENCES[0]} The figures are final.")
    assert _lines(converted["zh"].pages[1])[:2] == ["季度运营报告", "目录"]


def test_page_counters_and_header_render_with_real_numbers(
    converted: dict[str, Converted],
) -> None:
    zh = converted["zh"]
    total = len(zh.pages)
    assert total >= 4
    for number, page in enumerate(zh.pages[1:], start=2):
        assert f"第{number}页/共{total}页" in squash(page)
        assert page.startswith("季度运营报告\n")
    en = converted["en"]
    total = len(en.pages)
    assert "Pageof" not in squash(en.pages[0])  # first_page_footer is empty
    assert en.pages[0].startswith("Quarterly Operations Report (internal)\n")
    for number, page in enumerate(en.pages[1:], start=2):
        assert f"Page {number} of {total}" in page
    api = converted["api_reference"]
    pages = len(api.pages)
    assert pages >= 2
    assert [squash(p.splitlines()[-1]) for p in api.layout_pages] == [
        f"{n}/{pages}" for n in range(1, pages + 1)
    ]


def test_page_break_before_every_h2(converted: dict[str, Converted]) -> None:
    en = converted["en"]
    for heading in ("Overview", "Release steps", "Code", "Chart"):
        starts = [p for p in en.pages if _lines(p)[1:2] == [heading]]
        assert len(starts) == 1, f"{heading} does not open a page"


def _line_with(layout: str, *cells: str) -> bool:
    """Whether one layout line holds ``cells`` left to right."""
    pattern = r"\s+".join(re.escape(cell) for cell in cells)
    return any(re.search(pattern, line) for line in layout.splitlines())


def test_numbered_lists_restart_and_keep_their_start(converted: dict[str, Converted]) -> None:
    layout = "\n".join(converted["zh"].layout_pages)
    for number, item in [
        (1, "冻结代码"), (2, "运行迁移"), (3, "通知用户"),
        (1, "备份数据库"), (2, "升级服务"), (3, "第三项"), (4, "第四项"),
    ]:  # fmt: skip
        assert _line_with(layout, f"{number}.", item), item
    english = "\n".join(converted["en"].layout_pages)
    assert _line_with(english, "1.", "Back up the database")
    assert _line_with(english, "2.", "Upgrade the service")


def test_nested_bullets_are_indented_deeper(converted: dict[str, Converted]) -> None:
    page = next(p for p in converted["zh"].words if any(w.text == "前端" for w in p))
    x = {w.text: w.x0 for w in page}
    assert x["前端"] < x["升级框架"] < x["第三层"]
    assert x["升级框架"] == pytest.approx(x["缩小包体积"])
    assert x["前端"] == pytest.approx(x["后端"])


def test_table_cells_in_row_order_and_numbers_right_aligned(
    converted: dict[str, Converted],
) -> None:
    layout = "\n".join(converted["zh"].layout_pages)
    rows = [
        ("指标", "数值", "变化"),
        ("请求数", "1,234,567", "+12%"),
        ("错误率", "0.05%", "-0.01%"),
        ("延迟", "p99", "180", "ms", "-240", "ms"),
        ("可用性", "99.95%", "+0.02%"),
    ]
    lines = [
        i for i, line in enumerate(layout.splitlines()) for row in rows if _line_with(line, *row)
    ]
    assert len(lines) == len(rows) and lines == sorted(lines)
    page = next(p for p in converted["zh"].words if any(w.text == "1,234,567" for w in p))
    right = {w.text: w.x1 for w in page}
    left = {w.text: w.x0 for w in page}
    assert (
        max(right[v] for v in ("数值", "1,234,567", "0.05%", "99.95%"))
        - min(right[v] for v in ("数值", "1,234,567", "0.05%", "99.95%"))
        < 1.0
    )
    assert (
        max(left[v] for v in ("指标", "请求数", "错误率", "可用性"))
        - min(left[v] for v in ("指标", "请求数", "错误率", "可用性"))
        < 1.0
    )
    api = "\n".join(converted["api_reference"].layout_pages)
    assert _line_with(api, "GET", "/api/v1/users", "分页列出用户，支持按名称过滤。")
    assert _line_with(api, "DELETE", "/api/v1/users/{id}", "删除用户（需要管理员权限）。")


def _fonts_of(doc: Converted, needles: tuple[str, ...]) -> dict[str, Any]:
    """The font object that draws each text in ``needles`` (the first run containing it)."""
    found: dict[str, Any] = {}

    def visit(text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        for needle in needles:
            if needle in text and needle not in found and font is not None:
                found[needle] = font

    for page in doc.reader.pages:
        page.extract_text(visitor_text=visit)
    return found


def _advance_widths(font: Any) -> set[float]:
    widths = font.get_object().get("/Widths")
    assert widths is not None, "expected a simple font with a /Widths array"
    return {float(w) for w in widths if float(w) > 0}


@pytest.mark.parametrize(
    ("name", "code", "prose"),
    [
        ("zh", "def total(values):", "The figures are final."),
        ("en", "for value in values:", "The service stayed stable all quarter."),
        ("api_reference", "curl -H", "本文档介绍用户服务的三个接口"),
    ],
)
def test_code_lines_are_set_in_a_monospace_font(
    converted: dict[str, Converted], name: str, code: str, prose: str
) -> None:
    doc = converted[name]
    fonts = _fonts_of(doc, (code, prose))
    assert code in fonts and prose in fonts
    mono, body = fonts[code].get_object(), fonts[prose].get_object()
    assert mono["/BaseFont"] != body["/BaseFont"]
    assert len(_advance_widths(mono)) == 1  # every glyph of the code font is equally wide
    assert len(_advance_widths(body)) > 3
    rows = subprocess.run(["pdffonts", str(doc.pdf)], capture_output=True, text=True).stdout
    listed = {line.split()[0]: line.split()[-5] for line in rows.splitlines()[2:]}
    assert listed[str(mono["/BaseFont"]).lstrip("/")] == "yes"  # embedded


def test_code_block_keeps_its_blank_line_and_stays_on_one_page(
    converted: dict[str, Converted],
) -> None:
    starts = ["def", "result", "for", "result", "return"]  # the blank line is after line 2
    code = []
    for page in converted["zh"].words:
        first: dict[float, Word] = {}  # the first word of every line
        for word in page:
            if word.y0 not in first or word.x0 < first[word.y0].x0:
                first[word.y0] = word
        lines = [w for w in first.values() if w.text in starts]
        if [w.text for w in lines] == starts:
            code.append(lines)
    assert len(code) == 1, "the code block is split or its lines are missing"
    tops = [w.y0 for w in code[0]]
    steps = [b - a for a, b in itertools.pairwise(tops)]
    line = steps[0]
    assert steps[1] == pytest.approx(2 * line, rel=0.1)  # one empty line between
    assert steps[2:] == pytest.approx([line, line], rel=0.1)


def test_chinese_text_is_intact(converted: dict[str, Converted]) -> None:
    text = squash("".join(converted["zh"].pages))
    for sentence in ZH_SENTENCES:
        assert squash(sentence) in text
    api = squash("".join(converted["api_reference"].pages))
    for sentence in (
        "本文档介绍用户服务的三个接口。",
        "创建用户，返回新用户的ID。",
        "页码，从1开始",
    ):
        assert squash(sentence) in api
    assert "\ufffd" not in text and "\ufffd" not in api


def _watermark_pixels(doc: Converted, tmp_path: Path) -> list[tuple[int, int]]:
    """Per page: (pixels of the watermark's grey on the rising diagonal, on the other one)."""
    prefix = tmp_path / doc.pdf.stem
    subprocess.run(["pdftoppm", "-r", "20", "-gray", str(doc.pdf), str(prefix)], check=True)
    counts = []
    for path in sorted(tmp_path.glob(f"{doc.pdf.stem}-*.pgm")):
        image = Image.open(path)
        width, height = image.size
        rising = falling = 0
        for index, value in enumerate(image.convert("L").tobytes()):
            if not 230 <= value <= 232:  # #d0d0d0 at half opacity on white
                continue
            x, y = (index % width) / width, (index // width) / height
            if abs(x + y - 1) < 0.15:  # the bottom-left to top-right band
                rising += 1
            elif abs(x - y) < 0.15:
                falling += 1
        counts.append((rising, falling))
    return counts


def test_watermark_on_every_page_first_included(
    converted: dict[str, Converted], tmp_path: Path
) -> None:
    for name in ("zh", "en"):
        pages = _watermark_pixels(converted[name], tmp_path)
        assert len(pages) == len(converted[name].pages)
        for number, (rising, falling) in enumerate(pages, start=1):
            assert rising > 200 and rising > 3 * falling, f"{name} page {number}: {rising}"
    for name in ("weekly_report", "api_reference"):  # no watermark: hardly any such grey
        assert all(rising < 60 for rising, _ in _watermark_pixels(converted[name], tmp_path))


def test_picture_is_embedded_on_the_chart_page(converted: dict[str, Converted]) -> None:
    zh = converted["zh"]
    toc = _toc_page(zh)
    chart_page = next(
        i for i, p in enumerate(zh.pages, start=1) if "图表" in _lines(p) and i != toc + 1
    )
    listing = subprocess.run(
        ["pdfimages", "-list", str(zh.pdf)], capture_output=True, text=True, check=True
    ).stdout
    images = [line.split() for line in listing.splitlines()[2:]]
    assert [(int(row[0]), row[3], row[4]) for row in images] == [(chart_page, "1200", "600")]
    assert "每周请求数" not in zh.pages[chart_page - 1]  # the picture, not its alt text


def test_document_properties_reach_the_pdf(converted: dict[str, Converted]) -> None:
    info = converted["zh"].info()
    assert re.search(r"^Title:\s+季度运营报告$", info, re.M)
    assert re.search(r"^Subject:\s+运营$", info, re.M)
    assert re.search(r"^Keywords:\s+季度, 运营", info, re.M)
