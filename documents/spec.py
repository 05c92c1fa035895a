"""The template format as validated pydantic models; `autoglm schema` prints their JSON Schema."""

from __future__ import annotations

import posixpath
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from documents import cron
from documents.charts import Charts
from documents.layout import (
    CSS_LENGTH,
    FONT_SIZE,
    MetadataOptions,
    PdfVariant,
    TableOptions,
    TocOptions,
    check_running_text,
)

FORMAT_ALIASES: dict[str, str] = {
    "pdf": "pdf",
    "docx": "docx",
    "word": "docx",
    "md": "md",
    "markdown": "md",
}
RESERVED_NAMES = frozenset({"generated", "template", "loop", "range"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _version_text(value: Any) -> Any:
    """Numbers are accepted as versions and kept as text (`1.2` -> "1.2"); other types are not."""
    if isinstance(value, bool):
        raise ValueError("version must be a string or a number, not a boolean")
    if isinstance(value, int | float):
        return str(value)
    return value


def _identifier(value: str) -> str:
    if not value.isidentifier() or value.startswith("_"):
        raise ValueError(
            f"{value!r} is not a valid name (letters, digits, underscores; no leading _)"
        )
    if value in RESERVED_NAMES:
        raise ValueError(f"{value!r} is reserved")
    return value


Identifier = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_identifier)]


