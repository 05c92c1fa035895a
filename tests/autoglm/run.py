"""Run `autoglm` the way a user does: a subprocess from the repository root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def autoglm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`env` adds to (not replaces) this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "autoglm", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | env if env is not None else None,
        timeout=300,
    )
