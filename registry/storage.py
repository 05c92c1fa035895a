"""Where artifact bytes live: local files now, object storage later, behind one small protocol.

The pipeline and the API only ever see a URI string, so a bucket-backed store can replace
the local one without touching either.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import BinaryIO, Protocol

from core.files import write_atomic
from core.settings import Settings
from registry.errors import NotFound

SCHEME = "file:"


class ArtifactStore(Protocol):
    def put(self, key: str, data: bytes) -> str:
        """Store `data` under `key` (``<job id>/<attempt>/<file name>``), replacing it; return
        its URI."""
        ...

    def open(self, uri: str) -> BinaryIO:
        """Open a stored artifact for reading; `NotFound` if it is gone."""
        ...

    def local_path(self, uri: str) -> Path | None:
        """The file behind `uri` when it is a local file (lets the API stream it), else None."""
        ...

    def delete(self, uri: str) -> None:
        """Remove a stored artifact; missing is fine."""
        ...

    def delete_attempt(self, job_id: str, attempt: int) -> None:
        """Remove every file that attempt `attempt` of `job_id` stored; none is fine."""
        ...

    def exists(self, uri: str) -> bool:
        """Whether the artifact behind `uri` is still in the store."""
        ...


def store_for(settings: Settings) -> ArtifactStore:
    """The artifact store the settings name (local files under `artifact_dir` for now)."""
    return LocalArtifactStore(settings.artifact_dir)


def attempt_key(job_id: str, attempt: int, filename: str) -> str:
    """Files are kept per attempt, so an attempt only ever writes and removes its own."""
    return f"{job_id}/{attempt}/{filename}"


class LocalArtifactStore:
    """Files under one root folder; written to a temporary name and renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def put(self, key: str, data: bytes) -> str:
        target = self._path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
        return SCHEME + key

    def open(self, uri: str) -> BinaryIO:
        path = self.local_path(uri)
        if path is None or not path.is_file():
            raise NotFound(f"artifact {uri!r} is missing from the store", "artifact_missing")
        return path.open("rb")

    def local_path(self, uri: str) -> Path | None:
        if not uri.startswith(SCHEME):
            return None
        return self._path_of(uri.removeprefix(SCHEME))

    def delete(self, uri: str) -> None:
        path = self.local_path(uri)
        if path is None:
            return
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the attempt's folder, once it is empty
            path.parent.rmdir()

    def delete_attempt(self, job_id: str, attempt: int) -> None:
        folder = self._path_of(attempt_key(job_id, attempt, "x")).parent
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):  # the job's folder, once it is empty
            folder.parent.rmdir()

    def exists(self, uri: str) -> bool:
        path = self.local_path(uri)
        return path is not None and path.is_file()

    def _path_of(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"artifact key {key!r} escapes the store")
        return path
