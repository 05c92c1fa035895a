"""Refuse, at load time, Jinja expressions the sandbox would refuse at render time anyway.

An uploaded template that reaches for `__class__` or a frame attribute is an escape attempt,
not a document; the registry should reject it on upload, not store it and fail every job.
"""

from __future__ import annotations

import re
from string import Formatter

from jinja2 import nodes

MAX_FORMAT_WIDTH = 1000  # the widest field `str.format` and `%` may pad to

# Attributes that lead from any object to code, frames or globals (jinja2.sandbox's list).
INTERNAL_ATTRIBUTES = frozenset(
    {
        "mro",
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "cr_await",
        "ag_frame",
        "ag_code",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "tb_frame",
        "tb_next",
    }
)

STRING_FORMATTERS = frozenset({"format", "format_map"})
_COMPOSITION = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)
_NOT_ALLOWED = "is not allowed in templates (sandbox)"


def is_internal(name: str) -> bool:
    return name.startswith("__") or name in INTERNAL_ATTRIBUTES


def unsafe_references(tree: nodes.Template) -> list[tuple[int, str]]:
    """(line, why) for each refusal visible in the source itself.

    Only names written literally can be seen here; names assembled while rendering (`'__cla'
    ~ 'ss__'`, `|reverse`, `|join`) are refused by the render-time sandbox, which is the
    guarantee. This check exists so an upload fails at once instead of at every job.
    """
    found: list[tuple[int, str]] = []
    for composing in tree.find_all(_COMPOSITION):
        found.append(
            (composing.lineno, "templates cannot extend, include or import other templates")
        )
    for variable in tree.find_all(nodes.Name):
        if variable.name == "self":
            found.append((variable.lineno, f"'self' (the template's internals) {_NOT_ALLOWED}"))
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name: object = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
            fmt = node.node.value if isinstance(node.node, nodes.Const) else None
            if name in STRING_FORMATTERS and isinstance(fmt, str):
                found.extend((node.lineno, why) for why in _format_refusals(fmt))
        elif isinstance(node, nodes.Getitem):
            key = node.arg
            name = key.value if isinstance(key, nodes.Const) else None
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            first = node.args[0]
            name = first.value if isinstance(first, nodes.Const) else None
        if isinstance(name, str) and is_internal(name):
            found.append((node.lineno, f"{name!r} {_NOT_ALLOWED}"))
    return found


def _format_refusals(fmt: str) -> list[str]:
    """What a literal format string reaches for: internals ("{0.__class__}") or huge widths."""
    try:
        fields = [(name, spec) for _, name, spec, _ in Formatter().parse(fmt) if name is not None]
    except ValueError as exc:
        return [f"format string {fmt[:40]!r} is invalid ({exc})"]
    refused = []
    for name, spec in fields:
        for part in re.split(r"[.\[\]]", name):
            if is_internal(part):
                refused.append(f"{part!r} {_NOT_ALLOWED}")
        widths = [int(n) for n in re.findall(r"\d+", spec or "")]
        if any(n > MAX_FORMAT_WIDTH for n in widths):
            refused.append(f"format width or precision in {spec!r} is over {MAX_FORMAT_WIDTH}")
    return refused
