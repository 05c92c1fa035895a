"""Charts a template declares: their spec, load-time checks, and their data checked at render.

A chart's data names an input (`sales`) or a JSON generated field (`generated.sales`): a list
of rows (with `x` and `y` naming keys) or a mapping label -> number. Drawing is in
`chart_draw`, so matplotlib is imported only when a template has charts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from documents.errors import RenderError
from documents.markdown_text import Markdown, escape_markdown, strip_control

if TYPE_CHECKING:
    from documents.spec import TemplateSpec

MAX_CHARTS = 12
MAX_POINTS = 200
MAX_SERIES = 6
ALT_CHARS = 300
LABEL_CHARS = 60
_SOURCE = re.compile(r"^(generated\.)?[A-Za-z][A-Za-z0-9_]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_KIND = {"bar": "Bar", "line": "Line", "pie": "Pie"}

Key = Annotated[str, Field(min_length=1, max_length=100)]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class ChartSpec(BaseModel):
    """One chart: its type, where its data comes from, which keys hold labels and numbers."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["bar", "line", "pie"]
    title: Text | None = None
    data: str = Field(
        max_length=100, description="An input variable's name or generated.<field> (JSON)."
    )
    x: Key | None = Field(default=None, description="Row key of the labels (rows only).")
    y: Key | list[Key] | None = Field(
        default=None, description="Row key(s) of the numbers: bar/line up to 6, pie one."
    )
    x_label: Text | None = None
    y_label: Text | None = None
    alt: str | None = Field(
        default=None, min_length=1, max_length=1000, description="Default: built from the data."
    )
    width_cm: float = Field(default=15, ge=4, le=18)
    height_cm: float = Field(default=8, ge=3, le=20)

    @field_validator("data")
    @classmethod
    def _source(cls, value: str) -> str:
        if not _SOURCE.match(value):
            raise ValueError(f"data {value!r} must be an input's name or generated.<field>")
        return value

    @field_validator("title", "x_label", "y_label", "alt")
    @classmethod
    def _plain(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or _CONTROL.search(value)):
            raise ValueError("must be non-empty text without control characters")
        return value

    @model_validator(mode="after")
    def _series(self) -> ChartSpec:
        if (self.x is None) != (self.y is None):
            raise ValueError("give both x and y (rows of data) or neither (a label -> number map)")
        series = self.series
        if len(series) != len(set(series)):
            raise ValueError("y names a key twice")
        if self.type == "pie" and len(series) > 1:
            raise ValueError("a pie chart takes exactly one y key")
        if not 0 < len(series) <= MAX_SERIES and self.y is not None:
            raise ValueError(f"y takes 1 to {MAX_SERIES} keys")
        return self

    @property
    def series(self) -> list[str]:
        """The y keys as a list (empty for a label -> number mapping)."""
        return [self.y] if isinstance(self.y, str) else list(self.y or [])

    @property
    def rows(self) -> bool:
        return self.x is not None


def _chart_names(value: dict[str, ChartSpec]) -> dict[str, ChartSpec]:
    for name in value:
        if not name.isidentifier() or name.startswith("_") or len(name) > 64:
            raise ValueError(f"chart name {name!r} is not a valid name (letters, digits, _)")
        if hasattr(dict, name):  # `charts.items` would be the mapping's method, not the chart
            raise ValueError(f"chart name {name!r} is reserved")
    return value


Charts = Annotated[
    dict[str, ChartSpec],
    Field(max_length=MAX_CHARTS, description="Charts the body shows as {{ charts.NAME }}."),
    AfterValidator(_chart_names),
]


