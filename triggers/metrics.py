"""Prometheus metrics of the trigger side's outbound work: completion callbacks."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CALLBACK_ATTEMPTS = Counter(
    "autoglm_callback_attempts_total",
    "Completion callback attempts by outcome (delivered, failed, refused).",
    ["outcome"],
)
CALLBACK_SECONDS = Histogram(
    "autoglm_callback_seconds",
    "Wall time of one completion callback attempt (resolution, connection and answer).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
for _outcome in ("delivered", "failed", "refused"):  # every series exists from the start
    CALLBACK_ATTEMPTS.labels(outcome=_outcome)
