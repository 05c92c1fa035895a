"""The job path on embedded defaults: `autoglm serve` (SQLite, in-process queue, bundled model),
one template uploaded over HTTP, one job submitted, its three files downloaded to out/demo/job/.

Run by `scripts/demo`; nothing else needs to be running.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out" / "demo" / "job"
AUTOGLM = [sys.executable, "-m", "autoglm"]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "autoglm.db").unlink(missing_ok=True)
    env = os.environ | {
        "AUTOGLM_DATABASE_URL": f"sqlite:///{OUT / 'autoglm.db'}",
        "AUTOGLM_ARTIFACT_DIR": str(OUT / "artifacts"),
        "AUTOGLM_BROKER_URL": "",
        "AUTOGLM_LOG_LEVEL": "WARNING",
    }
    subprocess.run([*AUTOGLM, "db", "upgrade"], env=env, check=True, capture_output=True)
    init = subprocess.run(
        [*AUTOGLM, "admin", "init"], env=env, check=True, capture_output=True, text=True
    )
    headers = {"Authorization": f"Bearer {init.stdout.strip()}"}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*AUTOGLM, "serve", "--port", str(port)], env=env)
    try:
        _wait(lambda: _answers(url), "the API")
        template = (ROOT / "templates" / "weekly_report.yaml").read_bytes()
        upload = httpx.post(
            f"{url}/templates",
            params={"activate": "true"},
            content=template,
            headers=headers | {"Content-Type": "application/yaml"},
        )
        upload.raise_for_status()
        name = upload.json()["name"]
        inputs = _inputs(ROOT / "templates" / "examples" / "weekly_report.inputs.yaml")
        job = httpx.post(
            f"{url}/jobs", json={"template": name, "inputs": inputs}, headers=headers
        ).json()
        print(f"job {job['id']} queued; waiting for the in-process worker", file=sys.stderr)
        done = _wait(lambda: _finished(f"{url}{job['url']}", headers), "the job", 600)
        if done["status"] != "succeeded":
            raise SystemExit(f"job {done['status']}: {done['error']}")
        for artifact in done["artifacts"]:
            data = httpx.get(f"{url}{artifact['url']}", headers=headers).content
            (OUT / artifact["filename"]).write_bytes(data)
            print(OUT / artifact["filename"])
    finally:
        server.terminate()
        server.wait(30)


def _inputs(path: Path) -> dict[str, object]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _finished(url: str, headers: dict[str, str]) -> dict[str, object] | None:
    job: dict[str, object] = httpx.get(url, headers=headers).json()
    return job if job["status"] in {"succeeded", "dead", "cancelled"} else None


def _wait(check, what, timeout=60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.3)
    return value


if __name__ == "__main__":
    main()
