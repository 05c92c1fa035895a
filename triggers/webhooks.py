"""Webhook deliveries: check the signature, map the payload to inputs, submit as the owner.

The signature is the authentication, so it is checked on the raw bytes before anything is
parsed. The delivery id (`X-GitHub-Delivery`, else `X-Delivery-Id`, else `Idempotency-Key`)
makes the idempotency key, so a redelivery returns the first job; a delivery with none of
those headers is a new job every time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import Settings
from registry.accounts import actor_for
from registry.errors import Forbidden, Invalid, Unauthenticated
from registry.models import Webhook, utcnow
from registry.webhooks import is_path, path_segments, secret_of, webhook_not_found
from triggers.dispatch import Dispatcher
from triggers.submit import JobRequest, Submission, submit
from triggers.tracing import trace_id_of

SIGNATURE_HEADER = "x-hub-signature-256"
SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
BEARER = re.compile(r"^bearer\s+(\S+)\s*$", re.IGNORECASE)
DELIVERY_HEADERS = ("X-GitHub-Delivery", "X-Delivery-Id", "Idempotency-Key")
DELIVERY_ID = re.compile(r"^[\x21-\x7e]{1,80}$")  # printable ASCII, no spaces


def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value for `body`: `sha256=` + hex HMAC-SHA256."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Pass, or raise `Unauthenticated` saying which header was missing or did not match.

    `X-Hub-Signature-256` wins when present; otherwise `Authorization: Bearer <secret>`.
    """
    lowered = _lower(headers)
    if (signature := lowered.get(SIGNATURE_HEADER)) is not None:
        match = SIGNATURE.fullmatch(signature.strip())
        if match is None:
            raise Unauthenticated(
                "malformed X-Hub-Signature-256 header: expected sha256=<64 hex digits>",
                "bad_signature",
            )
        expected = sign(secret, body).removeprefix("sha256=")
        if not hmac.compare_digest(expected, match.group(1).lower()):
            raise Unauthenticated(
                "X-Hub-Signature-256 does not match the body (wrong secret or altered body)",
                "bad_signature",
            )
        return
    if (authorization := lowered.get("authorization")) is not None:
        bearer = BEARER.fullmatch(authorization)
        if bearer is None:
            raise Unauthenticated(
                "malformed Authorization header: expected Bearer <secret>", "bad_signature"
            )
        if not hmac.compare_digest(bearer.group(1).encode(), secret.encode()):
            raise Unauthenticated("bearer token does not match the webhook secret", "bad_signature")
        return
    raise Unauthenticated(
        "missing signature: send X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body> "
        "or Authorization: Bearer <secret>",
        "missing_signature",
    )


def map_inputs(mapping: Mapping[str, Any], payload: Any) -> dict[str, Any]:
    """Inputs for the job: `$.a.b.0` values are looked up in `payload`, others are literals."""
    inputs: dict[str, Any] = {}
    missing = []
    for name, value in mapping.items():
        if not is_path(value):
            inputs[name] = value
            continue
        found, resolved = _lookup(payload, path_segments(value))
        if found:
            inputs[name] = resolved
        else:
            missing.append(f"the payload has no value at {value} (for input {name!r})")
    if missing:
        raise Invalid("; ".join(missing), "payload_path_missing")
    return inputs


def deliver(
    session: Session,
    name: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    dispatcher: Dispatcher,
    settings: Settings,
) -> Submission:
    """Turn one delivery into a job (or find the job of an earlier delivery with its id)."""
    hook = session.scalar(select(Webhook).where(Webhook.name == name))
    if hook is None:
        raise webhook_not_found(name)
    verify(secret_of(hook, settings), body, headers)  # stored encrypted
    lowered = _lower(headers)
    inputs = map_inputs(hook.inputs, _parse(body))
    owner = hook.owner
    if owner is None or owner.disabled_at is not None:
        raise Forbidden(
            f"webhook {name!r} has no active owner; recreate it as an active principal",
            "webhook_owner_unavailable",
        )
    delivery_id = _delivery_id(lowered)
    request = JobRequest(
        template=hook.template.name,
        inputs=inputs,
        version=hook.version,
        formats=hook.formats,
        idempotency_key=f"webhook:{name}:{delivery_id}" if delivery_id else None,
        trace_id=trace_id_of(lowered.get("x-trace-id"), lowered.get("traceparent")),
        callback_url=lowered.get("x-callback-url"),  # gets the completion event, signed
    )
    submission = submit(session, actor_for(owner), request, dispatcher, settings)
    hook.last_delivery_at = utcnow()
    session.commit()
    return submission


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_no_constant)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are
        raise Invalid(f"the delivery body is not valid JSON: {exc}", "invalid_json") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _lookup(payload: Any, segments: list[str]) -> tuple[bool, Any]:
    node = payload
    for segment in segments:
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif (
            isinstance(node, list)
            and segment.isascii()
            and segment.isdigit()
            and int(segment) < len(node)
        ):
            node = node[int(segment)]
        else:
            return False, None
    return True, node


def _delivery_id(lowered: Mapping[str, str]) -> str | None:
    for header in DELIVERY_HEADERS:
        if (value := lowered.get(header.lower())) is not None:
            if not DELIVERY_ID.fullmatch(value):
                raise Invalid(
                    f"{header} must be 1-80 printable ASCII characters without spaces",
                    "invalid_delivery_id",
                )
            return value
    return None


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}
