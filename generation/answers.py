"""What makes an answer acceptable, and the retry-once policy every local engine shares."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from jsonschema import Draft202012Validator
from llama_cpp.llama_grammar import LlamaGrammar

from generation.grammar import schema_grammar
from generation.protocol import (
    GenerationError,
    GenerationRequest,
    GenerationResult,
    PromptTooLongError,
    SchemaNotSupportedError,
)


@dataclass(frozen=True)
class Attempt:
    """One try at one field: the request, its grammar (JSON fields), the seed and try number."""

    request: GenerationRequest
    grammar: LlamaGrammar | None
    seed: int
    number: int


Complete = Callable[[Sequence[Attempt]], list[GenerationResult]]


def generate_checked(
    requests: Sequence[GenerationRequest], complete: Complete
) -> list[GenerationResult]:
    """Generate every request through ``complete`` (which may run the attempts it is given one
    after another or all at once), retrying once (next seed) a field whose answer is empty or,
    for JSON fields, cut off or invalid. Prose cut off at ``max_tokens`` is kept: its finish
    reason ("length") is recorded. Results come back in request order; the first field (in
    order) still unacceptable after its retry raises `GenerationError`."""
    grammars = [request_grammar(request) for request in requests]
    results: list[GenerationResult | None] = [None] * len(requests)
    problems: dict[int, str] = {}
    todo = list(range(len(requests)))
    for number in (1, 2):
        attempts = [
            Attempt(requests[i], grammars[i], attempt_seed(requests[i].seed, number), number)
            for i in todo
        ]
        again = []
        for i, result in zip(todo, complete(attempts), strict=True):
            problem, value = check(requests[i], result)
            if problem:
                problems[i] = problem
                again.append(i)
            else:
                results[i] = replace(result, value=value)
        todo = again
        if not todo:
            break
    if todo:
        first = todo[0]
        raise GenerationError(f"field {requests[first].name!r}: {problems[first]} (after a retry)")
    return [result for result in results if result is not None]


def attempt_seed(seed: int, number: int) -> int:
    """The request's own seed on the first try, the next one on the retry."""
    return seed if number == 1 else (seed + 1) % 2**31


def request_grammar(request: GenerationRequest) -> LlamaGrammar | None:
    """The grammar that keeps a JSON field's answer valid JSON of its schema (None for prose)."""
    if request.json_schema is None:
        return None
    try:
        return schema_grammar(request.json_schema)
    except Exception as exc:  # the converter raises bare exceptions on unsupported schemas
        raise SchemaNotSupportedError(
            f"field {request.name!r}: schema cannot be used for generation ({exc})"
        ) from None


def prompt_too_long(request: GenerationRequest, n_ctx: int) -> PromptTooLongError:
    return PromptTooLongError(
        f"field {request.name!r}: prompt does not fit the {n_ctx}-token "
        "context (shorten the prompt or raise AUTOGLM_N_CTX)"
    )


def check(request: GenerationRequest, result: GenerationResult) -> tuple[str, Any]:
    """Why a result is not acceptable ("" when it is), and its value (parsed JSON for schemas)."""
    if request.json_schema is None:
        return ("" if result.text else "the model returned no text"), result.text
    if result.finish_reason == "length":
        return f"JSON answer cut off at max_tokens={request.max_tokens}", None
    try:
        value = json.loads(result.text)
    except json.JSONDecodeError as exc:
        return f"answer is not valid JSON ({exc.msg})", None
    errors = sorted(Draft202012Validator(request.json_schema).iter_errors(value), key=str)
    if errors:
        return f"answer does not match its schema: {errors[0].message}", None
    return "", value
