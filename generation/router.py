"""Named models and the seed's light/heavy router, behind the one `Generator` the pipeline uses.

A field names a model (`model: heavy`), asks the router (`route: auto`, or
AUTOGLM_ROUTE=auto for fields that name none), or gets the default model. The names a
worker knows: `default` (AUTOGLM_MODEL), every entry of `models` (local GGUFs or remote
OpenAI-compatible endpoints), and the bundled models by name. When the chosen model is
unusable (its server down, its circuit open) the field's fallback chain, else the model's own,
is tried in order; provenance records who answered and why.

Complexity score (deterministic, from the request alone; no model is loaded to compute it)::

    score = min(1, 0.5 · non_latin + 0.5 · json + 0.5 · min(1, (prompt_tokens + max_tokens) / 2000))

where ``non_latin`` is 1 when the prompt or system text holds letters outside the Latin
script (the light model writes English only), ``json`` is 1 for a field with a schema, and
``prompt_tokens`` is estimated as characters / 4. Below the threshold (0.5, as in the seed) a
field goes to the light model, else to the heavy one.
"""

from __future__ import annotations

import math
import threading
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import structlog

from core.errors import ConfigError
from core.model_config import LocalModel, ModelConfig, RemoteModel
from core.settings import Settings
from generation.models import BUNDLED_MODELS
from generation.protocol import (
    GenerationRequest,
    GenerationResult,
    Generator,
    ModelUnavailableError,
    ProgressCallback,
)

log = structlog.get_logger(__name__)

DEFAULT = "default"
EngineFactory = Callable[[str, ModelConfig], Generator]


def complexity(request: GenerationRequest) -> float:
    """The router's score in [0, 1] (see the module docstring)."""
    text = (request.system or "") + request.prompt
    non_latin = any(_non_latin_letter(c) for c in text)
    length = min(1.0, (math.ceil(len(text) / 4) + request.max_tokens) / 2000)
    score = 0.5 * non_latin + 0.5 * (request.json_schema is not None) + 0.5 * length
    return round(min(1.0, score), 3)


def _non_latin_letter(char: str) -> bool:
    if not char.isalpha() or char.isascii():
        return False
    return not unicodedata.name(char, "").startswith("LATIN")


def known_models(settings: Settings) -> dict[str, ModelConfig]:
    """Every name a field may use, with its configuration."""
    names: dict[str, ModelConfig] = {name: LocalModel(gguf=name) for name in BUNDLED_MODELS}
    default_path = str(settings.model_path) if settings.model_path else settings.model
    names[DEFAULT] = settings.models.get(settings.model) or LocalModel(gguf=default_path)
    names.update(settings.models)
    return names


def check_models(settings: Settings) -> None:
    """Refuse a configuration whose router or fallbacks name models nothing defines."""
    known = known_models(settings)
    referenced = [("AUTOGLM_ROUTE_LIGHT", settings.route_light)]
    referenced.append(("AUTOGLM_ROUTE_HEAVY", settings.route_heavy))
    for name, config in settings.models.items():
        referenced += [(f"models.{name}.fallback", f) for f in config.fallback]
    for where, name in referenced:
        if name not in known:
            raise ConfigError(
                f"{where}: unknown model {name!r} (known: {', '.join(sorted(known))})"
            )
    for name, config in settings.models.items():
        for other in config.fallback:
            if engine_key(known[other]) == engine_key(config):
                raise ConfigError(f"models.{name}.fallback: {other!r} is {name!r} itself")


def engine_key(config: ModelConfig) -> str:
    """Two names for the same model (`default` and `heavy`) share one engine and breaker."""
    return config.model_dump_json(exclude={"fallback"})


