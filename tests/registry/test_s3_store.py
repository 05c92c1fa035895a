"""The S3 artifact store against a real S3 server (moto's, on loopback)."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from botocore.exceptions import ClientError

from core.settings import Settings
from registry import s3_store
from registry.errors import NotFound, StorageUnavailable
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


def test_a_down_server_fails_within_seconds_as_unavailable(bucket: str) -> None:
    dead = Settings(s3_bucket=bucket, s3_endpoint_url=f"http://127.0.0.1:{free_port()}")
    files = S3ArtifactStore(client_for(dead), bucket)
    uri = f"s3://{bucket}/j1/1/report.pdf"
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match=f"bucket '{bucket}' cannot be reached"):
        files.put("j1/1/report.pdf", PDF, "application/pdf")
    assert time.monotonic() - started < 10  # three tries with short backoff, not minutes
    calls: list[Callable[[], object]] = [
        lambda: files.open(uri),
        lambda: files.exists(uri),
        lambda: files.stored_sha256(uri),
        lambda: files.delete(uri),
        lambda: files.delete_attempt("j1", 1),
        files.ping,
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable):
            call()


class FaultyS3(BaseHTTPRequestHandler):
    """An S3 endpoint in trouble: every HEAD is a 503 SlowDown, every GET sends half a body."""

    def do_HEAD(self) -> None:
        self.send_response(503)
        self.end_headers()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/pdf")
        self.send_header("Content-Length", str(len(PDF)))
        self.end_headers()
        self.wfile.write(PDF[:10])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def faulty() -> Iterator[S3ArtifactStore]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FaultyS3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        settings = Settings(s3_bucket="b", s3_endpoint_url=url, s3_addressing_style="path")
        yield S3ArtifactStore(client_for(settings), "b")
    finally:
        server.shutdown()
        server.server_close()


def test_5xx_answers_and_cut_streams_are_unavailable(
    faulty: S3ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    with pytest.raises(StorageUnavailable, match="answers 503"):
        faulty.ping()
    with pytest.raises(StorageUnavailable, match="answers 503"):
        faulty.stored_sha256("s3://b/j1/1/report.pdf")
    with faulty.open("s3://b/j1/1/report.pdf") as stream, pytest.raises(StorageUnavailable):
        stream.read()


def test_a_missing_bucket_is_a_configuration_fault_not_an_outage(s3: S3Server) -> None:
    files = store(s3, "no-such-bucket")
    with pytest.raises(ClientError) as refused:
        files.ping()
    assert not isinstance(refused.value, StorageUnavailable)


def test_ping_on_a_live_bucket(s3: S3Server, bucket: str) -> None:
    store(s3, bucket).ping()


def test_the_settings_choose_the_store(s3: S3Server, bucket: str) -> None:
    assert isinstance(store_for(Settings()), LocalArtifactStore)
    chosen = store(s3, bucket, s3_addressing_style="path")
    assert chosen.bucket == bucket and chosen.prefix == ""
