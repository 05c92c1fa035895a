"""Load a template from YAML text or a file into a validated `TemplateSpec`, with located errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.errors import UserError
from documents.charts import check_sources
from documents.errors import RenderError, TemplateError
from documents.sandbox import check_syntax
from documents.spec import TemplateSpec
from documents.yaml_source import YamlProblem, YamlSource, parse_yaml

DEFAULT_MAX_BYTES = 256 * 1024
MAX_ASSET_BYTES = 5 * 1024 * 1024
MAX_ASSETS_TOTAL_BYTES = 20 * 1024 * 1024
_AT_LINE = re.compile(r" \(line (\d+)\): (.*)\Z", re.DOTALL)
_TEXT_LINE = re.compile(r"\A(.*?) \(line (\d+)\): (.*)\Z", re.DOTALL)


@dataclass(frozen=True)
class Problem:
    """One problem, structured so an editor can show it next to its YAML line.

    ``text`` is the problem as worded in `TemplateError.problems` (unchanged); ``line`` is
    1-based or None, ``path`` the field (`generate.summary.max_tokens`, "" for the file).
    """

    line: int | None
    path: str
    message: str
    text: str


class InvalidTemplate(TemplateError):
    """A `TemplateError` that also carries its problems structured (`located`)."""

    def __init__(self, located: list[Problem]) -> None:
        self.located = tuple(located)
        super().__init__([problem.text for problem in located])


def problem_of(text: str, source_name: str = "") -> Problem:
    """A problem line worded elsewhere (render, inputs) as a `Problem`: its first
    "(line N)" is the line, what comes before it (less ``source_name``) the path."""
    found = _TEXT_LINE.match(text)
    if found is None:
        return Problem(None, "", text.removeprefix(f"{source_name}: "), text)
    path = found[1].removeprefix(f"{source_name}: ") if source_name else found[1]
    return Problem(int(found[2]), path, found[3], text)


def problems_of(error: TemplateError | UserError, source_name: str = "") -> list[Problem]:
    """Every problem of an error, structured: exactly when the loader raised it, else parsed."""
    if isinstance(error, InvalidTemplate):
        return list(error.located)
    return [problem_of(text, source_name) for text in error.problems]


@dataclass
class LoadedTemplate:
    """A validated spec, where it came from, and where its Jinja texts start (for errors).

    ``lines`` maps "body" and "generate.NAME.prompt" to the YAML line of their first line, and
    "charts.NAME" to the line of the chart's key.
    """

    spec: TemplateSpec
    source_name: str
    lines: dict[str, int] = field(default_factory=dict)
    assets: dict[str, bytes] = field(default_factory=dict)


def load_template_text(
    text: str | bytes, source_name: str = "<template>", max_bytes: int = DEFAULT_MAX_BYTES
) -> LoadedTemplate:
    """Parse and validate template text; raise `InvalidTemplate` (a `TemplateError`) listing
    every problem, each also structured with its line."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    _check_size(source_name, len(raw), max_bytes)
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _whole(source_name, f"not UTF-8 text (byte {exc.start})") from None
    try:
        source = parse_yaml(decoded)
    except YamlProblem as exc:
        where = f" (line {exc.line})" if exc.line else ""
        text = f"{source_name}{where}: {exc}"
        raise InvalidTemplate([Problem(exc.line, "", str(exc), text)]) from None
    if not isinstance(source.data, dict):
        raise _whole(source_name, "a template must be a YAML mapping with at least `name`")
    data = _keep_version_text(source)
    try:
        spec = TemplateSpec.model_validate(data)
    except ValidationError as exc:
        raise InvalidTemplate(_describe(exc, source, source_name)) from None
    if cross := check_sources(spec):
        raise InvalidTemplate([_located(source, source_name, path, msg) for path, msg in cross])
    texts = {"body": spec.body}
    texts |= {f"generate.{name}.prompt": f.prompt for name, f in spec.generate.items()}
    lines = {
        key: line
        for key in texts
        if (line := _content_line(source, tuple(key.split(".")))) is not None
    }
    lines |= {
        f"charts.{name}": line
        for name in spec.charts
        if (line := source.lines.get(("charts", name))) is not None
    }
    loaded = LoadedTemplate(spec, source_name, lines)
    _check_jinja(loaded, texts)
    return loaded