def check_sources(spec: TemplateSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-checks the models cannot make alone: (YAML path, problem) for each one found."""
    problems: list[tuple[tuple[str | int, ...], str]] = [
        (("variables", i, "name"), "'charts' is reserved")
        for i, variable in enumerate(spec.variables)
        if variable.name == "charts"
    ]
    for name, chart in spec.charts.items():
        problem = _source_problem(spec, chart)
        if problem:
            problems.append((("charts", name, "data"), problem))
    taken = {f"charts/{name}.{ext}" for name in spec.charts for ext in ("svg", "png")}
    problems += [
        (("assets", i), f"{asset!r} is the file of a chart; rename it")
        for i, asset in enumerate(spec.assets)
        if asset in taken
    ]
    return problems


def _source_problem(spec: TemplateSpec, chart: ChartSpec) -> str | None:
    shape = "a list of rows (x and y given)" if chart.rows else "a label -> number mapping"
    if chart.data.startswith("generated."):
        return _generated_problem(spec, chart, shape)
    variables = {v.name: v for v in spec.variables}
    variable = variables.get(chart.data)
    if variable is None:
        known = ", ".join(variables) or "none"
        return f"{chart.data!r} is not a variable or generated.<field> (variables: {known})"
    kind = "list" if chart.rows else "object"
    if variable.type.value not in (kind, "any"):
        return f"variable {chart.data!r} is of type {variable.type.value}; this chart needs {shape}"
    return None


def _generated_problem(spec: TemplateSpec, chart: ChartSpec, shape: str) -> str | None:
    name = chart.data.removeprefix("generated.")
    field = spec.generate.get(name)
    if field is None:
        known = ", ".join(spec.generate) or "none"
        return f"{chart.data!r} is not a generated field (declared: {known})"
    if field.json_schema is None:
        return f"generated field {name!r} has no schema: its text cannot be chart data"
    kind = field.json_schema.get("type")
    if kind is not None and kind != ("array" if chart.rows else "object"):
        return f"generated field {name!r} is of type {kind}; this chart needs {shape}"
    return None


@dataclass(frozen=True)
class ChartData:
    """A chart's data, checked: labels, one list of numbers per series, the alt text."""

    name: str
    spec: ChartSpec
    labels: list[str]
    series: list[tuple[str, list[float]]]
    alt: str

    @property
    def markdown(self) -> Markdown:
        """The image the body shows; exporters serve `charts/NAME.svg` (PDF) or the PNG."""
        return Markdown(f"![{escape_markdown(self.alt)}](charts/{self.name}.svg)")


def chart_data(name: str, chart: ChartSpec, value: Any, where: str) -> ChartData | None:
    """Check ``value`` against the chart; None when it is absent or empty (no chart drawn)."""
    if value is None or (isinstance(value, list | dict) and not value):
        return None
    if isinstance(value, list | dict) and len(value) > MAX_POINTS:
        raise RenderError(f"{where}: {len(value)} data points, over the limit of {MAX_POINTS}")
    if chart.rows:
        labels, series = _from_rows(chart, value, where)
    else:
        labels, series = _from_mapping(value, where)
    if chart.type == "pie":
        values = series[0][1]
        if any(v < 0 for v in values) or not any(values):
            raise RenderError(f"{where}: a pie chart needs numbers >= 0, not all zero")
    return ChartData(name, chart, labels, series, chart.alt or default_alt(chart, labels, series))


def _from_rows(
    chart: ChartSpec, value: Any, where: str
) -> tuple[list[str], list[tuple[str, list[float]]]]:
    if not isinstance(value, list):
        raise RenderError(f"{where}: data must be a list of rows, not {_kind(value)}")
    labels: list[str] = []
    columns: dict[str, list[float]] = {key: [] for key in chart.series}
    for index, row in enumerate(value, start=1):
        if not isinstance(row, Mapping):
            raise RenderError(f"{where}: row {index} is {_kind(row)}, not an object")
        for key in [chart.x, *chart.series]:
            if key not in row:
                raise RenderError(f"{where}: row {index} has no {key!r}")
        labels.append(_label(row[chart.x], f"{where}: row {index}: {chart.x!r}"))
        for key in chart.series:
            columns[key].append(_number(row[key], f"{where}: row {index}: {key!r}"))
    return labels, list(columns.items())


def _from_mapping(value: Any, where: str) -> tuple[list[str], list[tuple[str, list[float]]]]:
    if not isinstance(value, Mapping):
        raise RenderError(f"{where}: data must be a label -> number mapping, not {_kind(value)}")
    labels = [_label(key, f"{where}: label {key!r}") for key in value]
    numbers = [_number(v, f"{where}: {key!r}") for key, v in value.items()]
    return labels, [("", numbers)]


def _label(value: Any, where: str) -> str:
    if isinstance(value, date):  # YAML input files read `day: 2026-11-30` as a date
        value = value.isoformat()
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RenderError(f"{where} is {_kind(value)}, not a label (text or a number)")
    text = " ".join(strip_control(str(value)).split())
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RenderError(f"{where} is {_kind(value)}, not a number")
    number = float(value)
    if not math.isfinite(number):
        raise RenderError(f"{where} is not a finite number")
    return number


def _kind(value: Any) -> str:
    """How a wrong value is named in an error: its JSON kind, and a short preview of scalars."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "a boolean", False: "a boolean"}[value]
    if isinstance(value, list | dict | tuple):
        return "a list" if isinstance(value, list | tuple) else "an object"
    names = {str: "text", int: "a number", float: "a number"}
    shown = repr(value)
    shown = shown if len(shown) <= 30 else shown[:27] + "..."
    return f"{names.get(type(value), 'an object')} {shown}"


def default_alt(chart: ChartSpec, labels: list[str], series: list[tuple[str, list[float]]]) -> str:
    """'Bar chart: Title. Q1 12, Q2 15, and 3 more.' — what a screen reader says instead."""
    head = f"{_KIND[chart.type]} chart" + (f": {chart.title}" if chart.title else "") + "."
    parts: list[str] = []
    for key, values in series:
        points = [f"{label} {_figure(v)}" for label, v in zip(labels, values, strict=True)]
        parts.append((f"{key}: " if len(series) > 1 else "") + ", ".join(points))
    text = f"{head} {'; '.join(parts)}."
    if len(text) <= ALT_CHARS:
        return text
    cut = text[: ALT_CHARS - 20].rsplit(",", 1)[0].rsplit(";", 1)[0]
    total = len(labels) * len(series)
    return f"{cut}, … ({total} values)."


def _figure(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else f"{value:.3g}"
