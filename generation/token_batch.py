"""A `llama_batch` laid over numpy arrays (one sequence id per token), filled by slices."""

from __future__ import annotations

import ctypes
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt


class TokenBatch:
    """Tokens for one `llama_decode` call. The arrays are owned here; the struct points into
    them, so filling the batch is numpy slice assignment rather than per-token ctypes calls."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.token = np.zeros(capacity, dtype=np.int32)
        self.pos = np.zeros(capacity, dtype=np.int32)
        self.n_seq_id = np.ones(capacity, dtype=np.int32)
        self.seq_id = np.zeros(capacity, dtype=np.int32)
        self.logits = np.zeros(capacity, dtype=np.int8)
        # token i's seq_id pointer points at seq_id[i]; the list ends with NULL as in llama.cpp
        self._seq_ptrs = np.zeros(capacity + 1, dtype=np.uintp)
        offsets = np.arange(capacity, dtype=np.uintp) * self.seq_id.itemsize
        self._seq_ptrs[:capacity] = self.seq_id.ctypes.data + offsets
        self.struct = llama_cpp.llama_batch(
            n_tokens=0,
            token=self.token.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token)),
            embd=None,
            pos=self.pos.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_pos)),
            n_seq_id=self.n_seq_id.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
            seq_id=ctypes.cast(
                self._seq_ptrs.ctypes.data, ctypes.POINTER(ctypes.POINTER(llama_cpp.llama_seq_id))
            ),
            logits=self.logits.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)),
        )
        self.size = 0

    def add_steps(
        self,
        tokens: npt.ArrayLike,
        positions: npt.ArrayLike,
        seq_ids: npt.ArrayLike,
        *,
        clear: bool = False,
    ) -> int:
        """One token for each of several sequences, each with its logits; returns the batch
        index of the first (the others follow in order)."""
        if clear:
            self.size = 0
        start = self.size
        end = start + len(np.asarray(seq_ids))
        self.token[start:end] = tokens
        self.pos[start:end] = positions
        self.seq_id[start:end] = seq_ids
        self.logits[start:end] = 1
        self.size = end
        return start

    def add_span(
        self, tokens: npt.NDArray[np.int32], first_pos: int, seq_id: int, *, clear: bool = False
    ) -> int:
        """Consecutive tokens of one sequence, logits for the last; returns its batch index."""
        if clear:
            self.size = 0
        start, end = self.size, self.size + len(tokens)
        self.token[start:end] = tokens
        self.pos[start:end] = np.arange(first_pos, first_pos + len(tokens), dtype=np.int32)
        self.seq_id[start:end] = seq_id
        self.logits[start:end] = 0
        self.logits[end - 1] = 1
        self.size = end
        return end - 1

    def decode(self, ctx: Any) -> int:
        """`llama_decode` on what has been added: 0 on success (llama.cpp's codes otherwise)."""
        self.struct.n_tokens = self.size
        return int(llama_cpp.llama_decode(ctx, self.struct))