class Strict(BaseModel):
    """Unknown keys are errors, so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid")


class VariableType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    LIST = "list"
    OBJECT = "object"
    ANY = "any"


_PYTHON_TYPES: dict[VariableType, type | tuple[type, ...]] = {
    VariableType.STRING: str,
    VariableType.INTEGER: int,
    VariableType.NUMBER: (int, float),
    VariableType.BOOLEAN: bool,
    VariableType.LIST: list,
    VariableType.OBJECT: dict,
    VariableType.ANY: object,
}


def matches_type(kind: VariableType, value: Any) -> bool:
    """Whether ``value`` (from JSON or YAML) is of the declared type; booleans are not numbers."""
    if isinstance(value, bool) and kind in (VariableType.INTEGER, VariableType.NUMBER):
        return False
    return isinstance(value, _PYTHON_TYPES[kind])


class Variable(Strict):
    """An input the caller supplies; a plain name in YAML means a required variable of any type."""

    name: Identifier
    type: VariableType = VariableType.STRING
    required: bool | None = Field(
        default=None, description="Default: true unless a default is given."
    )
    default: Any = None
    description: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_plain_name(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data, "type": VariableType.ANY, "required": True}
        return data

    @model_validator(mode="after")
    def _default_has_the_type(self) -> Variable:
        if self.default is not None and not matches_type(self.type, self.default):
            raise ValueError(f"default {self.default!r} is not of type {self.type.value}")
        return self

    @property
    def is_required(self) -> bool:
        if self.required is not None:
            return self.required
        return "default" not in self.model_fields_set


class GeneratedField(Strict):
    """A field the model writes from a prompt; with `schema` the answer is JSON checked by it."""

    prompt: str = Field(min_length=1, max_length=8000)
    system: str | None = Field(default=None, max_length=4000)
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    cache: bool = Field(
        default=True, description="Serve an identical earlier request's answer (false: never)."
    )
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="A named model (the worker's `models`, a bundled model, or `default`).",
    )
    route: Literal["auto"] | None = Field(
        default=None, description="auto: the router picks the light or heavy model."
    )
    fallback: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list,
        max_length=8,
        description="Models to try, in order, when the chosen one is unusable.",
    )

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _model_or_route(self) -> GeneratedField:
        if self.model is not None and self.route is not None:
            raise ValueError("give a field `model` or `route`, not both")
        return self

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                Draft202012Validator.check_schema(value)
            except SchemaError as exc:
                raise ValueError(f"not a valid JSON Schema: {exc.message}") from exc
            _check_grammar_limits(value, "schema")
        return value


# JSON Schema keywords that constrained generation can turn into a grammar, and size limits
# that keep that grammar small (llama.cpp's parser crashes on very deep nested repetitions).
SCHEMA_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "items",
        "prefixItems",
        "additionalProperties",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "enum",
        "const",
        "anyOf",
        "oneOf",
        "description",
        "title",
        "default",
        "examples",
        "$schema",
    }
)
SCHEMA_LIMITS = {"maxLength": 1000, "minLength": 1000, "maxItems": 100, "minItems": 100}


def _check_grammar_limits(schema: Any, where: str) -> None:
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            _check_grammar_limits(item, f"{where}[{index}]")
        return
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key not in SCHEMA_KEYWORDS:
            raise ValueError(f"{where}: keyword {key!r} is not supported for generated fields")
        limit = SCHEMA_LIMITS.get(key)
        if limit is not None and isinstance(value, int) and value > limit:
            raise ValueError(f"{where}: {key} {value} is above the limit of {limit}")
        if key == "properties" and isinstance(value, dict):
            for name, sub in value.items():
                _check_grammar_limits(sub, f"{where}.properties.{name}")
        elif key in ("items", "prefixItems", "anyOf", "oneOf", "additionalProperties"):
            _check_grammar_limits(value, f"{where}.{key}")


class ExportOptions(Strict):
    """Layout options shared by the exporters (each uses what applies to it; documents/layout)."""

    margin: str = "2cm"
    page_size: Literal["A4", "A5", "A3", "Letter", "Legal"] = "A4"
    font: str = "Noto Sans CJK SC"
    font_size: str = Field(default="10.5pt", description="Base font size in points, e.g. 11pt.")
    include_toc: bool = Field(
        default=False, description="Shorthand for `toc: {position: after_title}`."
    )
    toc: TocOptions | None = Field(default=None, description="Overrides include_toc.")
    cover: bool = Field(
        default=False,
        description="The title block (first level-1 heading and the text up to the next "
        "heading) gets a page of its own, without running header or footer.",
    )
    page_break_before: Literal["none", "h1", "h2"] = Field(
        default="none", description="Start a new page before every heading of this level."
    )
    header: Annotated[str | None, AfterValidator(check_running_text)] = Field(
        default=None,
        max_length=200,
        description="Running header: text with {title}, {page}, {pages}; default {title}.",
    )
    footer: Annotated[str | None, AfterValidator(check_running_text)] = Field(
        default=None, max_length=200, description="Running footer; default {page} / {pages}."
    )
    first_page_header: Annotated[str | None, AfterValidator(check_running_text)] = Field(
        default=None, max_length=200, description="On the first page; default as header."
    )
    first_page_footer: Annotated[str | None, AfterValidator(check_running_text)] = Field(
        default=None, max_length=200, description="On the first page; default as footer."
    )
    tables: TableOptions = Field(default_factory=TableOptions)
    watermark: str | None = Field(
        default=None, max_length=40, description="Text across every page, e.g. DRAFT."
    )
    metadata: MetadataOptions = Field(default_factory=MetadataOptions)
    pdf_variant: PdfVariant | None = Field(
        default=None, description="PDF/A-3 (archival, provenance attached) or PDF/UA-1."
    )
    tagged: bool = Field(default=False, description="Tagged PDF (structure for screen readers).")
    css: str | None = Field(default=None, max_length=20000, description="Extra CSS for the PDF.")

    @field_validator("margin")
    @classmethod
    def _css_length(cls, value: str) -> str:
        if not CSS_LENGTH.match(value.strip()):
            raise ValueError(f"margin {value!r} is not a length such as '2cm' or '15mm'")
        return value.strip()

    @field_validator("font_size")
    @classmethod
    def _points(cls, value: str) -> str:
        value = value.strip()
        if not FONT_SIZE.match(value) or not 5 <= float(value[:-2]) <= 30:
            raise ValueError(f"font_size {value!r} is not a size from 5pt to 30pt such as 11pt")
        return value

    @field_validator("font")
    @classmethod
    def _font_name(cls, value: str) -> str:
        if not value.strip() or any(c in value for c in "\"';{}<>\\"):
            raise ValueError(f"font {value!r} is not a plain font family name")
        return value.strip()

    @field_validator("watermark")
    @classmethod
    def _watermark_text(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or _CONTROL.search(value)):
            raise ValueError("watermark must be non-empty text without control characters")
        return value.strip() if value else value

    @property
    def toc_options(self) -> TocOptions:
        """The TOC settings in effect: `toc` when given, else what `include_toc` says."""
        if self.toc is not None:
            return self.toc
        return TocOptions(position="after_title" if self.include_toc else "none")

    @property
    def header_text(self) -> str:
        return "{title}" if self.header is None else self.header

    @property
    def footer_text(self) -> str:
        return "{page} / {pages}" if self.footer is None else self.footer

    @property
    def first_page_text(self) -> tuple[str, str] | None:
        """(header, footer) of the first page when it differs from the others, else None.
        A cover page carries none unless `first_page_header`/`first_page_footer` say so."""
        header, footer = self.first_page_header, self.first_page_footer
        if self.cover:
            header = "" if header is None else header
            footer = "" if footer is None else footer
        if header is None and footer is None:
            return None
        return (
            self.header_text if header is None else header,
            self.footer_text if footer is None else footer,
        )


class ExportSpec(Strict):
    """Which formats to produce: `format` (the seed form) or `formats`, plus options."""

    format: str | None = None
    formats: list[str] | None = Field(default=None, min_length=1)
    options: ExportOptions = Field(default_factory=ExportOptions)

    @field_validator("format", "formats")
    @classmethod
    def _known_formats(cls, value: str | list[str] | None) -> str | list[str] | None:
        for name in [value] if isinstance(value, str) else value or []:
            _canonical_format(name)
        return value

    @property
    def canonical_formats(self) -> list[str]:
        """Formats to produce, canonical names, in order, without repeats; default all three."""
        names = self.formats or ([self.format] if self.format else ["pdf", "docx", "md"])
        return list(dict.fromkeys(_canonical_format(n) for n in names))


def canonical_formats(names: list[str]) -> list[str]:
    """Canonical names for `names`, in order without repeats; `ValueError` names each unknown."""
    problems, found = [], []
    for name in names:
        try:
            found.append(_canonical_format(name))
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    return list(dict.fromkeys(found))


def _canonical_format(name: str) -> str:
    try:
        return FORMAT_ALIASES[name.strip().lower()]
    except KeyError:
        known = ", ".join(sorted(FORMAT_ALIASES))
        raise ValueError(f"unknown export format {name!r} (known: {known})") from None


class RetrySpec(Strict):
    max_attempts: int = Field(default=3, ge=1, le=20)
    backoff: Literal["exponential", "fixed", "none"] = "exponential"
    delay: float = Field(default=10.0, ge=0, le=3600, description="First retry delay, seconds.")


class ScheduleSpec(Strict):
    """When to run the template on its own; 6-field cron expressions put seconds first."""

    type: Literal["cron"] = "cron"
    expression: str
    timezone: str = "UTC"
    timeout: int = Field(default=3600, ge=1, le=86400, description="Seconds per attempt.")
    retry: RetrySpec = Field(default_factory=RetrySpec)
    inputs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("expression")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        return cron.check(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        cron.zone(value)
        return value


class TemplateSpec(Strict):
    """A document template: metadata, variables, generated fields, a body and export settings."""

    name: str = Field(min_length=1, max_length=200)
    version: Annotated[str, BeforeValidator(_version_text)] = Field(
        default="1", min_length=1, max_length=64
    )
    category: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    author: str | None = Field(default=None, max_length=200)
    variables: list[Variable] = Field(default_factory=list)
    generate: dict[str, GeneratedField] = Field(default_factory=dict)
    charts: Charts = Field(default_factory=dict)
    body: str | None = None
    export: ExportSpec = Field(default_factory=ExportSpec)
    schedule: ScheduleSpec | None = None
    retention_days: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="Days its finished jobs and their files are kept (0 = forever); "
        "default: the AUTOGLM_RETENTION_DAYS setting.",
    )
    assets: list[str] = Field(
        default_factory=list, max_length=50, description="Files next to the template."
    )

    @field_validator("name", "version")
    @classmethod
    def _printable(cls, value: str) -> str:
        value = value.strip()
        if not value or _CONTROL.search(value):
            raise ValueError("must be non-empty text without control characters")
        return value

    @field_validator("generate")
    @classmethod
    def _field_names(cls, value: dict[str, GeneratedField]) -> dict[str, GeneratedField]:
        for name in value:
            _identifier(name)
        return value

    @field_validator("assets")
    @classmethod
    def _relative_assets(cls, value: list[str]) -> list[str]:
        normalised = []
        for name in value:
            parts = name.replace("\\", "/").split("/")
            if name.startswith("/") or ".." in parts or ":" in name or not name.strip():
                raise ValueError(
                    f"asset {name!r} must be a relative path inside the template folder"
                )
            normalised.append(posixpath.normpath("/".join(parts)))
        return list(dict.fromkeys(normalised))

    @model_validator(mode="after")
    def _unique_names(self) -> TemplateSpec:
        seen: set[str] = set()
        for variable in self.variables:
            if variable.name in seen:
                raise ValueError(f"variable {variable.name!r} is declared twice")
            seen.add(variable.name)
        return self

    @property
    def formats(self) -> list[str]:
        return self.export.canonical_formats


def template_json_schema() -> dict[str, Any]:
    """JSON Schema of the YAML template format, for editors and CI linting."""
    schema = TemplateSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Open-AutoGLM document template"
    variable = schema["$defs"]["Variable"]
    schema["$defs"]["Variable"] = {
        "anyOf": [{"type": "string", "description": "A required variable of any type."}, variable]
    }
    return schema
