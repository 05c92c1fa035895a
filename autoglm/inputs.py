"""Read render inputs from `--input FILE` (JSON or YAML) and `--set key=value` pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import UserError
from documents.yaml_source import YamlProblem, parse_yaml

MAX_INPUT_FILE_BYTES = 1024 * 1024


def read_input_file(path: Path) -> dict[str, Any]:
    """A mapping of inputs from a `.json`, `.yaml` or `.yml` file (safe YAML, size-capped)."""
    try:
        if path.stat().st_size > MAX_INPUT_FILE_BYTES:
            raise UserError(f"{path}: input file is over {MAX_INPUT_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read input file ({exc})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else parse_yaml(text).data
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except RecursionError:
        raise UserError(f"{path}: inputs nest too deeply") from None
    except YamlProblem as exc:
        raise UserError(f"{path}: {exc}" + (f" (line {exc.line})" if exc.line else "")) from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: inputs must be a mapping of variable names to values")
    return data


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """`key=value` strings into a dict; the template's declared types convert the values later."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {pair!r}: expected key=value")
        values[key.strip()] = value
    return values
