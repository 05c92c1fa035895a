"""Sandboxed Jinja for untrusted templates: no attribute tricks, strict undefined, bounded work.

Three layers, each closing a class of attack rather than a spelling:
- access: Jinja's sandbox (no `_` names, no mutation) plus an allowlist of the methods of
  built-in values (`sandbox_ops`), and `str.format` however it is reached goes through a
  bounded formatter;
- size and time: every value the template builds is charged against per-render caps and a
  total allocation budget (`sandbox_limits`), growth operations are estimated before they
  run, and a deadline interrupts the render in any thread;
- output: only data reaches a document; Python objects are refused by name, never shown.
"""

from __future__ import annotations

import traceback
import types
from collections.abc import Callable, Iterable, Iterator
from functools import update_wrapper
from itertools import islice
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from documents import sandbox_limits
from documents.deadline import DeadlineExceeded
from documents.errors import RenderError
from documents.markdown_text import (
    Markdown,
    code_block,
    code_span,
    code_spans,
    escape_markdown,
    paragraphs,
)
from documents.sandbox_limits import (
    MAX_ITEMS,
    MAX_TEXT,
    charge,
    check_time,
    render_budget,
    require,
    to_text,
)
from documents.sandbox_ops import (
    DROPPED_FILTERS,
    FILTERS,
    Estimate,
    bounded_format_method,
    check_int_operation,
    estimate_method,
    join_texts,
    method_allowed,
    percent_format_size,
)
from documents.static_check import unsafe_references

