"""Per-sequence sampler chains, built exactly as `Llama._init_sampler` builds them."""

from __future__ import annotations

from typing import Any

import llama_cpp

from generation.chat import CompletionPlan


class SamplerChain:
    """A llama.cpp sampler chain owned by one sequence: penalties, the grammar (JSON fields),
    then top-k, typical, top-p, min-p, temperature and a seeded distribution sampler (greedy
    at temperature 0), in `Llama._init_sampler`'s order with its parameters."""

    def __init__(self, vocab: Any, plan: CompletionPlan) -> None:
        self.chain: Any = llama_cpp.llama_sampler_chain_init(
            llama_cpp.llama_sampler_chain_default_params()
        )
        try:
            self._build(vocab, plan)
        except BaseException:
            self.close()
            raise

    def _build(self, vocab: Any, plan: CompletionPlan) -> None:
        add = self._add
        add(
            llama_cpp.llama_sampler_init_penalties(
                llama_cpp.llama_vocab_n_tokens(vocab),
                plan.penalty_last_n,
                plan.repeat_penalty,
                plan.frequency_penalty,
                plan.presence_penalty,
            )
        )
        if plan.grammar is not None:
            add(
                llama_cpp.llama_sampler_init_grammar(
                    vocab, plan.grammar._grammar.encode("utf-8"), plan.grammar._root.encode("utf-8")
                )
            )
        if plan.temperature < 0.0:
            add(llama_cpp.llama_sampler_init_dist(plan.seed))
        elif plan.temperature == 0.0:
            add(llama_cpp.llama_sampler_init_greedy())
        else:
            add(llama_cpp.llama_sampler_init_top_k(plan.top_k))
            add(llama_cpp.llama_sampler_init_typical(plan.typical_p, 1))
            add(llama_cpp.llama_sampler_init_top_p(plan.top_p, 1))
            add(llama_cpp.llama_sampler_init_min_p(plan.min_p, 1))
            add(llama_cpp.llama_sampler_init_temp(plan.temperature))
            add(llama_cpp.llama_sampler_init_dist(plan.seed))

    def _add(self, sampler: Any) -> None:
        if not sampler:
            raise RuntimeError("llama.cpp could not create a sampler (invalid grammar?)")
        llama_cpp.llama_sampler_chain_add(self.chain, sampler)

    def sample(self, ctx: Any, index: int) -> int:
        """Sample (and accept) the next token from the logits of batch position ``index``."""
        return int(llama_cpp.llama_sampler_sample(self.chain, ctx, index))

    def close(self) -> None:
        if self.chain is not None:
            llama_cpp.llama_sampler_free(self.chain)
            self.chain = None
