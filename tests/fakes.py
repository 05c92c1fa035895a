"""A fast stand-in generator for tests of the layers around generation."""

from __future__ import annotations

import json

from generation.protocol import GenerationRequest, GenerationResult, ProgressCallback


class EchoGenerator:
    """Answers with fixed text per field (or valid JSON for schema fields) and records calls."""

    model_name = "echo"

    def __init__(self, answers: dict[str, str] | None = None) -> None:
        self.answers = answers or {}
        self.requests: list[GenerationRequest] = []

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        self.requests.append(request)
        text = self.answers.get(request.name, f"generated {request.name}")
        value = json.loads(text) if request.json_schema is not None else text
        if on_progress is not None:
            on_progress(request.name, 1, 0.01, text)
        return GenerationResult(
            name=request.name,
            text=text,
            value=value,
            model=self.model_name,
            seed=request.seed,
            prompt_tokens=len(request.prompt.split()),
            completion_tokens=1,
            seconds=0.01,
            finish_reason="stop",
        )
