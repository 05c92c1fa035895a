"""Size estimates for the operations a template can call, and the bounded `str.format`.

Every string method and filter a template may call is listed here with how large its result
can get. Most are linear in their input (their result is charged after they run); the ones
that can grow far beyond their input (padding, `replace`, `join`, repetition, indentation,
JSON indentation, batching) carry an estimate that is checked before they run. A method not
listed is not available to templates, so a new Python or Jinja method is refused until
someone classifies it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice
from string import Formatter
from typing import Any

from jinja2 import Environment, pass_environment
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.sandbox import SandboxedEscapeFormatter, SandboxedFormatter
from markupsafe import Markup

from documents.sandbox_limits import (
    MAX_INT_BITS,
    MAX_ITEMS,
    MAX_TEXT,
    charge,
    nesting_depth,
    require,
    require_data,
    text_size,
    to_text,
)
from documents.static_check import MAX_FORMAT_WIDTH

Args = tuple[Any, ...]
Kwargs = dict[str, Any]
Sized = tuple[int, Args]  # (estimated size of the result, the arguments to call with)
Estimate = Callable[[Any, Args, Kwargs], Sized]
ITEM_WEIGHT = MAX_TEXT // MAX_ITEMS  # estimates count a list item as this many characters

_FORMAT_CONVERSION = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?[a-zA-Z%]")
_NUMBERS = re.compile(r"\d+")


def _arg(args: Args, kwargs: Kwargs, index: int, name: str, default: Any) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _pad(s: str, args: Args, kwargs: Kwargs) -> Sized:
    return max(len(s), _int(_arg(args, kwargs, 0, "width", 0))), args


def _expandtabs(s: str, args: Args, kwargs: Kwargs) -> Sized:
    tabsize = _int(_arg(args, kwargs, 0, "tabsize", 8))
    return len(s) + s.count("\t") * max(tabsize, 0), args


def _replace(s: Any, args: Args, kwargs: Kwargs) -> Sized:
    text, old, new = to_text(s), _arg(args, kwargs, 0, "old", ""), _arg(args, kwargs, 1, "new", "")
    count = _arg(args, kwargs, 2, "count", None)
    old_text, new_text = to_text(old), to_text(new)
    hits = text.count(old_text) if old_text else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * len(new_text), args


def _materialized(items: Any) -> list[Any]:
    """A bounded list of an iterable's items (generators from `map` etc. are consumed once)."""
    if isinstance(items, Mapping):
        items = list(items)
    listed = list(islice(iter(items), MAX_ITEMS + 1))
    require(len(listed), "listing items", MAX_ITEMS)
    return listed


def _join_method(sep: str, args: Args, kwargs: Kwargs) -> Sized:
    items = _materialized(_arg(args, kwargs, 0, "iterable", ()))
    return sum(text_size(i) for i in items) + len(sep) * len(items), (items, *args[1:])


STR_METHODS: dict[str, Estimate | None] = {
    # Linear in the receiver: charged after they run.
    **{
        name: None
        for name in [
            "capitalize",
            "casefold",
            "count",
            "endswith",
            "find",
            "index",
            "isalnum",
            "isalpha",
            "isascii",
            "isdecimal",
            "isdigit",
            "isidentifier",
            "islower",
            "isnumeric",
            "isprintable",
            "isspace",
            "istitle",
            "isupper",
            "lower",
            "lstrip",
            "partition",
            "removeprefix",
            "removesuffix",
            "rfind",
            "rindex",
            "rpartition",
            "rsplit",
            "rstrip",
            "split",
            "splitlines",
            "startswith",
            "strip",
            "swapcase",
            "title",
            "upper",
            "striptags",
            "unescape",
        ]
    },
    # Can grow far past the receiver: estimated before they run.
    "center": _pad,
    "ljust": _pad,
    "rjust": _pad,
    "zfill": _pad,
    "expandtabs": _expandtabs,
    "replace": _replace,
    "join": _join_method,
}
# Read-only methods of data containers (the immutable sandbox refuses the mutating ones).
CONTAINER_METHODS = frozenset({"get", "keys", "values", "items", "count", "index"})


