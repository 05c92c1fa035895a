"""Log lines are JSON off a terminal, and library lines carry the job's bound ids too."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from core.logging import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


def test_structlog_and_library_lines_are_json_with_the_job_context(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("INFO")
    with structlog.contextvars.bound_contextvars(job_id="j1", trace_id="t1"):
        structlog.get_logger("test").info("job started", template="weekly")
        logging.getLogger("celery.worker").info("Task %s received", "autoglm.run_job")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("celery.worker").exception("task failed")
    logging.getLogger("celery.worker").info("outside any job")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines] == [
        "job started",
        "Task autoglm.run_job received",
        "task failed",
        "outside any job",
    ]
    for line in lines[:3]:
        assert (line["job_id"], line["trace_id"]) == ("j1", "t1")
        assert line["timestamp"].endswith("Z")
    assert "ValueError: boom" in lines[2]["exception"]
    assert "job_id" not in lines[3]
    assert lines[1]["logger"] == "celery.worker" and lines[1]["level"] == "info"
