"""Artifacts in an S3-compatible bucket (AWS S3, MinIO, Ceph) through boto3.

Credentials come from boto3's own chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE
and ~/.aws, instance or container roles), never from our settings, so no secret sits in an
AUTOGLM_ variable. Every object carries its content type and SHA-256 (S3's own
`ChecksumSHA256`, which the service checks on upload, and `x-amz-meta-sha256` for services
that keep no checksums). The client's timeouts and retries are short: a store that is down
fails the job's attempt within seconds, and the job's own retry tries again later.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as EndpointUnreachable

from core.settings import Settings
from registry.errors import NotFound, StorageUnavailable
from registry.storage import attempt_key, missing

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

_T = TypeVar("_T")

SCHEME = "s3://"
SHA256_META = "sha256"
_DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
_MISSING = {"404", "NoSuchKey", "NotFound"}


def client_for(settings: Settings) -> S3Client:
    """A boto3 S3 client with bounded waits: 5 s to connect, 30 s per read, 3 tries in all."""
    config = Config(
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 3, "mode": "standard"},
        signature_version="s3v4",
        s3={"addressing_style": settings.s3_addressing_style},
        # Our own SHA-256 goes with each upload; no extra CRC32 that older S3 services refuse.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        config=config,
    )


def _is_missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _MISSING


@contextlib.contextmanager
def _reachable(bucket: str) -> Iterator[None]:
    """`StorageUnavailable` for what waiting may cure (no connection, a timeout, a cut stream,
    a 5xx after botocore's own retries); anything else (access denied, no such bucket) is a
    configuration fault and goes up as it is."""
    try:
        yield
    except (HTTPClientError, EndpointUnreachable, IncompleteReadError) as exc:
        raise StorageUnavailable(f"bucket {bucket!r} cannot be reached: {exc}") from exc
    except ClientError as exc:
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if status >= 500:
            raise StorageUnavailable(f"bucket {bucket!r} answers {status}: {exc}") from exc
        raise


class _Body:
    """An object's streaming body whose read errors are `StorageUnavailable` too."""

    def __init__(self, body: Any, bucket: str) -> None:
        self._body = body
        self._bucket = bucket

    def read(self, size: int = -1) -> bytes:
        with _reachable(self._bucket):
            return cast(bytes, self._body.read(size if size >= 0 else None))

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> _Body:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class S3ArtifactStore:
    """Objects `<prefix><job id>/<attempt>/<file name>` in one bucket; URIs `s3://bucket/key`."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        prefix = prefix.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ArtifactStore:
        if not settings.s3_bucket:
            raise ValueError("AUTOGLM_S3_BUCKET is not set")
        return cls(client_for(settings), settings.s3_bucket, settings.s3_prefix)

    def put(self, key: str, data: bytes, content_type: str) -> str:
        digest = hashlib.sha256(data).digest()
        full = self.prefix + key
        with _reachable(self.bucket):
            self.client.put_object(
                Bucket=self.bucket,
                Key=full,
                Body=data,
                ContentType=content_type,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=base64.b64encode(digest).decode("ascii"),
                Metadata={SHA256_META: digest.hex()},
            )
        return f"{SCHEME}{self.bucket}/{full}"

    def open(self, uri: str) -> BinaryIO:
        found = self._object(self.client.get_object, uri)
        return cast(BinaryIO, _Body(found["Body"], self.bucket))

    def local_path(self, uri: str) -> Path | None:
        return None  # objects are never local files

    def delete(self, uri: str) -> None:
        if uri.startswith(self._root()):  # another store's URI: nothing of ours to remove
            with _reachable(self.bucket):
                self.client.delete_object(Bucket=self.bucket, Key=self._key_of(uri))

    def delete_attempt(self, job_id: str, attempt: int) -> None:
        with _reachable(self.bucket):
            self._delete_folder(self.prefix + attempt_key(job_id, attempt, ""))

    def _delete_folder(self, folder: str) -> None:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=folder, PaginationConfig={"PageSize": _DELETE_BATCH}
        )
        for page in pages:
            keys: list[ObjectIdentifierTypeDef] = [
                {"Key": item["Key"]} for item in page.get("Contents", [])
            ]
            if not keys:
                continue
            answer = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
            )
            if errors := answer.get("Errors"):
                first = errors[0]
                raise OSError(
                    f"{len(errors)} object(s) under {folder!r} were not deleted; first "
                    f"{first.get('Key')!r}: {first.get('Code')} {first.get('Message')}"
                )

    def exists(self, uri: str) -> bool:
        try:
            self._object(self.client.head_object, uri)
        except NotFound:  # gone, or another store's URI
            return False
        return True

    def stored_sha256(self, uri: str) -> str | None:
        head = self._object(self.client.head_object, uri, ChecksumMode="ENABLED")
        checksum = head.get("ChecksumSHA256", "")
        if checksum and "-" not in checksum:  # "…-N" is a multipart checksum of checksums
            try:
                return base64.b64decode(checksum, validate=True).hex()
            except binascii.Error:
                pass
        return head.get("Metadata", {}).get(SHA256_META)

    def presigned_url(self, uri: str, *, seconds: int, content_type: str, disposition: str) -> str:
        params = {
            "Bucket": self.bucket,
            "Key": self._key_of(uri),
            "ResponseContentType": content_type,
            "ResponseContentDisposition": disposition,
        }
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)

    def ping(self) -> None:
        with _reachable(self.bucket):
            self.client.head_bucket(Bucket=self.bucket)

    def _object(self, call: Callable[..., _T], uri: str, **params: Any) -> _T:
        """`call` (get_object, head_object) on the object behind `uri`: `NotFound` when it is
        not there (or `uri` is another store's), `StorageUnavailable` when the bucket is away."""
        try:
            with _reachable(self.bucket):
                return call(Bucket=self.bucket, Key=self._key_of(uri), **params)
        except ClientError as exc:
            if _is_missing(exc):
                raise missing(uri) from None
            raise

    def _root(self) -> str:
        return f"{SCHEME}{self.bucket}/"

    def _key_of(self, uri: str) -> str:
        key = uri.removeprefix(self._root())
        if key == uri or not key:
            raise missing(uri)
        return key
