"""The export pool: warm spawned processes, formats in parallel, limits that kill and replace."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporters.pool import ExportFailed, ExportPool
from exporters.registry import get_exporter
from tests.exporters.samples import long_markdown, sample_document
from tests.readers import pdf_text


@pytest.fixture(scope="module")
def pool() -> Iterator[ExportPool]:
    exports = ExportPool(2, memory_mb=1024, seconds=60)
    yield exports
    exports.close()


def test_pool_exports_what_the_exporters_export_in_process(
    pool: ExportPool, tmp_path: Path
) -> None:
    document = sample_document()
    results = pool.export_many(document, ["pdf", "docx", "md"])
    assert [fmt for fmt, _, _ in results] == ["pdf", "docx", "md"]
    files = {fmt: data for fmt, data, _ in results}
    assert files["md"] == get_exporter("md").export(document)
    assert pdf_text(files["pdf"], tmp_path) == pdf_text(
        get_exporter("pdf").export(document), tmp_path
    )
    assert files["docx"][:2] == b"PK"
    assert os.getpid() not in pool.pids() and len(set(pool.pids())) == 2


def test_an_export_past_its_time_limit_is_killed_and_replaced(pool: ExportPool) -> None:
    before = set(pool.pids())
    huge = sample_document(markdown=long_markdown(sections=400))
    with pytest.raises(ExportFailed, match="ran past its limit of 1 s"):
        pool.export(huge, "pdf", seconds=1)
    after = set(pool.pids())
    assert len(after) == 2 and after != before  # the runaway process is gone, a new one came
    assert pool.export(sample_document(), "md").startswith(b"# ")


def test_an_export_over_its_memory_limit_fails_without_taking_the_pool_down() -> None:
    exports = ExportPool(1, memory_mb=256, seconds=60)
    try:
        huge = sample_document(markdown=long_markdown(sections=3000))
        with pytest.raises(ExportFailed, match="memory"):
            exports.export(huge, "pdf")
        assert exports.export(sample_document(), "md").startswith(b"# ")
    finally:
        exports.close()


def test_a_process_is_replaced_after_its_share_of_exports() -> None:
    exports = ExportPool(1, exports_per_process=2)
    try:
        first = exports.pids()
        exports.export(sample_document(), "md")
        assert exports.pids() == first
        exports.export(sample_document(), "md")
        assert exports.pids() != first and len(exports.pids()) == 1
    finally:
        exports.close()
