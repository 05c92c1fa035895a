"""A WeasyPrint URL fetcher that serves only the template's own assets: no files, no network."""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import unquote

from weasyprint.urls import URLFetcher, URLFetcherResponse

ASSET_BASE = "https://assets.autoglm.invalid/"


class AssetOnlyFetcher(URLFetcher):  # type: ignore[misc]
    """Relative URLs resolve under `ASSET_BASE`; anything else (file://, http://) is refused."""

    def __init__(self, assets: dict[str, bytes]) -> None:
        super().__init__(allowed_protocols=())
        self.assets = assets
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        if url.startswith(ASSET_BASE):
            name = unquote(url.removeprefix(ASSET_BASE).split("?")[0].split("#")[0])
            if name in self.assets:
                media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
                return URLFetcherResponse(url, self.assets[name], {"Content-Type": media_type})
        self.refused.append(url)
        raise ValueError(f"refused to fetch {url}: only assets listed by the template are allowed")
