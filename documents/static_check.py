"""Refuse, at load time, Jinja expressions the sandbox would refuse at render time anyway.

An uploaded template that reaches for `__class__` or a frame attribute is an escape attempt,
not a document; the registry should reject it on upload, not store it and fail every job.
"""

from __future__ import annotations

from jinja2 import nodes

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


def is_internal(name: str) -> bool:
    return name.startswith("__") or name in INTERNAL_ATTRIBUTES


def unsafe_references(tree: nodes.Template) -> list[tuple[int, str]]:
    """(line, attribute) for every constant attribute reference into Python internals."""
    found: list[tuple[int, str]] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name: object = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
            literal = isinstance(node.node, nodes.Const) and isinstance(node.node.value, str)
            if literal and name in STRING_FORMATTERS:  # "{0.__class__}".format(x)
                found.append((node.lineno, f"str.{name}"))
                continue
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            first = node.args[0]
            name = first.value if isinstance(first, nodes.Const) else None
        if isinstance(name, str) and is_internal(name):
            found.append((node.lineno, name))
    return found
