"""The export pool: warm spawned processes, formats in parallel, limits that kill and replace."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporters.pool import ExportFailed, ExportPool, out_of_memory
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
        with pytest.raises(ExportFailed, match=r"memory.* 256 MiB"):
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


def test_an_allocation_that_failed_without_a_memory_error_still_counts_as_out_of_memory() -> None:
    # CPython 3.11 under RLIMIT_DATA: a frame-stack chunk it cannot map is reported as this
    assert out_of_memory(SystemError("error return without exception set"))
    assert out_of_memory(
        SystemError("<built-in function f> returned NULL without setting an exception")
    )
    assert out_of_memory(OSError(errno.ENOMEM, "Cannot allocate memory"))
    assert out_of_memory(MemoryError())
    try:
        try:
            raise MemoryError
        except MemoryError:
            raise KeyError("lost in cleanup") from None
    except KeyError as exc:  # the MemoryError is its (suppressed) context: still found
        assert out_of_memory(exc)
    assert not out_of_memory(ValueError("bad markdown"))
    assert not out_of_memory(SystemError("bad argument to internal function"))
    assert not out_of_memory(OSError(errno.ENOENT, "No such file or directory"))
