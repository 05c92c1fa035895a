"""Untrusted templates must not make the PDF renderer read local files or reach the network."""

from __future__ import annotations

import io
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from PIL import Image
from pypdf import PdfReader

from documents.loader import load_template_file
from documents.render import render_document
from exporters.fetcher import ASSET_BASE, AssetOnlyFetcher
from exporters.registry import get_exporter
from tests.readers import pdf_fonts, pdf_text

SECRET = "TOP-SECRET-LOCAL-FILE-CONTENT"


class _Recorder(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    _Recorder.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Recorder.requests
    httpd.shutdown()


def _hostile_template(folder: Path, base: str, secret: Path) -> Path:
    file_url = secret.as_uri()
    css = (
        f'@import url("{base}/import.css"); '
        f'@font-face {{ font-family: X; src: url("{base}/font.woff") }} '
        f'body {{ background: url("{file_url}") }} '
        f'h1::before {{ content: url("{base}/before.png") }}'
    )
    body = f"""\
# Hostile

![local]({file_url})
![remote]({base}/img.png)
![relative](../../../../{secret})
<img src="{base}/raw-html.png"><link rel="attachment" href="{file_url}">
<object data="{file_url}"></object>
[download]({file_url})
{{{{ '<img src="{base}/filtered.png">' | markdown }}}}
{{{{ '<a rel="attachment" href="{file_url}">x</a>' | markdown }}}}
"""
    path = folder / "hostile.yaml"
    path.write_text(
        "name: hostile\nbody: |\n"
        + "".join(f"  {line}\n" for line in body.splitlines())
        + f"export:\n  options:\n    css: '{css}'\n",
        encoding="utf-8",
    )
    return path


def test_hostile_references_fetch_nothing(tmp_path: Path, server: tuple[str, list[str]]) -> None:
    base, requests = server
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    loaded = load_template_file(_hostile_template(tmp_path, base, secret))
    data = get_exporter("pdf").export(render_document(loaded, {}, {}))
    assert requests == []
    assert SECRET.encode() not in data
    assert SECRET not in pdf_text(data, tmp_path)
    reader = PdfReader(io.BytesIO(data))
    assert list(reader.attachments) == ["provenance.json"]  # our own, nothing the template named
    assert SECRET.encode() not in reader.attachments["provenance.json"][0]
    assert all(not page.images for page in reader.pages)


def test_fetcher_refuses_everything_but_listed_assets(server: tuple[str, list[str]]) -> None:
    base, requests = server
    fetcher = AssetOnlyFetcher({"logo.png": b"png"})
    assert fetcher.fetch(ASSET_BASE + "logo.png").read() == b"png"
    for url in (f"{base}/x", "file:///etc/passwd", ASSET_BASE + "other.png", "data:text/plain,hi"):
        with pytest.raises(ValueError, match="refused"):
            fetcher.fetch(url)
    assert requests == []
    assert len(fetcher.refused) == 4


def test_listed_assets_are_embedded(tmp_path: Path) -> None:
    Image.new("RGB", (40, 20), "navy").save(tmp_path / "logo.png")
    (tmp_path / "t.yaml").write_text("name: t\nassets: [logo.png]\nbody: '![logo](logo.png)'\n")
    loaded = load_template_file(tmp_path / "t.yaml")
    data = get_exporter("pdf").export(render_document(loaded, {}, {}))
    assert len(PdfReader(io.BytesIO(data)).pages[0].images) == 1


def test_shipped_fonts_are_used_through_font_face(tmp_path: Path) -> None:
    shutil.copy("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf", tmp_path / "brand.ttf")
    css = "@font-face { font-family: Brand; src: url(brand.ttf) } h1 { font-family: Brand }"
    (tmp_path / "t.yaml").write_text(
        f"name: t\nassets: [brand.ttf]\nbody: '# Brand'\nexport:\n  options:\n    css: '{css}'\n"
    )
    loaded = load_template_file(tmp_path / "t.yaml")
    data = get_exporter("pdf").export(render_document(loaded, {}, {}))
    assert any(font["name"].endswith("+Brand-Bold") for font in pdf_fonts(data, tmp_path))
