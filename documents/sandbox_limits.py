"""Per-render bounds on what a template may build: sizes, a total allocation budget, time.

The sandbox passes every value a template computes (calls, filters, operators, `~`, block
and macro output) through `charge`, which refuses a value over its size cap and counts its
bytes against the render's budget. Operations that can build a result much larger than their
inputs (padding, repetition, replace, join, ...) are estimated *before* they run, with
`require`, so no single step can allocate past the caps. Printing goes through `to_text`,
which turns data into text and refuses Python objects (functions, classes, internals).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import islice
from typing import Any

from jinja2 import Undefined
from jinja2.exceptions import SecurityError

from documents.deadline import DeadlineExceeded, deadline

MAX_TEXT = 2_000_000  # characters in one string, and in a render's output
MAX_ITEMS = 100_000  # items in one list, tuple or mapping (Jinja's own range() cap)
MAX_INT_BITS = 10_000  # about 3000 decimal digits
MAX_ALLOCATED_BYTES = 128 * 1024 * 1024  # everything a render builds, added up
RENDER_SECONDS = 10.0
_CONTAINER_ITEM_BYTES = 64  # charged per item on top of the container, for what it holds

_CONTAINERS = (list, tuple, dict, set, frozenset, range)


@dataclass
class _Budget:
    expires_at: float
    allocated: int = 0


_CURRENT: ContextVar[_Budget | None] = ContextVar("autoglm_render_budget", default=None)


@contextmanager
def render_budget(seconds: float) -> Iterator[None]:
    """Bound the block: a fresh allocation budget and a deadline that holds in any thread."""
    with deadline(seconds) as expires_at:
        token = _CURRENT.set(_Budget(expires_at))
        try:
            yield
        finally:
            _CURRENT.reset(token)


def check_time() -> None:
    budget = _CURRENT.get()
    if budget is not None and time.monotonic() > budget.expires_at:
        raise DeadlineExceeded


def require(size: int, what: str, limit: int = MAX_TEXT) -> None:
    """Refuse an operation whose result is estimated at more than `limit` characters/items."""
    check_time()
    if size > limit:
        raise SecurityError(f"{what} would build {size:,} characters or items (limit {limit:,})")


def charge(value: Any) -> Any:
    """Check a value the template just built against the caps and count it; returns it."""
    check_time()
    if isinstance(value, str | bytes):
        size = len(value)
        if size > MAX_TEXT:
            raise SecurityError(f"a text of {size:,} characters is over the limit ({MAX_TEXT:,})")
    elif isinstance(value, _CONTAINERS):
        size = len(value)
        if size > MAX_ITEMS:
            raise SecurityError(f"a collection of {size:,} items is over the limit ({MAX_ITEMS:,})")
    elif isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SecurityError(f"a number over {MAX_INT_BITS:,} bits is over the limit")
    budget = _CURRENT.get()
    if budget is not None and isinstance(value, (str, bytes, int, *_CONTAINERS)):
        budget.allocated += sys.getsizeof(value)
        if isinstance(value, _CONTAINERS) and not isinstance(value, range):  # range is lazy
            budget.allocated += _CONTAINER_ITEM_BYTES * len(value)
        if budget.allocated > MAX_ALLOCATED_BYTES:
            raise SecurityError(
                f"the render built more than {MAX_ALLOCATED_BYTES // 2**20} MiB of values"
            )
    return value


def text_size(value: Any, limit: int = MAX_TEXT) -> int:
    """An estimate of len(to_text(value)); stops counting once past `limit` (bounded work)."""
    total, pending = 0, [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, _CONTAINERS):
            total += 2 + 2 * len(item)
            pending.extend(item)
        else:
            total += 32
    return total


def nesting_depth(value: Any, limit: int = 100) -> int:
    """How deeply containers nest in `value` (for indentation estimates), up to `limit`."""
    depth, level = 0, [value]
    while depth < limit and (containers := [i for i in level if isinstance(i, _CONTAINERS)]):
        depth += 1
        level = [c for item in containers for c in islice(_children(item), MAX_ITEMS)][:MAX_ITEMS]
    return depth


def _children(item: Any) -> Iterator[Any]:
    return iter(item.values()) if isinstance(item, dict) else iter(item)


def to_text(value: Any) -> str:
    """Data as document text: strings and numbers as they are, lists and mappings as JSON.

    A Python object (a function, a class, a namespace, the template itself) is never shown:
    its repr would put memory addresses and internals into a document.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Undefined):
        return str(value)  # StrictUndefined raises, naming the missing variable
    if isinstance(value, _CONTAINERS):
        require(text_size(value), "showing this value")
        shown = value if isinstance(value, list | tuple | dict) else list(value)
        try:
            return str(charge(json.dumps(shown, ensure_ascii=False, default=_not_data)))
        except (TypeError, ValueError) as exc:
            raise SecurityError(f"cannot show this value as text ({exc})") from None
    raise refused(value)


def require_data(value: Any) -> None:
    """Refuse anything but plain data (text, numbers, lists, mappings) where a value is shown
    by a formatter (`%`, `str.format`, `!r`), which would otherwise print a Python repr."""
    if isinstance(value, Undefined):
        str(value)  # raises why it is undefined (a refused attribute, a missing name)
    if not (isinstance(value, str | int | float | list | tuple | dict) or value is None):
        raise refused(value)


def refused(value: Any) -> SecurityError:
    return SecurityError(f"cannot put {describe(value)} into a document")


def describe(value: Any) -> str:
    """'the function range', 'the class dict', 'a Namespace object': never a repr."""
    name = getattr(value, "__name__", None)
    if isinstance(value, type):
        return f"the class {name!r}"
    if callable(value) and isinstance(name, str):
        return f"the function {name!r}"
    return f"a {type(value).__name__} object"


def _not_data(value: Any) -> Any:
    if isinstance(value, set | frozenset | range):
        return list(value)
    raise TypeError(f"{describe(value)} is not data")
