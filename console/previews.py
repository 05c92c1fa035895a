"""Dry-run previews for the authoring page: kept briefly in memory, shown as sandboxed HTML, and
exported to PDF by one warm export process.

A preview renders untrusted template content, so each part is bounded: the store holds at most
`MAX_PREVIEWS` for `PREVIEW_SECONDS`, each bound to the principal who made it; the HTML is
served with its own CSP (no scripts, nothing fetched, sandboxed); the PDF is made by the
workers' exporter in an `ExportPool` process (time and memory limits, killed and replaced when
over them), started on the first PDF asked for and closed with the app (`close`).
"""

from __future__ import annotations

import base64
import html
import mimetypes
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING

from fastapi import FastAPI

from core.errors import AutoglmError
from core.settings import Settings
from documents.document import Document
from exporters.pdf_html import build_html

if TYPE_CHECKING:
    from exporters.pool import ExportPool

PREVIEW_SECONDS = 15 * 60
MAX_PREVIEWS = 32
PDF_SECONDS = 60.0  # at most, per export (the first one includes the process's warm-up)
PDF_WAIT_SECONDS = 30.0  # for the one export process to be free
HTML_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
PREVIEW_CSS = """
body { max-width: 46rem; margin: 0 auto; padding: 1rem 1.25rem 3rem;
  font-family: system-ui, "Noto Sans", "Noto Sans CJK SC", "DejaVu Sans", sans-serif; }
img, svg { max-width: 100%; height: auto; }
table { display: block; overflow-x: auto; }
mark.placeholder { background: #fff3c4; color: #5c4300; border: 1px dashed #b58100;
  border-radius: 3px; padding: 0 .2em; }
.watermark { display: none; }
"""
_TEXT = re.compile(r">([^<]+)<")
_ATTRIBUTE_SRC = re.compile(r'src="([^"]*)"')
_CREATE = threading.Lock()


class PreviewBusy(AutoglmError):
    """The export process stayed busy with other previews; try again shortly."""


@dataclass
class StoredPreview:
    principal_id: int | None
    created: float
    document: Document
    html: str
    pdf: bytes | None = None


class PreviewStore:
    """Previews by random key, each visible only to its principal; the oldest go first."""

    def __init__(self, limit: int = MAX_PREVIEWS, seconds: float = PREVIEW_SECONDS) -> None:
        self.limit, self.seconds = limit, seconds
        self._items: OrderedDict[str, StoredPreview] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, principal_id: int | None, document: Document, page: str) -> str:
        key = secrets.token_urlsafe(18)
        with self._lock:
            self._expire()
            self._items[key] = StoredPreview(principal_id, time.monotonic(), document, page)
            while len(self._items) > self.limit:
                self._items.popitem(last=False)
        return key

    def get(self, key: str, principal_id: int | None) -> StoredPreview | None:
        """The preview, or None when it expired, never existed or is someone else's."""
        with self._lock:
            self._expire()
            found = self._items.get(key)
        return found if found is not None and found.principal_id == principal_id else None

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.seconds
        while self._items and next(iter(self._items.values())).created < cutoff:
            self._items.popitem(last=False)


class Previews:
    """What `app.state` keeps for the authoring page: the store and the lazily started pool."""

    def __init__(self, settings: Settings) -> None:
        self.store = PreviewStore()
        self._memory_mb = settings.export_memory_mb
        self._seconds = min(settings.export_timeout_seconds, PDF_SECONDS)
        self._pool: ExportPool | None = None
        self._lock = threading.Lock()
        self._turn = threading.Semaphore(1)  # one export at a time; the others wait, bounded

    def pdf(self, preview: StoredPreview) -> bytes:
        """The preview's PDF from the workers' exporter, made once and then kept with it."""
        if preview.pdf is not None:
            return preview.pdf
        if not self._turn.acquire(timeout=PDF_WAIT_SECONDS):
            raise PreviewBusy("the preview exporter is busy; try again in a moment")
        try:
            if preview.pdf is None:
                preview.pdf = self.pool().export(preview.document, "pdf")
            return preview.pdf
        finally:
            self._turn.release()

    def pool(self) -> ExportPool:
        """The one export process, started on first use."""
        with self._lock:
            if self._pool is None:
                # Imported here: the API process loads WeasyPrint only once somebody previews.
                from exporters.pool import ExportPool  # noqa: PLC0415

                self._pool = ExportPool(1, memory_mb=self._memory_mb, seconds=self._seconds)
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


def previews_of(app: FastAPI) -> Previews:
    """The app's previews, made on first use (the console's `install` stays untouched)."""
    with _CREATE:
        found: Previews | None = getattr(app.state, "author_previews", None)
        if found is None:
            found = app.state.author_previews = Previews(app.state.settings)
        return found


def close(app: FastAPI) -> None:
    """Stop the preview export process, if one was started (at app shutdown)."""
    found: Previews | None = getattr(app.state, "author_previews", None)
    if found is not None:
        found.close()


def preview_html(document: Document, markers: tuple[str, ...]) -> str:
    """The document as the PDF's HTML, for a sandboxed frame: the PDF stylesheet inline, the
    template's own assets (charts) as data: URLs, and placeholders visibly marked."""
    page = build_html(document)
    head, _, body = page.partition("<body")
    style = f"<style>{_BASE_CSS}{PREVIEW_CSS}</style>"
    head = head.replace("</head>", f"{style}</head>", 1)
    body = _ATTRIBUTE_SRC.sub(lambda m: _inline_asset(document, m[1]), body)
    escaped = [html.escape(marker, quote=False) for marker in markers]
    if escaped:
        pattern = re.compile("|".join(re.escape(marker) for marker in escaped))
        body = _TEXT.sub(
            lambda m: ">" + pattern.sub(r"<mark class=placeholder>\g<0></mark>", m[1]) + "<",
            body,
        )
    return f"{head}<body{body}"


def _inline_asset(document: Document, src: str) -> str:
    name = html.unescape(src)
    data = document.assets.get(name)
    if data is None:
        return 'src=""'  # nothing outside the template's own files is fetched
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f'src="data:{media};base64,{base64.b64encode(data).decode("ascii")}"'


_BASE_CSS = files("exporters").joinpath("pdf.css").read_text(encoding="utf-8")
