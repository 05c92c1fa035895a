"""Trace ids that follow a document from its trigger through every log line of its job."""

from __future__ import annotations

import re

TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
TRACE_ID = re.compile(r"^[0-9A-Za-z._-]{1,64}$")


def trace_id_of(x_trace_id: str | None, traceparent: str | None) -> str | None:
    """The caller's trace id: `X-Trace-Id`, else the W3C `traceparent` trace id, else None."""
    if x_trace_id and TRACE_ID.match(x_trace_id):
        return x_trace_id
    if traceparent and (match := TRACEPARENT.match(traceparent.strip().lower())):
        return match.group(1)
    return None
