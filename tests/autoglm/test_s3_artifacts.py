"""Artifacts in object storage end to end: `autoglm serve` and a separate `autoglm worker` on
PostgreSQL + Redis keep their files in an S3 server (moto's, on loopback) and the API serves
them; a store that is down fails the attempt and the job's retry stores the files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.autoglm.run import autoglm
from tests.readers import markdown_headings, pdf_text, squash
from tests.s3_server import S3Server, bucket_fixture, moto_server, s3_fixture  # noqa: F401
from tests.stack import distributed_stack

pytestmark = pytest.mark.model  # the worker loads the bundled model at start

STORED = """\
name: stored
version: "1"
variables: [team]
body: |
  # Stored report for {{ team }}

  Kept in a bucket, served by the API.
export:
  formats: [pdf, md]
schedule:
  expression: "0 0 1 1 *"
  retry: {max_attempts: 3, backoff: exponential, delay: 5}
"""


def test_a_workers_files_go_to_the_bucket_and_the_api_serves_them(
    tmp_path: Path, s3: S3Server, bucket: str
) -> None:
    env = s3.env(bucket, AUTOGLM_S3_PREFIX="docgen")
    with distributed_stack(tmp_path, STORED, **env) as stack:
        stack.start("worker")
        job = stack.submit({"template": "stored", "inputs": {"team": "Ceph"}})
        done = stack.wait_status(job["id"], {"succeeded", "dead"}, 120)
        assert done["status"] == "succeeded", done["error"]
        listed = s3.client().list_objects_v2(Bucket=bucket)["Contents"]
        keys = sorted(item["Key"] for item in listed)
        assert keys == [f"docgen/{job['id']}/1/stored-1.md", f"docgen/{job['id']}/1/stored-1.pdf"]
        assert not stack.artifacts.exists()  # nothing went to the local folder

        pdf = stack.download(job["id"], "pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert "StoredreportforCeph" in squash(pdf_text(pdf.content, tmp_path))
        markdown = stack.download(job["id"], "md").content.decode("utf-8")
        assert (1, "Stored report for Ceph") in markdown_headings(markdown)

        cli_env = stack.env
        clean = autoglm("admin", "check-artifacts", "--verify", env=cli_env)
        assert (clean.returncode, clean.stdout) == (0, ""), clean.stderr
        md_key = f"docgen/{job['id']}/1/stored-1.md"
        s3.client().put_object(Bucket=bucket, Key=md_key, Body=b"# Not what was made")
        found = autoglm("admin", "check-artifacts", "--verify", env=cli_env)
        assert found.returncode == 1
        assert found.stdout == f"{job['id']}\tmd\tsha256 mismatch\ts3://{bucket}/{md_key}\n"
        refused = stack.download(job["id"], "md")
        assert refused.status_code == 500
        assert refused.json()["error"]["code"] == "artifact_corrupt"


def test_a_store_that_is_down_fails_the_attempt_and_the_retry_stores_the_files(
    tmp_path: Path,
) -> None:
    with moto_server(tmp_path) as flaky:  # its own server: this test stops it
        bucket = flaky.new_bucket("flaky-files")
        with distributed_stack(tmp_path, STORED, **flaky.env(bucket)) as stack:
            stack.start("worker")
            flaky.stop()
            job = stack.submit({"template": "stored", "inputs": {"team": "outage"}})
            first = stack.wait_status(job["id"], {"failed", "succeeded", "dead"}, 120)
            assert first["status"] == "failed" and first["attempts"] == 1
            assert "Could not connect to the endpoint URL" in first["error"]

            flaky.start()  # an empty server again (moto keeps nothing): the bucket comes back
            flaky.new_bucket(bucket)
            done = stack.wait_status(job["id"], {"succeeded", "dead"}, 120)
            assert done["status"] == "succeeded", done["error"]
            assert done["attempts"] == 2
            pdf = stack.download(job["id"], "pdf")
            assert "Storedreportforoutage" in squash(pdf_text(pdf.content, tmp_path))
            keys = [i["Key"] for i in flaky.client().list_objects_v2(Bucket=bucket)["Contents"]]
            assert sorted(keys) == [f"{job['id']}/2/stored-1.md", f"{job['id']}/2/stored-1.pdf"]
