"""A cap on every request body, so a JSON body cannot exhaust memory before it is validated.

Template uploads have their own, tighter cap (`AUTOGLM_TEMPLATE_MAX_BYTES`); this one guards
everything else (job inputs, access lists). Bodies under the cap are read whole, then
replayed to the app; a larger one is refused as it streams in, before any parsing.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await problem(413, "too_large", [self._message()])(scope, receive, send)
            return
        body, more = b"", True
        while more:  # read up to the cap before the app sees anything
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await problem(413, "too_large", [self._message()])(scope, receive, send)
                return
        whole: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    def _message(self) -> str:
        return f"request body is over {self.max_bytes} bytes (AUTOGLM_REQUEST_MAX_BYTES)"


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that returns `messages` first, then defers to the real one."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
