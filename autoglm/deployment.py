"""The seed's `deployment.yaml`, read by `autoglm worker --config` and `autoglm serve --config`.

```yaml
model: smollm2-135m-instruct       # a bundled model's name, or a path to a .gguf file
replicas: 3                        # worker processes (one model each)
jobs_per_process: 4                # jobs each process runs at once, fields batched together
resources: {gpu: 1, memory: 16Gi}  # GPU offload on/off; memory the model + KV cache must fit
batching: {enabled: true, max_wait_time: 50ms, max_batch_size: 32}
models:                            # optional: named models, local or remote
  heavy: {base_url: "http://vllm:8000/v1", model: Qwen2.5-7B-Instruct, fallback: [default]}
routing: {default: auto, light: smollm2, heavy: heavy, threshold: 0.5}
```

Every key maps onto an `AUTOGLM_*` setting (the file wins over the environment); a bad value
is a configuration error naming the file, the field and its line (exit 2).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import ConfigError
from core.model_config import ModelConfig
from core.settings import Settings
from documents.yaml_source import YamlProblem, YamlSource, parse_yaml
from generation.memory import kv_cells, memory_needed
from generation.models import (
    BUNDLED_MODELS,
    ModelNotFoundError,
    bundled_model_path,
    resolve_model_path,
)
from generation.router import check_models

MAX_FILE_BYTES = 64 * 1024
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="A deployment.yaml (model, replicas, batching).")
]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|K|M|G|T)?B?\s*$")
_MEMORY_UNITS = {
    None: 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Batching(_Strict):
    enabled: bool = True
    max_wait_time: float = Field(default=50.0, description="Milliseconds ('50ms', '0.05s', 50).")
    max_batch_size: int = Field(default=32, ge=1, le=256)
    prefix_pool: int | None = Field(default=None, ge=0, le=64)

    @field_validator("max_wait_time", mode="before")
    @classmethod
    def _milliseconds(cls, value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError("expected a duration such as 50ms")
        if isinstance(value, int | float):
            return float(value)
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(f"{value!r} is not a duration (use e.g. 50ms or 0.05s)")
        number = float(match.group(1))
        return number * 1000 if match.group(2) == "s" else number


class Resources(_Strict):
    gpu: int = Field(default=0, ge=0, description="GPUs; any > 0 offloads every layer.")
    memory: int | None = Field(default=None, description="Bytes ('16Gi', '512Mi', '8G').")

    @field_validator("memory", mode="before")
    @classmethod
    def _bytes(cls, value: Any) -> int | None:
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        match = _MEMORY.match(str(value))
        if match is None:
            raise ValueError(f"{value!r} is not a memory size (use e.g. 16Gi or 512Mi)")
        return int(float(match.group(1)) * _MEMORY_UNITS[match.group(2)])


class Routing(_Strict):
    default: Literal["off", "auto"] | None = None
    light: str | None = None
    heavy: str | None = None
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)


class Deployment(_Strict):
    model: str | None = None
    models: dict[str, ModelConfig] | None = None
    routing: Routing = Routing()
    replicas: int = Field(default=1, ge=1, le=64)
    jobs_per_process: int | None = Field(default=None, ge=1, le=64)
    resources: Resources = Resources()
    batching: Batching = Batching()


def load_deployment(path: Path, settings: Settings) -> Settings:
    """`settings` with the file's values applied; `ConfigError` naming the field otherwise."""
    source = _read(path)
    try:
        deployment = Deployment.model_validate(source.data)
    except ValidationError as exc:
        raise ConfigError(
            [
                f"{path}: {'.'.join(str(p) for p in e['loc'])}{_line(source, e['loc'])}: {e['msg']}"
                for e in exc.errors()
            ]
        ) from None
    update: dict[str, Any] = {
        "worker_concurrency": deployment.replicas,
        "batch_max_size": deployment.batching.max_batch_size if deployment.batching.enabled else 1,
        "batch_max_wait_ms": deployment.batching.max_wait_time,
        "n_gpu_layers": -1 if deployment.resources.gpu > 0 else 0,
        "memory_limit_bytes": deployment.resources.memory,
    }
    if deployment.jobs_per_process is not None:
        update["worker_jobs_per_process"] = deployment.jobs_per_process
    if deployment.batching.prefix_pool is not None:
        update["batch_prefix_pool"] = deployment.batching.prefix_pool
    if deployment.models is not None:
        update["models"] = deployment.models
    routing = {
        "route": deployment.routing.default,
        "route_light": deployment.routing.light,
        "route_heavy": deployment.routing.heavy,
        "route_threshold": deployment.routing.threshold,
    }
    update.update({key: value for key, value in routing.items() if value is not None})
    if deployment.model is not None and deployment.model in (deployment.models or {}):
        update["model"] = deployment.model
    elif deployment.model is not None:
        update["model_path"] = _model_path(path, source, deployment.model)
    configured = settings.model_copy(update=update)
    try:
        check_models(configured)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return configured


def check_memory(settings: Settings, processes: int) -> None:
    """Refuse to start when `processes` copies of the model and KV cache exceed the memory the
    deployment gives (`resources.memory` / AUTOGLM_MEMORY_LIMIT_BYTES); no limit, no check."""
    limit = settings.memory_limit_bytes
    if limit is None:
        return
    model = resolve_model_path(settings.model_path, settings.model)
    cells = kv_cells(settings)
    needed = memory_needed(model, cells) * processes
    if needed > limit:
        raise ConfigError(
            f"{processes} process(es) of {model.name} with a {cells}-cell KV cache need about "
            f"{needed / 2**20:,.0f} MiB, more than resources.memory ({limit / 2**20:,.0f} MiB): "
            "lower replicas, batching.max_batch_size or AUTOGLM_N_CTX, or give more memory"
        )


def _read(path: Path) -> YamlSource:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the deployment file ({exc.strerror})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: the deployment file is over {MAX_FILE_BYTES} bytes")
    try:
        source = parse_yaml(raw.decode("utf-8"))
    except (UnicodeDecodeError, YamlProblem) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(source.data, dict):
        raise ConfigError(f"{path}: a deployment file is a mapping (model, replicas, ...)")
    return source


def _model_path(path: Path, source: YamlSource, model: str) -> Path:
    """A bundled model's file, or a GGUF path (relative to the deployment file)."""
    if model.lower() in BUNDLED_MODELS:
        try:
            return bundled_model_path(model.lower())
        except ModelNotFoundError as exc:
            raise ConfigError(f"{path}: model{_line(source, ('model',))}: {exc}") from None
    candidate = (path.parent / model).expanduser()
    if candidate.suffix == ".gguf" and candidate.is_file():
        return candidate
    known = ", ".join(sorted(BUNDLED_MODELS))
    raise ConfigError(
        f"{path}: model{_line(source, ('model',))}: {model!r} is neither a bundled model "
        f"({known}) nor an existing .gguf file"
    )


def _line(source: YamlSource, loc: tuple[Any, ...]) -> str:
    line = source.line_of(tuple(p for p in loc if isinstance(p, str | int)))
    return f" (line {line})" if line else ""
