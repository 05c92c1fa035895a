"""The S3 artifact store against a real S3 server (moto's, on loopback)."""

from __future__ import annotations

import base64
import hashlib
import time

import httpx
import pytest
from botocore.exceptions import EndpointConnectionError

from core.settings import Settings
from registry import s3_store
from registry.errors import NotFound
from registry.s3_store import S3ArtifactStore, client_for
from registry.storage import LocalArtifactStore, store_for
from tests.live import free_port
from tests.s3_server import S3Server, bucket_fixture, s3_fixture  # noqa: F401

PDF = b"%PDF-1.7 not really, but bytes all the same"


def store(s3: S3Server, bucket: str, prefix: str = "", **settings: object) -> S3ArtifactStore:
    chosen = Settings(
        s3_bucket=bucket,
        s3_prefix=prefix,
        s3_endpoint_url=s3.url,
        **settings,  # type: ignore[arg-type]
    )
    found = store_for(chosen)
    assert isinstance(found, S3ArtifactStore)
    return found


def test_put_open_exists_delete(s3: S3Server, bucket: str) -> None:
    files = store(s3, bucket)
    uri = files.put("j1/1/report.pdf", PDF, "application/pdf")
    assert uri == f"s3://{bucket}/j1/1/report.pdf"
    assert files.exists(uri) and files.local_path(uri) is None
    with files.open(uri) as stream:
        assert stream.read() == PDF
    files.put("j1/1/report.pdf", b"replaced", "application/pdf")
    with files.open(uri) as stream:
        assert stream.read() == b"replaced"
    files.delete(uri)
    assert not files.exists(uri)
    with pytest.raises(NotFound) as gone:
        files.open(uri)
    assert gone.value.code == "artifact_missing"
    files.delete(uri)  # already gone is fine
    assert not files.exists("file:j1/1/report.pdf")  # another store's URI is not ours
    assert not files.exists("s3://other-bucket/j1/1/report.pdf")


def test_an_object_carries_its_content_type_and_sha256(s3: S3Server, bucket: str) -> None:
    files = store(s3, bucket)
    uri = files.put("j1/1/report.pdf", PDF, "application/pdf")
    head = s3.client().head_object(Bucket=bucket, Key="j1/1/report.pdf", ChecksumMode="ENABLED")
    digest = hashlib.sha256(PDF)
    assert head["ContentType"] == "application/pdf"
    assert head["Metadata"] == {"sha256": digest.hexdigest()}
    assert head["ChecksumSHA256"] == base64.b64encode(digest.digest()).decode()
    assert files.stored_sha256(uri) == digest.hexdigest()
    # Written behind the store's back: neither S3's checksum nor our metadata comes along.
    s3.client().put_object(Bucket=bucket, Key="j1/1/report.pdf", Body=b"tampered")
    assert files.stored_sha256(uri) is None


def test_the_prefix_is_where_keys_go(s3: S3Server, bucket: str) -> None:
    files = store(s3, bucket, prefix="/docgen/prod/")
    uri = files.put("j1/1/report.md", b"# hi", "text/markdown")
    assert uri == f"s3://{bucket}/docgen/prod/j1/1/report.md"
    listed = s3.client().list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == ["docgen/prod/j1/1/report.md"]
    assert files.exists(uri)
    files.delete_attempt("j1", 1)
    assert s3.client().list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_attempt_removes_that_attempt_only_in_batches(
    s3: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_store, "_DELETE_BATCH", 2)  # five files: three listing pages
    files = store(s3, bucket, prefix="p")
    doomed = [files.put(f"j1/1/f{n}.md", b"x", "text/markdown") for n in range(5)]
    kept = [
        files.put("j1/10/f.md", b"x", "text/markdown"),  # "1/" must not match "10/"
        files.put("j1/2/f.md", b"x", "text/markdown"),
        files.put("j10/1/f.md", b"x", "text/markdown"),
    ]
    files.delete_attempt("j1", 1)
    assert not any(files.exists(uri) for uri in doomed)
    assert all(files.exists(uri) for uri in kept)
    files.delete_attempt("j1", 7)  # nothing there is fine


def test_a_presigned_url_serves_the_bytes_with_our_headers(s3: S3Server, bucket: str) -> None:
    files = store(s3, bucket)
    uri = files.put("j1/1/周报.pdf", PDF, "application/pdf")
    disposition = "inline; filename*=utf-8''%E5%91%A8%E6%8A%A5.pdf"
    url = files.presigned_url(
        uri, seconds=60, content_type="application/pdf", disposition=disposition
    )
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    answer = httpx.get(url)
    assert answer.status_code == 200 and answer.content == PDF
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == disposition


def test_a_down_server_fails_within_seconds() -> None:
    dead = Settings(s3_bucket="nowhere", s3_endpoint_url=f"http://127.0.0.1:{free_port()}")
    files = S3ArtifactStore(client_for(dead), "nowhere")
    started = time.monotonic()
    with pytest.raises(EndpointConnectionError):
        files.put("j1/1/report.pdf", PDF, "application/pdf")
    assert time.monotonic() - started < 10  # three tries with short backoff, not minutes


def test_the_settings_choose_the_store(s3: S3Server, bucket: str) -> None:
    assert isinstance(store_for(Settings()), LocalArtifactStore)
    chosen = store(s3, bucket, s3_addressing_style="path")
    assert chosen.bucket == bucket and chosen.prefix == ""
