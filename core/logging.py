"""Structured logging: JSON lines when not on a terminal, readable lines when on one.

Lines from the standard library (Celery, uvicorn, SQLAlchemy) go through the same renderer,
and pick up the context bound with `structlog.contextvars` (a job's `job_id` and `trace_id`),
so every line a job causes can be found by either id.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog


def _add_pid(_logger: object, _name: str, event: structlog.typing.EventDict) -> Any:
    """The process id: `autoglm worker` runs several processes into one log."""
    event.setdefault("pid", os.getpid())
    return event


SHARED: list[structlog.typing.Processor] = [
    _add_pid,
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str = "INFO") -> None:
    """Route structlog and stdlib logging to stderr in one format."""
    on_terminal = sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer()
        if on_terminal
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    # The console renderer prints tracebacks itself; JSON needs them as a string field.
    tracebacks = [] if on_terminal else [structlog.processors.format_exc_info]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*SHARED, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *tracebacks,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # WeasyPrint narrates every layout step at INFO; keep its warnings (refused URLs) only.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    structlog.configure(
        processors=[*SHARED, *tracebacks, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
