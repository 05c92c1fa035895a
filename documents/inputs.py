"""Check inputs against a template's declared variables before any generation starts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from documents.errors import InputError
from documents.spec import TemplateSpec, Variable, VariableType, matches_type

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
MAX_INPUT_BYTES = 1024 * 1024
MAX_INPUT_DEPTH = 32


def inputs_from_text(spec: TemplateSpec, texts: Mapping[str, str]) -> dict[str, Any]:
    """Convert `--set key=value` strings to each declared type (JSON for lists and objects)."""
    declared = {v.name: v for v in spec.variables}
    values: dict[str, Any] = {}
    problems = []
    for name, text in texts.items():
        variable = declared.get(name)
        try:
            values[name] = _from_text(variable.type, text) if variable else text
        except ValueError as exc:
            problems.append(f"{spec.name}: input {name!r}: {exc}")
    if problems:
        raise InputError(problems)
    return values


def validate_inputs(spec: TemplateSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    """Return inputs with defaults applied; raise `InputError` listing every problem."""
    declared = {v.name: v for v in spec.variables}
    problems = [
        f"{spec.name}: unknown input {name!r} (declared: {', '.join(declared) or 'none'})"
        for name in given
        if name not in declared
    ]
    values: dict[str, Any] = {}
    for variable in spec.variables:
        if variable.name not in given:
            if variable.is_required:
                problems.append(f"{spec.name}: missing required input {variable.name!r}")
            else:
                values[variable.name] = variable.default
            continue
        try:
            values[variable.name] = _check_type(variable, given[variable.name])
        except ValueError as exc:
            problems.append(f"{spec.name}: input {variable.name!r}: {exc}")
    if not problems and _too_deep(values):
        problems.append(f"{spec.name}: inputs nest deeper than {MAX_INPUT_DEPTH} levels")
    elif not problems and len(json.dumps(values, default=str)) > MAX_INPUT_BYTES:
        problems.append(f"{spec.name}: inputs are over {MAX_INPUT_BYTES} bytes")
    if problems:
        raise InputError(problems)
    return values


def _too_deep(value: Any) -> bool:
    """Whether containers nest deeper than `MAX_INPUT_DEPTH` (checked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_INPUT_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def _check_type(variable: Variable, value: Any) -> Any:
    kind = variable.type
    if value is None and not variable.is_required:
        return variable.default  # an explicit null means "use the default"
    if not matches_type(kind, value):
        raise ValueError(f"expected {kind.value}, got {type(value).__name__} {_preview(value)}")
    return value


def _from_text(kind: VariableType, text: str) -> Any:
    """Convert a command-line string to the declared type (JSON for lists and objects)."""
    stripped = text.strip()
    if kind is VariableType.INTEGER:
        try:
            return int(stripped)
        except ValueError:
            raise ValueError(f"expected an integer, got {_preview(text)}") from None
    if kind is VariableType.NUMBER:
        try:
            return float(stripped)
        except ValueError:
            raise ValueError(f"expected a number, got {_preview(text)}") from None
    if kind is VariableType.BOOLEAN:
        if stripped.lower() in _TRUE | _FALSE:
            return stripped.lower() in _TRUE
        raise ValueError(f"expected true or false, got {_preview(text)}")
    if kind in (VariableType.LIST, VariableType.OBJECT) or (
        kind is VariableType.ANY and stripped[:1] in ("[", "{")
    ):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        except RecursionError:
            raise ValueError("JSON nests too deeply") from None
    return text


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
