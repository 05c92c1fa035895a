"""Sandboxed Jinja for untrusted templates: no attribute tricks, strict undefined, bounded work."""

from __future__ import annotations

import re
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.filters import do_format
from jinja2.runtime import Context, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment

from documents.errors import RenderError
from documents.markdown_text import Markdown, code_block, code_span, escape_markdown, paragraphs
from documents.static_check import unsafe_references

MAX_OUTPUT_CHARS = 2_000_000
MAX_WIDTH = 1000
MAX_EXPONENT = 1024
RENDER_SECONDS = 10.0
_BIG_FORMAT_NUMBER = re.compile(r"%[#0 +-]*(\*|\d{4,})|\.(\*|\d{4,})")


class _Deadline(Exception):
    pass


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """Refuses operations that would allocate without bound: huge repeats, powers, widths."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(count, int)
                if sized and len(seq) * count > MAX_OUTPUT_CHARS:
                    raise SecurityError(f"repetition longer than {MAX_OUTPUT_CHARS} refused")
        if operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent above {MAX_EXPONENT} refused")
        if operator == "%" and isinstance(left, str):
            _check_format(left)
        return super().call_binop(context, operator, left, right)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # str.format can pad to any width; the `format` filter is the bounded alternative.
        if isinstance(obj, str) and attr in ("format", "format_map"):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        result = super().call(__context, __obj, *args, **kwargs)
        # A macro's output was escaped when it was rendered; do not escape it twice.
        return Markdown(result) if isinstance(__obj, Macro) else result


def _check_format(fmt: str) -> None:
    if match := _BIG_FORMAT_NUMBER.search(fmt):
        raise SecurityError(f"format width or precision {match.group(0)!r} refused")


def _bounded(function: Callable[..., Any], *limited: str) -> Callable[..., Any]:
    """Wrap a built-in filter so its width-like arguments stay below `MAX_WIDTH`."""

    def wrapper(value: Any, *args: Any, **kwargs: Any) -> Any:
        numbers = [a for a in args if isinstance(a, int)]
        numbers += [v for k, v in kwargs.items() if k in limited and isinstance(v, int)]
        if any(abs(n) > MAX_WIDTH for n in numbers):
            raise SecurityError(f"width above {MAX_WIDTH} refused")
        return function(value, *args, **kwargs)

    return wrapper


def _format_filter(value: Any, *args: Any, **kwargs: Any) -> str:
    _check_format(str(value))
    return str(do_format(value, *args, **kwargs))


def _environment(markdown: bool) -> _BoundedSandbox:
    env = _BoundedSandbox(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=escape_markdown if markdown else _plain,
        keep_trailing_newline=True,
    )
    for name, limited in (
        ("center", ("width",)),
        ("indent", ("width",)),
        ("wordwrap", ("width",)),
        ("truncate", ("length",)),
    ):
        env.filters[name] = _bounded(env.filters[name], *limited)
    env.filters["format"] = _format_filter
    env.filters["markdown"] = Markdown
    env.filters["paragraphs"] = paragraphs
    env.filters["code"] = code_span
    env.filters["codeblock"] = code_block
    for name in ("lipsum", "cycler", "joiner"):
        env.globals.pop(name, None)
    return env


def _plain(value: Any) -> Any:
    return "" if value is None else value


BODY_ENV = _environment(markdown=True)
TEXT_ENV = _environment(markdown=False)


def check_syntax(source: str, where: str, first_line: int | None = None) -> None:
    """Compile without rendering, so `autoglm validate` catches syntax errors before any run."""
    try:
        tree = BODY_ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc, where, first_line) from None
    if unsafe := unsafe_references(tree):
        raise RenderError(
            [
                f"{where}{_line(line, first_line)}: refused: {name!r} is not allowed in "
                "templates (sandbox)"
                for line, name in unsafe
            ]
        )


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
        with _deadline(RENDER_SECONDS):
            for piece in template.generate(**context):
                size += len(piece)
                if size > MAX_OUTPUT_CHARS:
                    raise RenderError(f"{where}: output exceeds {MAX_OUTPUT_CHARS} characters")
                pieces.append(piece)
        return "".join(pieces)
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc, where, first_line) from None
    except _Deadline:
        raise RenderError(f"{where}: rendering took longer than {RENDER_SECONDS:.0f} s") from None
    except UndefinedError as exc:
        hint = (
            "" if "attribute" in str(exc.message) else " (pass it as an input or declare a default)"
        )
        raise RenderError(f"{where}{_runtime_line(exc, first_line)}: {exc.message}{hint}") from None
    except SecurityError as exc:
        raise RenderError(
            f"{where}{_runtime_line(exc, first_line)}: refused unsafe access: {exc}"
        ) from None
    except (TypeError, ValueError, ArithmeticError, LookupError, RecursionError) as exc:
        where_line = f"{where}{_runtime_line(exc, first_line)}"
        raise RenderError(f"{where_line}: {type(exc).__name__}: {exc}") from None


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt a runaway render (nested loops) on the main thread; elsewhere the job timeout."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise _Deadline

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _syntax_error(exc: TemplateSyntaxError, where: str, first_line: int | None) -> RenderError:
    return RenderError(f"{where}{_line(exc.lineno, first_line)}: syntax error: {exc.message}")


def _runtime_line(exc: BaseException, first_line: int | None) -> str:
    """The template line of a runtime error, from Jinja's rewritten traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"]
    return _line(frames[-1].lineno, first_line) if frames else ""


def _line(lineno: int | None, first_line: int | None) -> str:
    if lineno is None:
        return ""
    return f" (line {lineno + first_line - 1})" if first_line else f" (body line {lineno})"
