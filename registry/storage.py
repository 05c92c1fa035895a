"""Where artifact bytes live: local files or an S3-compatible bucket, behind one small protocol.

The pipeline and the API only ever see a URI string (`file:KEY`, `s3://BUCKET/KEY`), so
either store serves them without either knowing which.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Protocol

import structlog

from core.files import write_atomic
from core.settings import Settings
from registry.errors import NotFound, StorageUnavailable

log = structlog.get_logger(__name__)

SCHEME = "file:"


class ArtifactStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> str:
        """Store `data` under `key` (``<job id>/<attempt>/<file name>``), replacing it; return
        its URI. A store that keeps metadata records `content_type` and the SHA-256."""
        ...

    def open(self, uri: str) -> BinaryIO:
        """Open a stored artifact for reading; `NotFound` if it is gone."""
        ...

    def local_path(self, uri: str) -> Path | None:
        """The file behind `uri` when it is a local file, else None."""
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

    def stored_sha256(self, uri: str) -> str | None:
        """The SHA-256 (hex) the store itself keeps for `uri`, read without reading the bytes;
        None when it keeps none (local files)."""
        ...

    def presigned_url(
        self, uri: str, *, seconds: int, content_type: str, disposition: str
    ) -> str | None:
        """A URL that serves `uri` for `seconds` with these response headers, without us; None
        when the store cannot hand one out (local files)."""
        ...

    def ping(self) -> None:
        """Return when the store can be used now; `StorageUnavailable` saying why otherwise."""
        ...


def store_for(settings: Settings) -> ArtifactStore:
    """The bucket when `s3_bucket` is set, else local files under `artifact_dir`."""
    if settings.s3_bucket:
        from registry.s3_store import S3ArtifactStore  # noqa: PLC0415 (boto3 only when used)

        return S3ArtifactStore.from_settings(settings)
    return LocalArtifactStore(settings.artifact_dir)


def missing(uri: str) -> NotFound:
    """What `open` raises for an artifact that is not (or no longer) in the store."""
    return NotFound(f"artifact {uri!r} is missing from the store", "artifact_missing")


def attempt_key(job_id: str, attempt: int, filename: str) -> str:
    """Files are kept per attempt, so an attempt only ever writes and removes its own."""
    return f"{job_id}/{attempt}/{filename}"


def delete_attempts(store: ArtifactStore, job_id: str, attempts: Iterable[int]) -> None:
    """Remove the files of each of `attempts` of `job_id`; a failure raises (retention and
    purges keep their rows until the files are gone)."""
    for attempt in attempts:
        store.delete_attempt(job_id, attempt)


def discard_attempts(store: ArtifactStore, job_id: str, attempts: Iterable[int]) -> None:
    """Remove the files of each of `attempts` of `job_id` that can never be recorded, best
    effort: a failure is logged and the next attempt's files are still tried."""
    for attempt in attempts:
        try:
            store.delete_attempt(job_id, attempt)
        except Exception as exc:
            log.warning(
                "could not remove an attempt's files",
                job_id=job_id,
                attempt=attempt,
                error=str(exc),
            )


class LocalArtifactStore:
    """Files under one root folder; written to a temporary name and renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def put(self, key: str, data: bytes, content_type: str = "") -> str:
        """A file keeps no content type (the job's row has it), so it may be left out."""
        target = self._path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
        return SCHEME + key

    def open(self, uri: str) -> BinaryIO:
        path = self.local_path(uri)
        if path is None or not path.is_file():
            raise missing(uri)
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

    def stored_sha256(self, uri: str) -> str | None:
        return None  # a file has no place for it; the job's row holds the one to check

    def presigned_url(
        self, uri: str, *, seconds: int, content_type: str, disposition: str
    ) -> str | None:
        return None

    def ping(self) -> None:
        # The folder is made on the first write; until then its nearest existing parent must
        # let us make it. Nothing is created here: a readiness probe changes nothing.
        folder = self.root
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"artifact folder {str(self.root)!r} is not writable")

    def _path_of(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"artifact key {key!r} escapes the store")
        return path
