"""How many CPUs this process may use: what sizes thread and process pools."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """CPUs this process may run on (container limits included), not the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
