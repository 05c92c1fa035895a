"""Prometheus metrics observed where the work happens (the worker process)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

JOB_SECONDS = Histogram(
    "autoglm_job_duration_seconds",
    "Wall time of one job attempt, claim to finish.",
    ["template", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600),
)
FIELD_SECONDS = Histogram(
    "autoglm_field_duration_seconds",
    "Generation time of one generated field.",
    ["template"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
TOKENS = Counter("autoglm_tokens_generated_total", "Completion tokens generated.", ["template"])
ATTEMPTS = Counter(
    "autoglm_job_attempts_total",
    "Finished job attempts by outcome (succeeded, failed, dead, cancelled, lost).",
    ["outcome"],
)
