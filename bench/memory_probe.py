"""Child process of bench/batching.py's memory section: the engine a worker builds, N fields.

    .venv/bin/python bench/memory_probe.py N [MAX_TOKENS]

Builds `LlamaEngine.from_settings(Settings(batch_max_size=N))` (N=1: a plain `LlamaEngine`,
else the batching engine with the default n_ctx, KV size and prefix pool), runs N short fields
at once and prints one JSON line: peak RSS (``ru_maxrss``, MiB) after the imports, after the
engine was built and at the end, and the KV cells it allocated. It imports only what a worker
needs to generate (no exporters, no benchmark helpers), so the figures are the engine's.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the repository packages importable
    sys.path.insert(0, str(ROOT))

from core.settings import Settings  # noqa: E402
from generation.batching import BatchingEngine  # noqa: E402
from generation.llama import LlamaEngine  # noqa: E402
from generation.protocol import GenerationRequest  # noqa: E402

TOPICS = ("a lighthouse keeper", "a lost map", "a city under the sea", "a clockwork bird")


def peak_mib() -> float:
    """This process's peak RSS. Not ``ru_maxrss``: Linux carries it over ``execve``, so a
    child started by a big parent reports the parent's peak. ``VmHWM`` belongs to this
    process's own address space."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def probe(size: int, max_tokens: int) -> dict[str, object]:
    imports = peak_mib()
    engine = LlamaEngine.from_settings(Settings(batch_max_size=size))
    built = peak_mib()
    requests = [
        GenerationRequest(
            f"story{i}",
            f"Write a short story about {TOPICS[i % len(TOPICS)]} (number {i}).",
            max_tokens,
            0.7,
            3000 + i,
        )
        for i in range(size)
    ]
    results = engine.generate_many(requests)
    own = engine.llm.n_ctx()
    cells, unified, sequences = own, False, 1
    if isinstance(engine, BatchingEngine):
        cells, unified, sequences = engine.kv_cells, engine.batch.unified, engine.batch.sequences
    return {
        "imports_mib": imports,
        "built_mib": built,
        "peak_mib": peak_mib(),
        "engine": type(engine).__name__,
        "kv_cells": cells,
        "unified": unified,
        "sequences": sequences,
        "own_cells": own,
        "tokens": sum(r.completion_tokens for r in results),
    }


if __name__ == "__main__":
    size = int(sys.argv[1])
    max_tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    print(json.dumps(probe(size, max_tokens)), flush=True)