def _content_line(source: YamlSource, path: tuple[str, ...]) -> int | None:
    line = source.lines.get(path)
    if line is not None and path in source.block_scalars:
        line += 1  # a `|` or `>` block starts on the line after its key
    return line


def _check_jinja(loaded: LoadedTemplate, texts: dict[str, str | None]) -> None:
    """Body and prompts must compile; report every failure with its YAML line."""
    problems: list[Problem] = []
    for key, text in texts.items():
        if text is None:
            continue
        where = f"{loaded.source_name}: {key}"
        try:
            check_syntax(text, where, loaded.lines.get(key))
        except RenderError as exc:
            problems.extend(_jinja_problem(where, key, problem) for problem in exc.problems)
    if problems:
        raise InvalidTemplate(problems)


def _jinja_problem(where: str, key: str, text: str) -> Problem:
    """The sandbox words it `where (line N): message`; "(body line N)" has no YAML line."""
    rest = text.removeprefix(where)
    if found := _AT_LINE.match(rest):
        return Problem(int(found[1]), key, found[2], text)
    return Problem(None, key, rest.removeprefix(": ").strip(), text)


def load_template_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedTemplate:
    """Load a template file and the assets it lists from its folder."""
    try:
        _check_size(str(path), path.stat().st_size, max_bytes)  # before reading a huge file
        raw = path.read_bytes()
    except OSError as exc:
        raise _whole(str(path), f"cannot read template ({exc.strerror})") from None
    loaded = load_template_text(raw, str(path), max_bytes)
    loaded.assets = _read_assets(path.parent, loaded.spec.assets, str(path))
    return loaded


def _check_size(source_name: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise _whole(source_name, f"template is {size} bytes, over the {max_bytes}-byte limit")


def _whole(source_name: str, message: str, path: str = "") -> InvalidTemplate:
    """A problem of the whole file (or of `path` without a line): `name: message`."""
    return InvalidTemplate([Problem(None, path, message, f"{source_name}: {message}")])


def _read_assets(folder: Path, names: list[str], source_name: str) -> dict[str, bytes]:
    assets: dict[str, bytes] = {}
    root = folder.resolve()
    total = 0
    for name in names:
        target = (root / name).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise _whole(
                source_name, f"assets: {name!r} is not a file in the template folder", "assets"
            )
        size = target.stat().st_size
        total += size
        if size > MAX_ASSET_BYTES or total > MAX_ASSETS_TOTAL_BYTES:
            raise _whole(
                source_name,
                f"assets: {name!r} goes over the size limits "
                f"({MAX_ASSET_BYTES} bytes each, {MAX_ASSETS_TOTAL_BYTES} in all)",
                "assets",
            )
        assets[name] = target.read_bytes()
    return assets


def _keep_version_text(source: YamlSource) -> dict[str, Any]:
    """Keep a numeric version as written (`1.10` stays "1.10", not 1.1)."""
    data = dict(source.data)
    if isinstance(data.get("version"), int | float) and not isinstance(data["version"], bool):
        data["version"] = source.scalars.get(("version",), str(data["version"]))
    return data


def _located(
    source: YamlSource, source_name: str, path: tuple[str | int, ...], message: str
) -> Problem:
    """`name: a.b.0 (line N): message`, the shape of every problem the loader reports."""
    line = source.line_of(list(path))
    where = f" (line {line})" if line else ""
    dotted = ".".join(map(str, path))
    text = f"{source_name}: {dotted or '(top level)'}{where}: {message}"
    return Problem(line, dotted, message, text)


def _describe(exc: ValidationError, source: YamlSource, source_name: str) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = [part for part in error["loc"] if isinstance(part, int) or "[" not in str(part)]
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(_located(source, source_name, tuple(loc), message))
    return problems
