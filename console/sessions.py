"""Console sessions: an API token exchanged for a signed cookie, re-checked on every request.

The cookie holds the token's SHA-256 (what the registry stores, never the token), an expiry
and a CSRF nonce, signed with HMAC-SHA256. Each request looks the token up again by that hash
(`registry.accounts.authenticate_hash`, what `authenticate` does), so revoking the token, its
expiry or disabling its principal ends the session at once. Signing alone cannot make a
cookie out of a stolen database: the key is not in the database.

The key is `AUTOGLM_CONSOLE_SECRET` (set it, the same on every API process, to keep sessions
across restarts and replicas), else a random key made once per process: sessions then end
when the process does, which is safe, only less convenient.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.orm import Session

from registry.accounts import authenticate_hash, hash_token
from registry.errors import Unauthenticated
from registry.permissions import Actor

COOKIE = "autoglm_console"
SIGN_IN_COOKIE = "autoglm_console_signin"  # the CSRF nonce of the sign-in form
COOKIE_PATH = "/console"
LIFETIME_SECONDS = 8 * 3600
SIGN_IN_LIFETIME_SECONDS = 3600


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTOGLM_CONSOLE_", extra="ignore")

    secret: SecretStr | None = Field(
        default=None, description="Signs console session cookies (random per process if unset)."
    )
    session_seconds: int = Field(default=LIFETIME_SECONDS, ge=60, le=30 * 24 * 3600)


@dataclass(frozen=True)
class ConsoleSession:
    token_sha256: str
    expires_at: int
    csrf: str


class Signer:
    """HMAC-SHA256 over base64url JSON; `load` answers None for anything not made by `dump`."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_settings(cls, settings: ConsoleSettings) -> Signer:
        if settings.secret is not None and settings.secret.get_secret_value():
            raw = settings.secret.get_secret_value().encode("utf-8")
            return cls(hashlib.sha256(b"autoglm-console-v1\0" + raw).digest())
        return cls(secrets.token_bytes(32))

    def mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()
        return _b64(digest)

    def dump(self, purpose: str, data: dict[str, Any]) -> str:
        body = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        return f"{body}.{self.mac(purpose, body)}"

    def load(self, purpose: str, value: str | None) -> dict[str, Any] | None:
        if not value or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac, self.mac(purpose, body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (binascii.Error, ValueError):
            return None
        return data if isinstance(data, dict) else None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def new_session(token: str, lifetime: int) -> ConsoleSession:
    return ConsoleSession(hash_token(token), int(time.time()) + lifetime, secrets.token_urlsafe(24))


def encode(signer: Signer, console_session: ConsoleSession) -> str:
    return signer.dump(
        "session",
        {
            "h": console_session.token_sha256,
            "exp": console_session.expires_at,
            "c": console_session.csrf,
        },
    )


def decode(signer: Signer, value: str | None) -> ConsoleSession | None:
    """The session in a cookie, or None when it is absent, forged, malformed or expired."""
    data = signer.load("session", value)
    if data is None:
        return None
    token_sha256, expires_at, csrf = data.get("h"), data.get("exp"), data.get("c")
    if not (
        isinstance(token_sha256, str) and isinstance(expires_at, int) and isinstance(csrf, str)
    ):
        return None
    if expires_at <= time.time():
        return None
    return ConsoleSession(token_sha256, expires_at, csrf)


def actor_of(session: Session, console_session: ConsoleSession) -> Actor | None:
    """The actor behind a session's token, or None when the token no longer authenticates."""
    try:
        return authenticate_hash(session, console_session.token_sha256)
    except Unauthenticated:
        return None


def csrf_ok(expected: str, given: str) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(expected, given)
