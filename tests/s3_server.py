"""A real S3 server for the tests: moto's standalone server (`moto_server`) on loopback.

It keeps everything in memory, so a stopped and restarted server is empty again: a test that
restarts one makes its bucket again. Credentials are dummies set in the environment, which
boto3's default chain reads as it would real ones.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import httpx
import pytest
from mypy_boto3_s3 import S3Client

from tests.live import free_port

MOTO_SERVER = Path(sys.executable).with_name("moto_server")
REGION = "us-east-1"
# The default chain reads these; no file or instance role is looked at once they are set.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class S3Server:
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, bucket: str, **more: str) -> dict[str, str]:
        """What `autoglm` processes need to keep their files in `bucket` here."""
        return AWS_ENV | {"AUTOGLM_S3_BUCKET": bucket, "AUTOGLM_S3_ENDPOINT_URL": self.url} | more

    def client(self) -> S3Client:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )

    def new_bucket(self, name: str | None = None) -> str:
        name = name or f"t-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"moto_server did not start (log: {self.log})")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/moto-api/", timeout=1).status_code < 500
        except httpx.TransportError:
            return False


@contextmanager
def moto_server(log_dir: Path) -> Iterator[S3Server]:
    """A started server on a free port (stopped at the end), with the dummy credentials set in
    this process's environment for the clients the code under test makes."""
    server = S3Server(free_port(), log_dir / "moto_server.log")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in AWS_ENV.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)  # a named profile would win over them
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session", name="s3")
def s3_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One S3 server for the whole run (import this fixture into the test module)."""
    with moto_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(name="bucket")
def bucket_fixture(s3: S3Server) -> str:
    """A new, empty bucket for one test."""
    return s3.new_bucket()
