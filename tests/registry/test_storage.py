"""The local artifact store: files per attempt, keys kept inside the root, and a readiness
check that changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.errors import NotFound, StorageUnavailable
from registry.storage import LocalArtifactStore


def test_files_are_kept_per_attempt_and_removed_per_attempt(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    first = store.put("j1/1/report.md", b"# one")
    second = store.put("j1/2/report.md", b"# two")
    assert first == "file:j1/1/report.md"
    with store.open(second) as stream:
        assert stream.read() == b"# two"
    store.delete_attempt("j1", 1)
    assert not store.exists(first) and store.exists(second)
    with pytest.raises(NotFound) as gone:
        store.open(first)
    assert gone.value.code == "artifact_missing"


def test_a_key_may_not_leave_the_root(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    with pytest.raises(ValueError, match="escapes the store"):
        store.put("../outside.md", b"x")
    assert not (tmp_path / "outside.md").exists()


def test_ping_accepts_a_folder_yet_to_be_made_and_makes_none(tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet"
    LocalArtifactStore(root).ping()
    assert not (tmp_path / "not").exists()


def test_ping_refuses_a_root_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("in the way")
    with pytest.raises(StorageUnavailable, match="is not writable"):
        LocalArtifactStore(tmp_path / "a-file" / "artifacts").ping()
