"""A chat completion taken apart, so that a batching loop can run it token by token and get
exactly what `Llama.create_chat_completion` gets: the same prompt tokens (the model's own chat
template, tokenized the same way), the same sampling parameters and stop strings, and the same
rules for when the text ends and what it is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import llama_cpp
from llama_cpp.llama_grammar import LlamaGrammar

from generation.answers import prompt_too_long
from generation.protocol import GenerationError, GenerationRequest


def chat_messages(request: GenerationRequest) -> list[dict[str, str]]:
    messages = [{"role": "user", "content": request.prompt}]
    if request.system:
        messages.insert(0, {"role": "system", "content": request.system})
    return messages


@dataclass(frozen=True)
class CompletionPlan:
    """Everything `Llama._create_completion` would work from, for one attempt at one field."""

    prompt_tokens: tuple[int, ...]
    max_tokens: int  # already cut to what the context leaves, as llama-cpp-python does
    stop: tuple[bytes, ...]
    temperature: float
    top_k: int
    top_p: float
    min_p: float
    typical_p: float
    repeat_penalty: float
    frequency_penalty: float
    presence_penalty: float
    penalty_last_n: int
    seed: int
    grammar: LlamaGrammar | None


class _Captured(Exception):  # not an error: it carries the arguments out
    def __init__(self, kwargs: dict[str, Any]) -> None:
        super().__init__("create_completion captured")
        self.kwargs = kwargs


class _Capture:
    """Stands in for the `Llama` inside its own `create_chat_completion`: every attribute is the
    real model's (chat handlers, tokenizer), except that `create_completion` hands back the
    arguments it was given instead of generating."""

    def __init__(self, llm: llama_cpp.Llama) -> None:
        self._llm = llm

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)

    def create_completion(self, **kwargs: Any) -> NoReturn:
        raise _Captured(kwargs)


def plan_chat_completion(
    llm: llama_cpp.Llama,
    request: GenerationRequest,
    grammar: LlamaGrammar | None,
    seed: int,
    n_ctx: int,
) -> CompletionPlan:
    """Run `create_chat_completion` (with the same arguments `LlamaEngine` passes) up to the
    point where it would start generating, and keep what it decided. ``n_ctx`` is the
    per-sequence context: a prompt that does not fit it raises `PromptTooLongError`."""
    try:
        llama_cpp.Llama.create_chat_completion(
            _Capture(llm),  # type: ignore[arg-type]
            messages=chat_messages(request),  # type: ignore[arg-type]
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            seed=seed,
            grammar=grammar,
        )
    except _Captured as captured:
        kw = captured.kwargs
    else:  # pragma: no cover - every text chat handler ends in create_completion
        raise GenerationError(f"chat format {llm.chat_format!r} cannot be batched")
    prompt = kw["prompt"]
    unsupported = kw.get("mirostat_mode") or kw.get("logit_bias") or kw.get("logits_processor")
    if not isinstance(prompt, list) or unsupported or kw.get("suffix") is not None:
        raise GenerationError(f"chat format {llm.chat_format!r} cannot be batched")
    if len(prompt) >= n_ctx:  # the same bound `_create_completion` applies
        raise prompt_too_long(request, n_ctx)
    max_tokens = kw["max_tokens"]
    if max_tokens is None or max_tokens <= 0:
        max_tokens = n_ctx - len(prompt)
    if max_tokens + len(prompt) >= n_ctx:
        max_tokens = n_ctx - len(prompt)
    stop = kw.get("stop") or []
    return CompletionPlan(
        prompt_tokens=tuple(prompt),
        max_tokens=max_tokens,
        stop=tuple(s.encode("utf-8") for s in ([stop] if isinstance(stop, str) else stop)),
        temperature=kw["temperature"],
        top_k=kw["top_k"],
        top_p=kw["top_p"],
        min_p=kw["min_p"],
        typical_p=kw["typical_p"],
        repeat_penalty=kw["repeat_penalty"],
        frequency_penalty=kw["frequency_penalty"],
        presence_penalty=kw["presence_penalty"],
        penalty_last_n=llm.last_n_tokens_size,
        seed=kw["seed"],
        grammar=kw.get("grammar"),
    )


class CompletionText:
    """The text of one completion as `_create_completion` (non-streaming) builds it: tokens are
    added one at a time; `add` says when the completion ends, after which `text` and
    `finish_reason` hold the answer. Its chat formatter's stop-token criterion is not repeated:
    it looks only at tokens already evaluated, and its token (the EOS) ends generation before
    it is evaluated."""

    def __init__(
        self,
        plan: CompletionPlan,
        piece: Callable[[int], bytes],
        is_end: Callable[[int], bool],
        bos: int,
    ) -> None:
        self.plan, self._piece, self._is_end, self._bos = plan, piece, is_end, bos
        self.tokens: list[int] = []
        self.sampled = 0
        self._bytes = b""
        self._multibyte_fix = 0
        self.text = ""
        self.finish_reason = ""

    def add(self, token: int) -> bool:
        """Take the next sampled token; True when the completion has ended."""
        self.sampled += 1
        if self._is_end(token):
            return self._end(self._detokenized(), "stop")
        self.tokens.append(token)
        self._bytes += self._piece(token)
        all_text = self._detokenized()
        # llama-cpp-python's check for an incomplete UTF-8 character at the end, kept as it is
        for i, char in enumerate(all_text[-3:]):
            k = 3 - i
            for num, pattern in ((2, 192), (3, 224), (4, 240)):
                if num > k and pattern & char == pattern:
                    self._multibyte_fix = num - k
        if self._multibyte_fix > 0:
            self._multibyte_fix -= 1
            return False
        found = [s for s in self.plan.stop if s in all_text]
        if found:
            return self._end(all_text[: all_text.index(found[0])], "stop")
        if len(self.tokens) >= self.plan.max_tokens:
            return self._end(all_text, "length")
        return False

    @property
    def partial(self) -> str:
        """The text so far, for progress (an incomplete last character is left out)."""
        return self._detokenized().decode("utf-8", errors="ignore")

    def cut(self) -> bool:
        """End the completion here (its context is full), as a cut-off one."""
        return self._end(self._detokenized(), "length")

    def _detokenized(self) -> bytes:
        # LlamaModel.detokenize drops a leading space after a leading BOS
        if self.tokens and self.tokens[0] == self._bos and self._bytes[:1] == b" ":
            return self._bytes[1:]
        return self._bytes

    def _end(self, text: bytes, reason: str) -> bool:
        self.text = text.decode("utf-8", errors="ignore")
        self.finish_reason = reason
        return True
