"""A dry run of a template: the document rendered at once, without the model.

Authors need to see their layout before any job runs, and the console must never load a model
(it may not import `generation`). So every generated field gets either a clearly marked
placeholder or the text it was last generated with, and the rest is the real pipeline:
`validate_inputs`, `render_prompts`, `render_document`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from jsonschema import Draft202012Validator

from documents.document import Document, FieldRecord
from documents.inputs import validate_inputs
from documents.loader import LoadedTemplate
from documents.render import render_document, render_prompts
from documents.spec import GeneratedField, TemplateSpec, Variable, VariableType

PLACEHOLDER = "⟨{name}: generated text, up to {tokens} tokens⟩"
LEAF = "⟨{path}: generated⟩"  # a string inside a schema field's JSON
MAX_SCHEMA_DEPTH = 16
PREVIEW_MODEL = "preview (no model)"

FieldSource = Literal["placeholder", "last"]


@dataclass(frozen=True)
class LastText:
    """A field's text from an earlier job, and where it came from (shown to the author)."""

    text: str
    origin: str


@dataclass(frozen=True)
class FieldPreview:
    """What stands in for one generated field in the preview, and why."""

    name: str
    source: FieldSource
    text: str  # the placeholder, or the reused text (JSON text for schema fields)
    origin: str = ""  # for reused text: which job wrote it


@dataclass(frozen=True)
class Preview:
    document: Document
    inputs: dict[str, Any]
    prompts: dict[str, str]
    fields: tuple[FieldPreview, ...]
    markers: tuple[str, ...] = field(default=())  # every placeholder string, to highlight


def placeholder_inputs(spec: TemplateSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    """`given` plus, for each required variable not given, its default or a value of its type
    (validation then applies the optional variables' defaults)."""
    values = dict(given)
    for variable in spec.variables:
        if variable.name not in values and variable.is_required:
            values[variable.name] = (
                variable.default if variable.default is not None else _typed(variable)
            )
    return values


def _typed(variable: Variable) -> Any:
    """A harmless value of the variable's type: text names itself, containers are empty."""
    return {
        VariableType.INTEGER: 0,
        VariableType.NUMBER: 0,
        VariableType.BOOLEAN: False,
        VariableType.LIST: [],
        VariableType.OBJECT: {},
    }.get(variable.type, f"⟨{variable.name}⟩")


def preview_document(
    template: LoadedTemplate,
    given: Mapping[str, Any] | None = None,
    last: Mapping[str, LastText] | None = None,
    *,
    default_max_tokens: int,
) -> Preview:
    """Render `template` with no model; raises `InputError` or `RenderError` as a job would.

    `last` holds fields' texts from the newest finished job: one that still fits the field
    (JSON matching its schema, for schema fields) is used and marked; others get a placeholder.
    """
    spec = template.spec
    filled = placeholder_inputs(spec, given or {})
    values = validate_inputs(spec, filled)
    prompts = render_prompts(template, values)
    generated: dict[str, Any] = {}
    fields, records = [], []
    markers = [v for k, v in filled.items() if k not in (given or {}) and v == f"⟨{k}⟩"]
    for name, gen_field in spec.generate.items():
        reused = _reusable(gen_field, (last or {}).get(name))
        if reused is not None:
            generated[name] = reused
            earlier = (last or {})[name]
            fields.append(FieldPreview(name, "last", earlier.text, earlier.origin))
        else:
            tokens = gen_field.max_tokens or default_max_tokens
            found: list[str] = []
            generated[name] = _placeholder(gen_field, name, tokens, found)
            markers.extend(found)
            fields.append(FieldPreview(name, "placeholder", _as_text(generated[name])))
        records.append(_record(name, prompts[name], fields[-1]))
    document = render_document(template, values, generated, tuple(records))
    return Preview(document, values, prompts, tuple(fields), tuple(dict.fromkeys(markers)))


def _reusable(gen_field: GeneratedField, earlier: LastText | None) -> Any:
    """The earlier text as the field's value (decoded JSON for schema fields), or None when
    there is none or it no longer fits the field's schema."""
    if earlier is None or not earlier.text:
        return None
    if gen_field.json_schema is None:
        return earlier.text
    try:
        value = json.loads(earlier.text)
    except (ValueError, RecursionError):
        return None
    return value if Draft202012Validator(gen_field.json_schema).is_valid(value) else None


def _placeholder(gen_field: GeneratedField, name: str, tokens: int, found: list[str]) -> Any:
    if gen_field.json_schema is None:
        found.append(PLACEHOLDER.format(name=name, tokens=tokens))
        return found[-1]
    return _from_schema(gen_field.json_schema, name, found, 0)


def _from_schema(schema: Any, path: str, found: list[str], depth: int) -> Any:
    """A value of the schema's shape whose strings are marked placeholders."""
    if not isinstance(schema, dict) or depth > MAX_SCHEMA_DEPTH:
        return _leaf(path, found)
    if "const" in schema or schema.get("enum"):
        return schema["const"] if "const" in schema else schema["enum"][0]
    if choices := schema.get("anyOf") or schema.get("oneOf"):
        return _from_schema(choices[0], path, found, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties") or {}
        return {
            key: _from_schema(sub, f"{path}.{key}", found, depth + 1)
            for key, sub in properties.items()
        }
    if kind == "array":
        return _array(schema, path, found, depth)
    return _SCALARS[kind](schema) if kind in _SCALARS else _leaf(path, found)


def _array(schema: dict[str, Any], path: str, found: list[str], depth: int) -> list[Any]:
    """Its fixed items, then as many of `items` as `minItems` asks (at least one)."""
    items = [
        _from_schema(sub, f"{path}[{index}]", found, depth + 1)
        for index, sub in enumerate(schema.get("prefixItems") or [])
    ]
    wanted = max(1, int(schema.get("minItems", 1)))
    while len(items) < wanted and schema.get("items") is not False:
        items.append(_from_schema(schema.get("items"), f"{path}[{len(items)}]", found, depth + 1))
    return items


_SCALARS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "integer": lambda schema: schema.get("minimum", 0),
    "number": lambda schema: schema.get("minimum", 0),
    "boolean": lambda _schema: False,
    "null": lambda _schema: None,
}


def _leaf(path: str, found: list[str]) -> str:
    found.append(LEAF.format(path=path))
    return found[-1]


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _record(name: str, prompt: str, shown: FieldPreview) -> FieldRecord:
    """Provenance that says plainly this field was not generated."""
    return FieldRecord(
        name=name,
        prompt=prompt,
        model=PREVIEW_MODEL,
        seed=0,
        prompt_tokens=0,
        completion_tokens=0,
        seconds=0.0,
        finish_reason=f"preview: {shown.source}",
        text=shown.text,
        route=shown.origin,
    )
