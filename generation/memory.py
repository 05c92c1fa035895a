"""How much memory a loaded model needs with its KV cache, read from the GGUF's metadata.

Loading with `vocab_only` reads the metadata (layers, embedding size, attention heads) in
milliseconds without the weights, so a worker can refuse to start before it runs out.
"""

from __future__ import annotations

from pathlib import Path

import llama_cpp

from core.settings import Settings
from generation.batching import BatchConfig

F16_BYTES = 2


def kv_cells(settings: Settings) -> int:
    """KV cells the engine allocates for these settings (one context, or the batch's)."""
    if settings.batch_max_size <= 1:
        return settings.n_ctx
    return BatchConfig.from_settings(settings).cells(settings.n_ctx)


def memory_needed(model_path: Path, cells: int) -> int:
    """Bytes for the weights plus an f16 K and V cache of `cells` cells."""
    llm = llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    meta = llm.metadata
    arch = meta.get("general.architecture", "llama")
    layers = int(meta.get(f"{arch}.block_count", 0))
    embedding = int(meta.get(f"{arch}.embedding_length", 0))
    heads = int(meta.get(f"{arch}.attention.head_count", 1)) or 1
    kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads)) or heads
    kv_width = embedding * kv_heads // heads
    return model_path.stat().st_size + 2 * layers * cells * kv_width * F16_BYTES
