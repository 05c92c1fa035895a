"""Secrets at rest (webhook secrets): Fernet under a key ring from `AUTOGLM_SECRET_KEYS`.

The first key encrypts, every key decrypts, so a key is rotated by putting the new one first,
re-encrypting (`autoglm admin rotate-secrets`), then dropping the old one. Stored values carry
a `fernet:` prefix, so a row written before encryption (plain text) is recognised and still
works until the rotation encrypts it.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.errors import ConfigError
from core.settings import Settings

PREFIX = "fernet:"
SETTING = "AUTOGLM_SECRET_KEYS"


def key_ring(settings: Settings) -> MultiFernet | None:
    """The configured keys (first encrypts, all decrypt); None when none is set. A malformed
    key is a `ConfigError` naming the setting and the key's position, never the key."""
    raw = [k.strip() for k in (settings.secret_keys or "").split(",") if k.strip()]
    if not raw:
        return None
    keys = []
    for position, key in enumerate(raw, 1):
        try:
            keys.append(Fernet(key))
        except ValueError:
            raise ConfigError(
                [
                    f"{SETTING}: key {position} is not a Fernet key (32 url-safe base64 bytes; "
                    "make one with `python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`)"
                ]
            ) from None
    return MultiFernet(keys)


def no_key() -> ConfigError:
    return ConfigError([f"{SETTING} is not set: webhook secrets are stored encrypted with it"])


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)


def encrypt(ring: MultiFernet | None, secret: str) -> str:
    """The value to store for `secret`, under the ring's first key."""
    if ring is None:
        raise no_key()
    return PREFIX + ring.encrypt(secret.encode("utf-8")).decode("ascii")


def decrypt(ring: MultiFernet | None, stored: str) -> str:
    """The secret behind a stored value (a plain-text legacy value as it is); `ConfigError`
    when no key is set or none of the ring's keys made it."""
    if not is_encrypted(stored):
        return stored
    if ring is None:
        raise no_key()
    try:
        return ring.decrypt(stored.removeprefix(PREFIX).encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise decrypt_failure() from None


def rotate(ring: MultiFernet | None, stored: str) -> str:
    """`stored` re-encrypted under the first key (a plain-text value encrypted)."""
    if ring is None:
        raise no_key()
    if not is_encrypted(stored):
        return encrypt(ring, stored)
    try:
        return PREFIX + ring.rotate(stored.removeprefix(PREFIX).encode("ascii")).decode("ascii")
    except InvalidToken:
        raise decrypt_failure() from None


def decrypt_failure() -> ConfigError:
    return ConfigError(
        [f"{SETTING} holds none of the keys a stored webhook secret was encrypted with"]
    )
