"""The document pipeline: inputs -> generated fields -> Document -> exported files."""

from __future__ import annotations

import json
import re
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.files import write_atomic
from core.settings import Settings
from documents.document import Document, FieldRecord
from documents.inputs import validate_inputs
from documents.loader import LoadedTemplate
from documents.render import render_document, render_prompts
from exporters.pool import ExportPool
from exporters.registry import Exporter, get_exporter
from generation.cache import ResultCache, request_key
from generation.protocol import (
    BatchGenerator,
    GenerationRequest,
    GenerationResult,
    Generator,
    ProgressCallback,
    RoutingGenerator,
)


@dataclass
class Artifact:
    format: str
    path: Path
    size: int
    seconds: float


@dataclass
class PipelineResult:
    document: Document
    artifacts: list[Artifact] = field(default_factory=list)
    generation_seconds: float = 0.0


def field_seed(base_seed: int, name: str) -> int:
    """A per-field seed that depends only on the base seed and the field name, not on order."""
    return (base_seed + zlib.crc32(name.encode("utf-8"))) % 2**31


def fill_template(
    template: LoadedTemplate,
    inputs: Mapping[str, Any],
    make_generator: Callable[[], Generator],
    settings: Settings,
    *,
    seed: int,
    on_progress: ProgressCallback | None = None,
    done: Mapping[str, FieldRecord] | None = None,
    on_field: Callable[[FieldRecord], None] | None = None,
    cache: ResultCache | None = None,
) -> Document:
    """Validate inputs, generate every field, render the body; the model loads only if needed.

    `done` holds fields an earlier attempt already wrote (its checkpoints): one whose prompt
    and seed are unchanged is reused, marked `reused`, not generated again. `on_field` is
    told each newly written field at once, so a later attempt can reuse it. With `cache`, a
    field whose identical request was answered before gets that answer (marked `cached`)
    unless the template says `cache: false` for it.
    """
    spec = template.spec
    values = validate_inputs(spec, inputs)
    prompts = render_prompts(template, values)
    requests = {
        name: _request(template, name, prompts[name], settings, seed) for name in spec.generate
    }
    records: dict[str, FieldRecord] = {}
    for name, request in requests.items():  # an earlier attempt's checkpoints first
        earlier = (done or {}).get(name)
        if earlier is not None and (earlier.prompt, earlier.seed) == (request.prompt, request.seed):
            records[name] = replace(earlier, reused=True)
    missing = [request for name, request in requests.items() if name not in records]
    if missing:
        generator, lock = make_generator(), threading.Lock()

        def write(request: GenerationRequest) -> None:
            store = cache if spec.generate[request.name].cache else None
            key = request_key(_identity(generator, request), request) if store else ""
            hit = store.get(key) if store is not None else None
            result = hit or generator.generate(request, on_progress)
            if store is not None and hit is None and not result.route.startswith("fallback"):
                store.put(key, result)  # a fallback's answer is not the chosen model's
            record = replace(_record(request.name, request.prompt, result), cached=hit is not None)
            with lock:  # one checkpoint at a time, each as soon as its field is written
                records[request.name] = record
                if on_field is not None:
                    on_field(record)

        _all_at_once(generator, missing, write)
    generated = {name: _value(requests[name], records[name].text) for name in requests}
    provenance = tuple(records[name] for name in requests)
    return render_document(template, values, generated, provenance)


def _all_at_once(
    generator: Generator,
    requests: list[GenerationRequest],
    write: Callable[[GenerationRequest], None],
) -> None:
    """Write every field; all at once where the generator batches (its loop puts them in one
    batch), else one after another. The first failure is raised once all have finished, so
    the fields that were written are checkpointed for the next attempt."""
    if not isinstance(generator, BatchGenerator) or len(requests) == 1:
        for request in requests:
            write(request)
        return
    with ThreadPoolExecutor(len(requests), thread_name_prefix="field") as pool:
        futures = [pool.submit(write, request) for request in requests]
    for future in futures:
        future.result()


def _identity(generator: Generator, request: GenerationRequest) -> str:
    """The model that would answer `request` (the router knows it per field)."""
    if isinstance(generator, RoutingGenerator):
        return generator.model_name_for(request)
    return generator.model_name


def _value(request: GenerationRequest, text: str) -> Any:
    """A checkpointed field's value: its text, or the JSON it holds for a schema field."""
    return json.loads(text) if request.json_schema is not None else text


def _request(
    template: LoadedTemplate, name: str, prompt: str, settings: Settings, seed: int
) -> GenerationRequest:
    gen_field = template.spec.generate[name]
    temperature = settings.temperature if gen_field.temperature is None else gen_field.temperature
    return GenerationRequest(
        name=name,
        prompt=prompt,
        max_tokens=gen_field.max_tokens or settings.max_tokens,
        temperature=temperature,
        seed=field_seed(seed, name),
        system=gen_field.system,
        json_schema=gen_field.json_schema,
        model=gen_field.model,
        route=gen_field.route,
        fallback=tuple(gen_field.fallback),
    )


def _record(name: str, prompt: str, result: GenerationResult) -> FieldRecord:
    return FieldRecord(
        name=name,
        prompt=prompt,
        model=result.model,
        seed=result.seed,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        seconds=result.seconds,
        finish_reason=result.finish_reason,
        text=result.text,
        attempts=result.attempts,
        served_by=result.served_by,
        route=result.route,
    )


@dataclass(frozen=True)
class Exported:
    exporter: Exporter
    data: bytes
    seconds: float


def export_all(
    document: Document,
    formats: list[str],
    after_each: Callable[[], None] | None = None,
    pool: ExportPool | None = None,
) -> list[Exported]:
    """Export every format in memory, timing each; `after_each` may stop the run between them.

    With a pool, the formats render at once in its processes. Nothing is written here, so a
    failing exporter leaves no partial set of files behind.
    """
    if pool is not None:
        done = [
            Exported(get_exporter(name), data, seconds)
            for name, data, seconds in pool.export_many(document, formats)
        ]
        if after_each is not None:
            after_each()
        return done
    exported = []
    for name in formats:
        exporter = get_exporter(name)
        started = time.perf_counter()
        data = exporter.export(document)
        exported.append(Exported(exporter, data, time.perf_counter() - started))
        if after_each is not None:
            after_each()
    return exported


def export_files(document: Document, formats: list[str], out_dir: Path) -> list[Artifact]:
    """Export every format in memory first, then write each atomically (temp file + rename).

    An exporter failure therefore writes nothing, and no reader ever sees a half-written file.
    """
    stem = artifact_stem(document)
    exported = export_all(document, formats)
    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts = []
    for item in exported:
        target = out_dir / f"{stem}.{item.exporter.extension}"
        write_atomic(target, item.data)
        artifacts.append(Artifact(item.exporter.name, target, len(item.data), item.seconds))
    return artifacts


def artifact_stem(document: Document) -> str:
    """A file name stem safe on every OS that keeps Unicode letters: `API接口文档-1.2`."""
    raw = f"{document.template_name}-{document.template_version}"
    return re.sub(r"[^\w.-]+", "-", raw).strip("-.")[:120] or "document"
