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


class ProgressCallback(Protocol):
    def __call__(self, name: str, tokens: int, elapsed: float) -> None: ...


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


class GenerationError(AutoglmError):
    """The model failed to produce an acceptable answer (after its retry)."""


class SchemaNotSupportedError(UserError):
    """A field's JSON Schema cannot be turned into a generation grammar."""


class PromptTooLongError(UserError):
    """The rendered prompt does not fit the model's context window."""