MAX_OUTPUT_CHARS = MAX_TEXT
RENDER_SECONDS = sandbox_limits.RENDER_SECONDS
GLOBALS = frozenset({"range", "dict", "namespace"})
_BUILTIN_VALUES = (str, bytes, int, float, list, tuple, dict, set, frozenset, range)


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` to a checked join (Jinja's own would `str()` any object, unbounded)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat_values((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with every computed value sized and every method allowlisted."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_int_operation(operator, left, right)
        if operator == "%" and isinstance(left, str):
            require(percent_format_size(left, right), "the % format")
        return charge(super().call_binop(context, operator, left, right))

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if callable(value) and isinstance(obj, _BUILTIN_VALUES):
            return method_allowed(obj, attr)
        return True

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # Jinja hands this out for every route to str.format (attribute, item, |attr, a
        # stored reference); ours caps widths and counts the result.
        if not isinstance(value, types.MethodType | types.BuiltinMethodType):
            return None
        if value.__name__ not in ("format", "format_map") or not isinstance(value.__self__, str):
            return None
        return bounded_format_method(self, value.__self__, value.__name__ == "format_map")

    def getitem(self, obj: Any, argument: Any) -> Any:
        check_time()
        value = super().getitem(obj, argument)
        return charge(value) if isinstance(argument, slice) else value

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        receiver = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        estimate = (
            estimate_method(receiver, name) if isinstance(__obj, types.BuiltinMethodType) else None
        )
        if estimate is not None:
            size, args = estimate(receiver, args, kwargs)
            require(size, f"str.{name}")
        else:
            check_time()
        result = super().call(__context, __obj, *args, **kwargs)
        # A macro's output was escaped when it was rendered; do not escape it twice.
        return charge(Markdown(result) if isinstance(__obj, Macro) else result)

    def concat_values(self, values: tuple[Any, ...]) -> str:
        """`a ~ b ~ c`: each value as text (objects refused), the total checked first."""
        return _joined([to_text(v) for v in values], "joining with ~")


def _join_output(pieces: Iterable[str]) -> str:
    """The output of a macro, `{% set %}` block or `{% filter %}` block, bounded."""
    return _joined(list(pieces), "a block's output")


def _joined(texts: list[str], what: str) -> str:
    require(sum(len(t) for t in texts), what)
    return str(charge("".join(texts)))


def _bounded_filter(
    name: str, function: Callable[..., Any], text: bool, estimate: Estimate | None
) -> Callable[..., Any]:
    """A filter whose input is data (text where it reads text) and whose result is sized."""
    lead = 1 if hasattr(function, "jinja_pass_arg") else 0

    def bounded(*args: Any, **kwargs: Any) -> Any:
        head, value, rest = args[:lead], args[lead], args[lead + 1 :]
        if isinstance(value, Iterator):  # map/select results: consumed once, so listed here
            value = list(islice(value, MAX_ITEMS + 1))
            require(len(value), f"the {name} filter", MAX_ITEMS)
        if isinstance(value, Undefined) and name not in ("default", "d"):
            str(value)  # raises why it is undefined: a missing name, or a refused attribute
        if text:
            value = to_text(value)
        if estimate is not None:
            size, rest = estimate(value, rest, kwargs)
            require(size, f"the {name} filter")
        else:
            check_time()
        return charge(function(*head, value, *rest, **kwargs))

    return update_wrapper(bounded, function)


def _safe(value: Any) -> Markdown:
    """`|safe` in a Markdown body means trusted Markdown, exactly like `|markdown`."""
    return Markdown(to_text(value))


def _finalize_markdown(value: Any) -> str:
    if isinstance(value, Markdown):
        return value
    if isinstance(value, Markup):  # |escape and friends: HTML-escaped text, shown as that text
        return escape_markdown(value.unescape())
    return escape_markdown(to_text(value))


def _finalize_text(value: Any) -> str:
    return value.unescape() if isinstance(value, Markup) else to_text(value)


def _environment(markdown: bool) -> _BoundedSandbox:
    env = _BoundedSandbox(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=_finalize_markdown if markdown else _finalize_text,
        keep_trailing_newline=True,
    )
    env.concat = _join_output  # type: ignore[method-assign]
    env.filters.update(
        join=join_texts,
        safe=_safe,
        markdown=Markdown,
        paragraphs=paragraphs,
        code=code_span,
        codespans=code_spans,
        codeblock=code_block,
    )
    for name in DROPPED_FILTERS:
        env.filters.pop(name, None)
    for name, function in list(env.filters.items()):
        text, estimate = FILTERS[name]  # KeyError: a new filter nobody has classified
        env.filters[name] = _bounded_filter(name, function, text, estimate)
    for name in set(env.globals) - GLOBALS:
        del env.globals[name]
    return env


BODY_ENV = _environment(markdown=True)
TEXT_ENV = _environment(markdown=False)


def check_syntax(source: str, where: str, first_line: int | None = None) -> None:
    """Parse, check and compile without rendering, so `autoglm validate` and uploads catch
    syntax errors, unknown filters and the refusals that are visible in the source."""
    _compiled(source, where, first_line)


def _compiled(source: str, where: str, first_line: int | None, markdown: bool = True) -> Any:
    env = BODY_ENV if markdown else TEXT_ENV
    try:
        tree = env.parse(source)
        if unsafe := unsafe_references(tree):
            raise RenderError(
                [f"{where}{_line(line, first_line)}: refused: {why}" for line, why in unsafe]
            )
        return env.from_string(tree)
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc, where, first_line) from None


def render_string(
    source: str,
    context: dict[str, Any],
    where: str,
    first_line: int | None = None,
    markdown: bool = True,
) -> str:
    """Render ``source`` in the sandbox; errors name ``where`` and the line in the YAML file."""
    try:
        with render_budget(RENDER_SECONDS):
            template = _compiled(source, where, first_line, markdown)
            pieces: list[str] = []
            size = 0
            for piece in template.generate(**context):
                size += len(piece)
                if size > MAX_OUTPUT_CHARS:
                    raise RenderError(f"{where}: output exceeds {MAX_OUTPUT_CHARS} characters")
                pieces.append(piece)
        return "".join(pieces)
    except DeadlineExceeded:
        raise RenderError(f"{where}: rendering took longer than {RENDER_SECONDS:g} s") from None
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
    except MemoryError:
        raise RenderError(f"{where}: rendering ran out of memory") from None


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
