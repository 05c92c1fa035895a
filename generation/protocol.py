"""The small interface the pipeline needs from any text generator (real model or test fake)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from core.errors import AutoglmError, UserError


@dataclass(frozen=True)
class GenerationRequest:
    """One field to write. With ``json_schema`` the answer must be JSON valid against it."""

    name: str
    prompt: str
    max_tokens: int
    temperature: float
    seed: int
    system: str | None = None
    json_schema: dict[str, Any] | None = None
    model: str | None = None  # a named model; None: the default, or the router's choice
    route: str | None = None  # "auto": the router picks the light or heavy model
    fallback: tuple[str, ...] = ()  # models to try, in order, when the chosen one is unusable


@dataclass(frozen=True)
class GenerationResult:
    """The answer and how it was produced (recorded as provenance)."""

    name: str
    text: str
    value: Any
    model: str
    seed: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    finish_reason: str
    attempts: int = 1
    served_by: str = ""  # the named model that wrote it (set by the router)
    route: str = ""  # why that model: named, default, routed with its score, or fallback


class ProgressCallback(Protocol):
    """Told after each token of a field: its name, tokens so far, seconds since it started,
    and its text so far (decoded UTF-8, an incomplete last character left out). Raising ends
    that field (a deadline, a cancelled job)."""

    def __call__(self, name: str, tokens: int, elapsed: float, text: str) -> None: ...


class Generator(Protocol):
    """Anything that writes fields: `LlamaEngine`, or a fake in tests of other layers."""

    @property
    def model_name(self) -> str: ...

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> GenerationResult: ...


@runtime_checkable
class BatchGenerator(Generator, Protocol):
    """A generator that can write several independent fields at once (results in order)."""

    def generate_many(
        self, requests: Sequence[GenerationRequest], on_progress: ProgressCallback | None = None
    ) -> list[GenerationResult]: ...


@runtime_checkable
class RoutingGenerator(Generator, Protocol):
    """A generator over several models: which one answers depends on the request."""

    def model_name_for(self, request: GenerationRequest) -> str: ...


class GenerationError(AutoglmError):
    """The model failed to produce an acceptable answer (after its retry)."""


class ModelUnavailableError(GenerationError):
    """The model cannot be used now (its server is down, overloaded or its circuit is open);
    another model may answer instead."""


class SchemaNotSupportedError(UserError):
    """A field's JSON Schema cannot be turned into a generation grammar."""


class PromptTooLongError(UserError):
    """The rendered prompt does not fit the model's context window."""
