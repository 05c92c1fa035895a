"""The web console: server-rendered pages over the same registry services as the API.

It lives in the API's FastAPI app under `/console` (`console.install(app)`), reads the app's
`state.sessions` itself (never HTTP calls to the API, never `generation`), and signs people
in with an API token exchanged for a session cookie (`console.sessions`).
"""

from __future__ import annotations

from console.pages import install

__all__ = ["install"]
