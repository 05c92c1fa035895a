"""Prefix reuse: a joining sequence whose prompt begins like a running sequence's (the chat
template's system prompt, a template's shared instructions) gets a copy of those KV cells
instead of decoding them again. `Llama` does the same against the previous prompt in its
context. Decoding only the rest gives the same logits as decoding the whole prompt as long as
the rest is more than one token (a one-token decode rounds differently), so at least two
prompt tokens are always decoded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt

MIN_REUSE = 16  # shorter shared beginnings are not worth copying a per-sequence cache

Tokens = npt.NDArray[np.int32]


def common_prefix(a: Tokens, b: Tokens) -> int:
    n = min(len(a), len(b))
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if len(differ) else n


def reuse_prefix(mem: Any, slot: int, prompt: Tokens, running: Iterable[tuple[int, Tokens]]) -> int:
    """Give sequence ``slot`` the cells of the longest beginning of its prompt that one of the
    ``running`` sequences (id, prompt) has decoded; returns how many prompt tokens are in
    place (0 when none is worth it)."""
    source, shared = -1, 0
    for seq_id, tokens in running:
        n = common_prefix(tokens, prompt)
        if n > shared:
            source, shared = seq_id, n
    shared = min(shared, len(prompt) - 2)
    if shared < MIN_REUSE:
        return 0
    llama_cpp.llama_memory_seq_cp(mem, source, slot, -1, -1)  # whole sequences only, across
    llama_cpp.llama_memory_seq_rm(mem, slot, shared, -1)  # per-sequence caches: trim it
    return shared
