"""The completion callbacks' signatures (Standard Webhooks): the `whsec_` secret's form is
checked where it is used and where a job asks for a callback, so a bad secret is refused at
submission, not found at the first delivery."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from core.errors import ConfigError

KEY_PREFIX = "whsec_"
KEY_BYTES = (24, 64)  # what the spec asks of a secret's length
MAKE_KEY = (
    'python -c "import base64, secrets; '
    "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\""
)


class Signer:
    """Standard Webhooks signatures with one `whsec_<base64>` secret."""

    def __init__(self, secret: str) -> None:
        if not secret.startswith(KEY_PREFIX):
            raise ConfigError(
                "AUTOGLM_CALLBACK_SECRET must be whsec_ followed by base64 (the Standard "
                f"Webhooks form receivers' libraries expect); make one with: {MAKE_KEY}"
            )
        try:
            key = base64.b64decode(secret.removeprefix(KEY_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(
                f"AUTOGLM_CALLBACK_SECRET is not whsec_ + valid base64; make one with: {MAKE_KEY}"
            ) from None
        low, high = KEY_BYTES
        if not low <= len(key) <= high:
            raise ConfigError(
                f"AUTOGLM_CALLBACK_SECRET must decode to {low}-{high} bytes, not {len(key)}; "
                f"make one with: {MAKE_KEY}"
            )
        self._key = key

    def headers(self, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        signed = f"{message_id}.{timestamp}.".encode() + body
        digest = hmac.new(self._key, signed, hashlib.sha256).digest()
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": f"v1,{base64.b64encode(digest).decode('ascii')}",
        }
