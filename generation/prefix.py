"""Prefix reuse: a joining sequence whose prompt begins like a running sequence's (the chat
template's system prompt, a template's shared instructions) gets a copy of those KV cells
instead of decoding them again, as llama-server's `cache_prompt` does. `PrefixPool` keeps the
prompts of recently finished sequences in spare sequence ids, so a field that starts after its
look-alike has ended still finds them. At least two prompt tokens are always decoded (a
one-token decode rounds differently from a chunk's). With SmolLM2 the logits then equal a
whole-prompt decode's; with Qwen2.5 Q4_K_M they can round differently (a bench run: 12 of 16
fields equal), so a reused prefix gives another sample of the same model."""

from __future__ import annotations

from collections import OrderedDict
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


def copy_prompt(mem: Any, source: int, target: int, length: int) -> None:
    """Make ``target`` hold ``source``'s first ``length`` cells (and nothing else)."""
    llama_cpp.llama_memory_seq_rm(mem, target, -1, -1)
    llama_cpp.llama_memory_seq_cp(mem, source, target, -1, -1)  # whole sequences only, across
    llama_cpp.llama_memory_seq_rm(mem, target, length, -1)  # per-sequence caches: trim it


def reuse_prefix(
    mem: Any, slot: int, prompt: Tokens, candidates: Iterable[tuple[int, Tokens]]
) -> tuple[int, int]:
    """Give sequence ``slot`` the cells of the longest beginning of its prompt that one of the
    ``candidates`` (sequence id, prompt) holds; returns (that id, prompt tokens in place), or
    (-1, 0) when none is worth it."""
    source, shared = -1, 0
    for seq_id, tokens in candidates:
        n = common_prefix(tokens, prompt)
        if n > shared:
            source, shared = seq_id, n
    shared = min(shared, len(prompt) - 2)
    if shared < MIN_REUSE:
        return -1, 0
    copy_prompt(mem, source, slot, shared)
    return source, shared


class PrefixPool:
    """Prompts of recently finished sequences, each in a spare sequence id of the context,
    least recently used first out. Their cells count against the engine's free cells, and an
    entry is dropped as soon as a waiting field needs the room."""

    def __init__(self, mem: Any, first_id: int, size: int) -> None:
        self._mem = mem
        self._spare = list(range(first_id, first_id + size))
        self._entries: OrderedDict[int, Tokens] = OrderedDict()

    @property
    def cells(self) -> int:
        return sum(len(tokens) for tokens in self._entries.values())

    def entries(self) -> list[tuple[int, Tokens]]:
        return list(self._entries.items())

    def __contains__(self, seq_id: int) -> bool:
        return seq_id in self._entries

    def used(self, seq_id: int) -> None:
        self._entries.move_to_end(seq_id)

    def keep(self, source: int, prompt: Tokens) -> int:
        """Keep sequence ``source``'s prompt cells before it is freed; returns the change in
        cells the pool holds. A prompt the pool already covers is not kept twice."""
        if len(prompt) < MIN_REUSE or not (self._spare or self._entries):
            return 0
        before = self.cells
        for seq_id, tokens in self._entries.items():
            shared = common_prefix(tokens, prompt)
            if shared == len(prompt):  # already held (the same prompt, or a longer one)
                self.used(seq_id)
                return 0
            if shared == len(tokens):  # the new prompt extends this entry: replace it
                self._drop(seq_id)
                break
        if not self._spare:
            self._drop(next(iter(self._entries)))
        target = self._spare.pop()
        copy_prompt(self._mem, source, target, len(prompt))
        self._entries[target] = prompt.copy()
        return self.cells - before

    def drop_oldest(self) -> int:
        """Free the least recently used entry; returns the cells freed (0 when empty)."""
        if not self._entries:
            return 0
        seq_id = next(iter(self._entries))
        freed = len(self._entries[seq_id])
        self._drop(seq_id)
        return freed

    def forget(self) -> None:
        """The context's memory was cleared: every entry is gone."""
        self._spare.extend(self._entries)
        self._entries.clear()

    def _drop(self, seq_id: int) -> None:
        llama_cpp.llama_memory_seq_rm(self._mem, seq_id, -1, -1)
        del self._entries[seq_id]
        self._spare.append(seq_id)