def estimate_method(receiver: Any, name: str) -> Estimate | None:
    return STR_METHODS.get(name) if isinstance(receiver, str) else None


def method_allowed(receiver: Any, name: str) -> bool:
    """Whether a template may use method `name` of a built-in value (`str.encode`: no bytes)."""
    if isinstance(receiver, str):
        return name in STR_METHODS or name in ("format", "format_map")
    if isinstance(receiver, dict | list | tuple | range):
        return name in CONTAINER_METHODS
    return False


def _f_center(value: Any, args: Args, kwargs: Kwargs) -> Sized:
    return max(text_size(value), _int(_arg(args, kwargs, 0, "width", 80))), args


def _f_indent(value: Any, args: Args, kwargs: Kwargs) -> Sized:
    width = _arg(args, kwargs, 0, "width", 4)
    text = to_text(value)
    unit = len(width) if isinstance(width, str) else _int(width)
    return len(text) + (text.count("\n") + 1) * unit, args


def _f_wordwrap(value: Any, args: Args, kwargs: Kwargs) -> Sized:
    text = to_text(value)
    width = max(_int(_arg(args, kwargs, 0, "width", 79)), 1)
    wrap = _arg(args, kwargs, 2, "wrapstring", None)
    lines = len(text) // width + text.count(" ") + text.count("\n") + 1
    return len(text) + lines * len(to_text(wrap) if wrap else "\n"), args


@pass_environment
def join_texts(env: Environment, value: Any, d: Any = "", attribute: Any = None) -> str:
    """The `join` filter with each item shown as `to_text` shows it (never a repr), bounded."""
    items = _materialized(value)
    if attribute is not None:
        items = [make_attrgetter(env, attribute)(item) for item in items]
    texts, sep = [to_text(item) for item in items], to_text(d)
    require(sum(len(t) for t in texts) + len(sep) * len(texts), "the join filter")
    return sep.join(texts)


def _f_tojson(value: Any, args: Args, kwargs: Kwargs) -> Sized:
    indent = _int(_arg(args, kwargs, 0, "indent", 0))
    size = text_size(value)
    return size * (1 + max(indent, 0) * nesting_depth(value)), args


def _f_count_arg(name: str, index: int) -> Estimate:
    """batch(n) and slice(n) make up to n new lists (and fill them): n counts as items."""

    def estimate(value: Any, args: Args, kwargs: Kwargs) -> Sized:
        count = abs(_int(_arg(args, kwargs, index, name, 0)))
        return (len(_materialized(value)) + count) * ITEM_WEIGHT, args

    return estimate


def _f_sum(value: Any, args: Args, kwargs: Kwargs) -> Sized:
    items = _materialized(value)
    start = _arg(args, kwargs, 1, "start", 0)
    sized = [i for i in (*items, start) if isinstance(i, list | tuple)]
    return sum(len(i) for i in sized) * ITEM_WEIGHT, args


def _f_format(value: Any, args: Args, kwargs: Kwargs) -> Sized:
    return percent_format_size(to_text(value), kwargs or args), args