class ModelRouter:
    """Writes each field with the model it names or the router picks; engines are made on
    first use (a model no field uses is never loaded)."""

    def __init__(self, settings: Settings, make_engine: EngineFactory) -> None:
        check_models(settings)
        self.settings = settings
        self._configs = known_models(settings)
        self._make_engine = make_engine
        self._engines: dict[str, Generator] = {}  # by engine_key
        self._loading: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.engine(DEFAULT)  # loaded now: a worker is ready once its default model is

    @property
    def model_name(self) -> str:
        return self.engine(DEFAULT).model_name

    def engine(self, name: str) -> Generator:
        """The engine for `name`, made on first use. A model loading (seconds to minutes)
        holds up only the fields that wait for that model."""
        config = self._configs[name]
        key = engine_key(config)
        with self._lock:
            if key in self._engines:
                return self._engines[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if key in self._engines:
                    return self._engines[key]
            engine = self._make_engine(name, config)
            with self._lock:
                self._engines[key] = engine
            return engine

    def loaded(self, name: str) -> Generator | None:
        with self._lock:
            return self._engines.get(engine_key(self._configs[name]))

    def choose(self, request: GenerationRequest) -> tuple[str, str]:
        """(model name, why) for `request`, before any fallback."""
        if request.model is not None:
            if request.model not in self._configs:
                known = ", ".join(sorted(self._configs))
                raise ConfigError(
                    f"field {request.name!r} names model {request.model!r}, which this worker "
                    f"does not define (known: {known})"
                )
            return request.model, "named"
        if (request.route or self.settings.route) == "auto":
            score = complexity(request)
            light = score < self.settings.route_threshold
            name = self.settings.route_light if light else self.settings.route_heavy
            side = "light" if light else "heavy"
            return (
                name,
                f"routed: score {score} {'<' if light else '≥'} "
                f"{self.settings.route_threshold} → {side}",
            )
        return DEFAULT, "default"

    def model_name_for(self, request: GenerationRequest) -> str:
        """The identity of the model that would answer (the exact-result cache keys on it)."""
        name, _ = self.choose(request)
        config = self._configs[name]
        if isinstance(config, RemoteModel):
            return f"remote:{config.base_url}:{config.model}"
        engine = self.engine(name)
        path = getattr(getattr(engine, "config", None), "model_path", None)
        if path is None:
            return engine.model_name
        stat = Path(path).stat()  # not the name alone: two folders may hold a model.gguf
        return f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        name, why = self.choose(request)
        chain = [name, *(request.fallback or self._configs[name].fallback)]
        failures: list[str] = []
        tried: set[str] = set()
        for candidate in chain:
            if candidate not in self._configs:
                raise ConfigError(f"field {request.name!r}: unknown fallback model {candidate!r}")
            if engine_key(self._configs[candidate]) in tried:
                continue  # another name for a model that just failed
            tried.add(engine_key(self._configs[candidate]))
            try:
                result = self.engine(candidate).generate(request, on_progress)
            except ModelUnavailableError as exc:
                failures.append(f"{candidate}: {exc}")
                log.warning("model unusable; trying the next", model=candidate, error=str(exc))
                continue
            if failures:
                why = f"fallback after {'; '.join(failures)} (chosen: {name}, {why})"
            return replace(result, served_by=candidate, route=why)
        raise ModelUnavailableError(
            f"field {request.name!r}: no usable model ({'; '.join(failures)})"
        )

    def generate_many(
        self, requests: Sequence[GenerationRequest], on_progress: ProgressCallback | None = None
    ) -> list[GenerationResult]:
        """All at once, each in its own thread: local fields meet in their engine's batches,
        remote ones wait on their servers without holding anything else."""
        if len(requests) == 1:
            return [self.generate(requests[0], on_progress)]
        with ThreadPoolExecutor(len(requests), thread_name_prefix="route") as pool:
            futures = [pool.submit(self.generate, r, on_progress) for r in requests]
        return [future.result() for future in futures]


def engine_factory(settings: Settings) -> EngineFactory:
    """Engines for named models: a remote client, or the process's engine for a GGUF (a local
    model's own GPU layers and context override the settings')."""

    def make(name: str, config: ModelConfig) -> Generator:
        if isinstance(config, RemoteModel):
            from generation.remote import RemoteEngine  # noqa: PLC0415

            return RemoteEngine(name, config)
        from generation.llama import LlamaEngine  # noqa: PLC0415

        update: dict[str, object] = {"model": config.gguf, "model_path": None}
        if config.n_gpu_layers is not None:
            update["n_gpu_layers"] = config.n_gpu_layers
        if config.n_ctx is not None:
            update["n_ctx"] = config.n_ctx
        return LlamaEngine.from_settings(settings.model_copy(update=update))

    return make


def router_for(settings: Settings) -> ModelRouter:
    """The process's generator: every named model behind one router."""
    return ModelRouter(settings, engine_factory(settings))


def status_of(router: ModelRouter) -> dict[str, str]:
    """What `/readyz` shows of a process that runs the models: each configured model's state
    (remote ones by their circuit)."""
    states: dict[str, str] = {}
    for name in [DEFAULT, *router.settings.models]:
        engine = router.loaded(name)
        if engine is None:
            states[name] = "not loaded"
            continue
        breaker = getattr(engine, "breaker", None)
        state = breaker.state if breaker is not None else "closed"
        states[name] = {"closed": "usable", "half_open": "probing"}.get(state, "circuit open")
    return states


def probe_models(settings: Settings, timeout: float = 2.0) -> dict[str, str]:
    """What `/readyz` shows of an API-only process: remote models answer `GET /models`;
    local ones are loaded by the workers."""
    import httpx  # noqa: PLC0415

    from generation.remote import api_key  # noqa: PLC0415

    def probe(name: str, config: ModelConfig) -> str:
        if not isinstance(config, RemoteModel):
            return "local (loaded by the workers)"
        try:
            key = api_key(name, config)
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            answer = httpx.get(
                f"{config.base_url.rstrip('/')}/models", headers=headers, timeout=timeout
            )
        except httpx.HTTPError as exc:
            return f"unreachable: {type(exc).__name__}"
        except Exception as exc:  # e.g. its API key variable is missing here
            return f"unusable: {exc}"
        return "usable" if answer.status_code < 400 else f"HTTP {answer.status_code}"

    wanted = {
        name: config
        for name, config in known_models(settings).items()
        if name in settings.models or name == DEFAULT
    }
    with ThreadPoolExecutor(max(1, len(wanted))) as pool:  # all at once: one timeout in all
        futures = {name: pool.submit(probe, name, config) for name, config in wanted.items()}
    return {name: future.result() for name, future in futures.items()}
