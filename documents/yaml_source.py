"""Safe YAML parsing that keeps line numbers and refuses alias bombs before building any object."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_NODES = 20_000
MAX_DEPTH = 64

PathKey = str | int


@dataclass
class YamlSource:
    """Parsed YAML plus a map from field paths to 1-based line numbers."""

    data: Any
    lines: dict[tuple[PathKey, ...], int] = field(default_factory=dict)
    scalars: dict[tuple[PathKey, ...], str] = field(default_factory=dict)
    block_scalars: set[tuple[PathKey, ...]] = field(default_factory=set)

    def line_of(self, path: Sequence[PathKey]) -> int | None:
        """Line of the deepest node on ``path`` that exists (pydantic locs carry extra parts)."""
        best: int | None = self.lines.get(())
        current: tuple[PathKey, ...] = ()
        for part in path:
            candidate = (*current, part)
            if candidate in self.lines:
                current = candidate
                best = self.lines[candidate]
        return best


class YamlProblem(ValueError):
    """The text is not acceptable YAML; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(message)


def parse_yaml(text: str) -> YamlSource:
    """Compose the node graph, bound its expanded size, then construct plain Python data."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlSource(data=None)
        source = YamlSource(data=None)
        _index(
            node, (), node.start_mark.line + 1, source, depth=0, budget=[MAX_NODES], active=set()
        )
        source.data = loader.construct_document(node)
        return source
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise YamlProblem(f"invalid YAML: {exc.problem or exc.context}", line) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def _index(  # noqa: PLR0917 - recursive walker, called positionally
    node: yaml.Node,
    path: tuple[PathKey, ...],
    line: int,
    source: YamlSource,
    depth: int,
    budget: list[int],
    active: set[int],
) -> None:
    """Walk the graph as it would expand: aliases count every time they are used.

    ``line`` is where the path starts for a reader: the key's line for mapping values.
    """
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlProblem(
            f"YAML expands to more than {MAX_NODES} nodes (alias bomb or oversized document)", line
        )
    if depth > MAX_DEPTH:
        raise YamlProblem(f"YAML nests deeper than {MAX_DEPTH} levels", line)
    if id(node) in active:
        raise YamlProblem("YAML alias refers to itself (recursive structure)", line)
    source.lines.setdefault(path, line)
    if isinstance(node, yaml.ScalarNode):
        source.scalars.setdefault(path, node.value)
        if node.style in ("|", ">"):
            source.block_scalars.add(path)
        return
    active.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(
                item, (*path, index), item.start_mark.line + 1, source, depth + 1, budget, active
            )
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key: PathKey = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            budget[0] -= 1
            key_line = key_node.start_mark.line + 1
            _index(value_node, (*path, key), key_line, source, depth + 1, budget, active)
    active.discard(id(node))