# name -> (first argument is text (stringified by the filter), estimate or None when linear)
FILTERS: dict[str, tuple[bool, Estimate | None]] = {
    **{
        name: (True, None)
        for name in [
            "capitalize",
            "lower",
            "upper",
            "title",
            "trim",
            "truncate",
            "wordcount",
            "striptags",
            "urlencode",
            "escape",
            "e",
            "forceescape",
            "string",
        ]
    },
    **{
        name: (False, None)
        for name in [
            "abs",
            "attr",
            "count",
            "d",
            "default",
            "dictsort",
            "filesizeformat",
            "first",
            "float",
            "groupby",
            "int",
            "items",
            "last",
            "length",
            "list",
            "map",
            "max",
            "min",
            "random",
            "reject",
            "rejectattr",
            "reverse",
            "round",
            "safe",
            "select",
            "selectattr",
            "sort",
            "unique",
            "markdown",
            "paragraphs",
            "code",
            "codespans",
            "codeblock",
        ]
    },
    "center": (True, _f_center),
    "indent": (True, _f_indent),
    "wordwrap": (True, _f_wordwrap),
    "replace": (True, _replace),
    "format": (False, _f_format),
    "join": (False, None),  # join_texts bounds itself
    "tojson": (False, _f_tojson),
    "batch": (False, _f_count_arg("linecount", 0)),
    "slice": (False, _f_count_arg("slices", 0)),
    "sum": (False, _f_sum),
}
# HTML-only filters: a Markdown document has no use for them, and `pprint` shows reprs.
DROPPED_FILTERS = frozenset({"urlize", "xmlattr", "pprint"})


def percent_format_size(fmt: str, values: Any) -> int:
    """Estimate of `fmt % values`, refusing `*` and widths or precisions over the limit."""
    conversions = 0
    for match in _FORMAT_CONVERSION.finditer(fmt):
        for number in match.groups():
            if number == "*" or (number and int(number) > MAX_FORMAT_WIDTH):
                raise SecurityError(f"format width or precision {match.group(0)!r} refused")
        conversions += 1
    if isinstance(values, Mapping):
        parts: Iterable[Any] = values.values()
    elif isinstance(values, tuple):
        parts = values
    else:
        parts = (values,)
    for part in parts:
        require_data(part)
    largest = max((text_size(p) for p in parts), default=0)
    return len(fmt) + conversions * (largest + MAX_FORMAT_WIDTH)


def check_int_operation(operator: str, left: Any, right: Any) -> None:
    """Bound `*` and `**` on numbers and sequences before Python computes them."""
    if operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int):
                limit = MAX_TEXT if isinstance(seq, str) else MAX_ITEMS
                require(len(seq) * max(count, 0), "repetition", limit)
        if isinstance(left, int) and isinstance(right, int):
            require(left.bit_length() + right.bit_length(), "multiplication", MAX_INT_BITS)
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        require(max(left.bit_length(), 1) * right, "the power", MAX_INT_BITS)


class _Bounded(Formatter):
    """`str.format` with widths capped, the result's size counted, and objects refused."""

    _total = 0

    def vformat(self, format_string: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
        self._total = len(format_string)
        return str(charge(super().vformat(format_string, args, kwargs)))

    def format_field(self, value: Any, format_spec: str) -> Any:
        numbers = [int(n) for n in _NUMBERS.findall(format_spec)]
        if any(n > MAX_FORMAT_WIDTH for n in numbers):
            raise SecurityError(f"format width or precision in {format_spec!r} refused")
        require_data(value)
        self._total += text_size(value) + max(numbers, default=0)
        require(self._total, "str.format")
        if isinstance(value, list | tuple | dict) and not format_spec:
            value = to_text(value)
        return super().format_field(value, format_spec)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is not None:  # "{0!r}" would show an object's repr
            require_data(value)
        return super().convert_field(value, conversion)


class BoundedFormatter(_Bounded, SandboxedFormatter):
    pass


class BoundedEscapeFormatter(_Bounded, SandboxedEscapeFormatter):
    pass


def bounded_format_method(env: Any, receiver: str, is_format_map: bool) -> Callable[..., str]:
    """What `text.format` / `text.format_map` means in a template, however it is reached."""
    formatter: SandboxedFormatter
    if isinstance(receiver, Markup):
        formatter = BoundedEscapeFormatter(env, escape=receiver.escape)
    else:
        formatter = BoundedFormatter(env)
    result_type = type(receiver)

    def format_method(*args: Any, **kwargs: Any) -> str:
        if is_format_map:
            if kwargs or len(args) != 1:
                raise TypeError("format_map() takes exactly one mapping")
            return result_type(formatter.vformat(receiver, (), args[0]))
        return result_type(formatter.vformat(receiver, args, kwargs))

    return format_method
