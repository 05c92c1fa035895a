"""The exact-result cache: an identical request (model, prompt, sampling, seed, schema) gets
the stored answer instead of a new generation.

With a fixed seed llama.cpp's output is a function of exactly these inputs (the prompt tokens
follow from the model's chat template and the prompt), so a hit is the answer the model would
write again. Stores sit behind `ResultCache`: one in the database shared by all workers
(`workers.result_cache`), or `MemoryResultCache` in one process.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import asdict
from typing import Any, Protocol

from generation.protocol import GenerationRequest, GenerationResult


class ResultCache(Protocol):
    def get(self, key: str) -> GenerationResult | None: ...

    def put(self, key: str, result: GenerationResult) -> None: ...


def request_key(model_name: str, request: GenerationRequest) -> str:
    """What makes two requests identical (the field's name does not: its text would be the same)."""
    identity = {
        "model": model_name,
        "system": request.system,
        "prompt": request.prompt,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "seed": request.seed,
        "schema": request.json_schema,
    }
    canonical = json.dumps(identity, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def result_to_json(result: GenerationResult) -> dict[str, Any]:
    return asdict(result)


def result_from_json(data: dict[str, Any], name: str) -> GenerationResult:
    """A stored result, for the field `name` that asked for it now."""
    return GenerationResult(**{**data, "name": name})


class MemoryResultCache:
    """A per-process LRU with a time to live (for runs without a database)."""

    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self.max_entries, self.ttl_seconds = max_entries, ttl_seconds
        self._entries: OrderedDict[str, tuple[float, GenerationResult]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> GenerationResult | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] < time.monotonic():
                self._entries.pop(key, None)
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: str, result: GenerationResult) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl_seconds, result)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
