"""What a job's `callback_url` must look like when it is submitted.

Only the form is checked here (any trigger, before the job exists). Where the URL leads is
checked at each delivery, after DNS resolution (`triggers.outbound`): a name can move.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from core.errors import ConfigError
from core.settings import Settings
from registry.errors import Invalid
from triggers.callback_signing import Signer

MAX_LENGTH = 2000


def checked_callback_url(url: str | None, settings: Settings) -> str | None:
    """`url` if it can be a callback target, else `Invalid` naming what is wrong."""
    if url is None:
        return None
    if not settings.callback_secret:
        raise Invalid(
            "callbacks are not configured on this server (AUTOGLM_CALLBACK_SECRET is unset), "
            "so callback_url cannot be used",
            "callbacks_disabled",
        )
    try:
        Signer(settings.callback_secret)
    except ConfigError as exc:  # the server's setting, named, rather than a failed delivery later
        raise Invalid(
            f"callbacks are misconfigured on this server: {exc}", "callbacks_disabled"
        ) from None
    if len(url) > MAX_LENGTH or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise Invalid(
            f"callback_url must be at most {MAX_LENGTH} characters, without spaces or "
            "control characters",
            "invalid_callback_url",
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Invalid(f"callback_url is not a URL: {exc}", "invalid_callback_url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(
            "callback_url must be an http:// or https:// URL with a host", "invalid_callback_url"
        )
    if parts.username is not None or parts.password is not None:
        raise Invalid("callback_url must not carry credentials", "invalid_callback_url")
    if port == 0:
        raise Invalid("callback_url has port 0", "invalid_callback_url")
    return url
