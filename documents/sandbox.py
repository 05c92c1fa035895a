"""Sandboxed Jinja for untrusted templates: no attribute tricks, strict undefined, capped output."""

from __future__ import annotations

import re
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from documents.errors import RenderError

MAX_OUTPUT_CHARS = 2_000_000
_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")
_INLINE = re.compile(r"([\\`*_\[\]<>|~&!])")


class Markdown(str):
    """Text already in Markdown, inserted as is (the `markdown` filter marks trusted values)."""

    __slots__ = ()


def escape_markdown(value: Any) -> str:
    """Make a value print as literal text inside Markdown, whatever characters it holds."""
    if isinstance(value, Markdown):
        return str(value)
    if value is None:
        return ""
    lines = []
    for raw in str(value).splitlines():
        line = _INLINE.sub(r"\\\1", raw.lstrip())
        lines.append(_LINE_START.sub(lambda m: m.group(1) + _escape_marker(m.group(2)), line))
    return "\n".join(lines)


def _escape_marker(marker: str) -> str:
    if marker[-1] in ".)":
        return marker[:-1] + "\\" + marker[-1]
    return "\\" + marker


def _environment(markdown: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=escape_markdown if markdown else _plain,
        keep_trailing_newline=True,
    )
    env.filters["markdown"] = Markdown
    return env


def _plain(value: Any) -> Any:
    return "" if value is None else value


BODY_ENV = _environment(markdown=True)
TEXT_ENV = _environment(markdown=False)


def check_syntax(source: str, where: str, first_line: int | None = None) -> None:
    """Compile without rendering, so `autoglm validate` catches syntax errors before any run."""
    try:
        BODY_ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise RenderError(
            f"{where}{_line(exc.lineno, first_line)}: syntax error: {exc.message}"
        ) from None


def render_string(
    source: str,
    context: dict[str, Any],
    where: str,
    first_line: int | None = None,
    markdown: bool = True,
) -> str:
    """Render ``source`` in the sandbox; errors name ``where`` and the line in the YAML file."""
    env = BODY_ENV if markdown else TEXT_ENV
    try:
        template = env.from_string(source)
        pieces: list[str] = []
        size = 0
        for piece in template.generate(**context):
            size += len(piece)
            if size > MAX_OUTPUT_CHARS:
                raise RenderError(f"{where}: output exceeds {MAX_OUTPUT_CHARS} characters")
            pieces.append(piece)
        return "".join(pieces)
    except TemplateSyntaxError as exc:
        raise RenderError(
            f"{where}{_line(exc.lineno, first_line)}: syntax error: {exc.message}"
        ) from None
    except UndefinedError as exc:
        hint = (
            "" if "attribute" in str(exc.message) else " (pass it as an input or declare a default)"
        )
        raise RenderError(f"{where}: {exc.message}{hint}") from None
    except SecurityError as exc:
        raise RenderError(f"{where}: refused unsafe access: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise RenderError(f"{where}: {type(exc).__name__}: {exc}") from None


def _line(lineno: int | None, first_line: int | None) -> str:
    if lineno is None:
        return ""
    return f" (line {lineno + first_line - 1})" if first_line else f" (body line {lineno})"
