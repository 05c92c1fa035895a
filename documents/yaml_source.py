"""Safe YAML parsing that keeps line numbers and refuses alias bombs before building any object."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_NODES = 20_000
MAX_CHARS = 2_000_000
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
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:  # the reader refuses a character (NUL, ...) before parsing
        raise YamlProblem(f"invalid YAML: {exc}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlSource(data=None)
        source = YamlSource(data=None)
        _Indexer(source).walk(node, (), node.start_mark.line + 1, depth=0)
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


class _Indexer:
    """Walks the node graph as it would expand: an alias costs its full size at every use."""

    def __init__(self, source: YamlSource) -> None:
        self.source = source
        self.nodes_left = MAX_NODES
        self.chars_left = MAX_CHARS
        self.active: set[int] = set()

    def walk(self, node: yaml.Node, path: tuple[PathKey, ...], line: int, depth: int) -> None:
        """Index ``node``; ``line`` is where a reader finds it (a mapping value: its key's line)."""
        self._charge(node, depth)
        self.source.lines.setdefault(path, line)
        if isinstance(node, yaml.ScalarNode):
            self.source.scalars.setdefault(path, node.value)
            if node.style in ("|", ">"):
                self.source.block_scalars.add(path)
            return
        self.active.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, (*path, index), item.start_mark.line + 1, depth + 1)
        elif isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                self._charge(key_node, depth + 1)
                key: PathKey = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                if key in seen and key != "<<":
                    raise YamlProblem(f"duplicate key {key!r}", key_line)
                seen.add(str(key))
                self.walk(value_node, (*path, key), key_line, depth + 1)
        self.active.discard(id(node))

    def _charge(self, node: yaml.Node, depth: int) -> None:
        line = node.start_mark.line + 1
        self.nodes_left -= 1
        if isinstance(node, yaml.ScalarNode):
            self.chars_left -= len(node.value)
        if self.nodes_left < 0 or self.chars_left < 0:
            raise YamlProblem(
                f"YAML expands to more than {MAX_NODES} nodes or {MAX_CHARS} characters "
                "(alias bomb or oversized document)",
                line,
            )
        if depth > MAX_DEPTH:
            raise YamlProblem(f"YAML nests deeper than {MAX_DEPTH} levels", line)
        if id(node) in self.active:
            raise YamlProblem("YAML alias refers to itself (recursive structure)", line)
