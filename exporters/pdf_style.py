"""Stylesheets for the PDF: the base sheet parsed once per process, the page rules (size,
margins, running header and footer, fonts) parsed once per distinct text: the options and,
where the running text shows `{title}`, the title."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from weasyprint import CSS

from documents.layout import running_parts
from documents.spec import ExportOptions

BASE_CSS = files("exporters").joinpath("pdf.css").read_text(encoding="utf-8")
RUNNING_STYLE = "font-size: 8pt; color: #57606a;"


@lru_cache(maxsize=1)
def base_stylesheet() -> CSS:
    return CSS(string=BASE_CSS)


@lru_cache(maxsize=256)
def page_stylesheet(css: str) -> CSS:
    """A parsed page sheet, kept for the next document with the same page rules."""
    return CSS(string=css)


def page_css(options: ExportOptions, title: str) -> str:
    families = f'{css_string(options.font)}, "Noto Sans CJK SC", sans-serif'
    header, footer = options.header_text, options.footer_text
    first = ""
    if options.first_page_text is not None:
        top, bottom = options.first_page_text
        first = (
            f"@page :first {{{_margin_box('top-center', top, title)}"
            f"{_margin_box('bottom-center', bottom, title)}}}"
        )
    return f"""
@page {{
  size: {options.page_size};
  margin: {options.margin};
  {_margin_box("top-center", header, title)}
  {_margin_box("bottom-center", footer, title)}
}}
{first}
html {{ font-family: {families}; font-size: {options.font_size}; }}
pre, code {{ font-family: "Noto Sans Mono CJK SC", "DejaVu Sans Mono", monospace; }}
"""


def _margin_box(where: str, text: str, title: str) -> str:
    return f"@{where} {{ content: {running_content(text, title)}; {RUNNING_STYLE} }}"


def running_content(text: str, title: str) -> str:
    """A CSS `content` value for header/footer text: `{page}` and `{pages}` become counters."""
    values = [
        f"counter({value})" if kind == "counter" else css_string(value)
        for kind, value in running_parts(text, title)
    ]
    return " ".join(values) or "none"


def css_string(text: str) -> str:
    """A CSS string literal that no text can break out of (every unusual char hex-escaped)."""
    escaped = "".join(c if c.isalnum() or c == " " else f"\\{ord(c):06x} " for c in text[:200])
    return f'"{escaped}"'
