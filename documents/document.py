"""The `Document` handed to exporters: Markdown body, metadata, layout options and provenance."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from documents.spec import ExportOptions


@dataclass(frozen=True)
class FieldRecord:
    """How one generated field was produced, so a document can be explained and reproduced."""

    name: str
    prompt: str
    model: str
    seed: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    finish_reason: str
    text: str = ""
    attempts: int = 1
    reused: bool = False  # taken from an earlier attempt's checkpoint, not generated again
    cached: bool = False  # the stored answer of an identical earlier request
    served_by: str = ""  # the named model that wrote it (default, heavy, a bundled name ...)
    route: str = ""  # why that model: named, default, routed (with its score), fallback

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FieldRecord:
        """A record as `as_dict` wrote it (a job's checkpoint of a field)."""
        return cls(
            name=str(data["name"]),
            prompt=str(data["prompt"]),
            model=str(data["model"]),
            seed=int(data["seed"]),
            prompt_tokens=int(data["prompt_tokens"]),
            completion_tokens=int(data["completion_tokens"]),
            seconds=float(data["seconds"]),
            finish_reason=str(data["finish_reason"]),
            text=str(data.get("text", "")),
            attempts=int(data.get("attempts", 1)),
            reused=bool(data.get("reused", False)),
            cached=bool(data.get("cached", False)),
            served_by=str(data.get("served_by", "")),
            route=str(data.get("route", "")),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "prompt": self.prompt,
            "model": self.model,
            "seed": self.seed,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 4),
            "finish_reason": self.finish_reason,
            "text": self.text,
            "attempts": self.attempts,
            "reused": self.reused,
            "cached": self.cached,
            "served_by": self.served_by,
            "route": self.route,
        }


@dataclass(frozen=True)
class Document:
    """A rendered document, independent of any output format."""

    title: str
    markdown: str
    template_name: str
    template_version: str
    options: ExportOptions = field(default_factory=ExportOptions)
    author: str | None = None
    category: str | None = None
    provenance: tuple[FieldRecord, ...] = ()
    assets: dict[str, bytes] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def provenance_json(self) -> str:
        """How this document was made (template, and per field: prompt, model, seed, tokens,
        time, finish reason), embedded in every export so a document explains itself."""
        return json.dumps(
            {
                "generator": "open-autoglm",
                "template": self.template_name,
                "version": self.template_version,
                "created": self.created_at.isoformat(),
                "fields": [record.as_dict() for record in self.provenance],
            },
            ensure_ascii=False,
            indent=2,
        )
