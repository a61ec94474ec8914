"""The loader's limits: nesting, alias count and alias expansion (see barctl.config.yamlsource).

A "billion laughs" document is a few hundred bytes and every consumer that walks the data walks
each alias again; PyYAML's composer recurses (~500 levels is a RecursionError). The composer is
bounded while it reads (depth, alias count), then the composed tree is measured once, each node
memoized by identity, before anything is constructed (issue 8, finding 6).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

MAX_DEPTH = 64
MAX_ALIASES = 1_000_000
MAX_EXPANDED_NODES = 1_000_000
EXPANSION_FACTOR = 100
EXPANDED_NODES_CEILING = 20_000_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


class LimitError(Exception):
    """A loader limit was exceeded at `mark`, inside the value at key path `parts`."""

    def __init__(self, mark: yaml.Mark, parts: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.mark, self.parts, self.message = mark, tuple(parts), message


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that bounds nesting and aliases and records duplicate keys of each mapping."""

    duplicates: list[tuple[yaml.Node, str, int]]
    own_keys: dict[int, list[yaml.Node]]
    parts: list[str | int]
    depth: int
    aliases: int

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self._event_mark()
                raise LimitError(mark, self.parts, f"more than {MAX_ALIASES} aliases")
            return super().compose_node(parent, index)
        part = _part(parent, index)
        collection = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        if part is not None:
            self.parts.append(part)
        self.depth += collection
        try:
            if self.depth > MAX_DEPTH:
                mark = self._event_mark()
                message = f"nested deeper than {MAX_DEPTH} levels"
                raise LimitError(mark, self.parts, message)
            return super().compose_node(parent, index)
        finally:
            self.depth -= collection
            if part is not None:
                self.parts.pop()

    def compose_mapping_node(self, anchor: Any) -> yaml.MappingNode:
        node = super().compose_mapping_node(anchor)
        # The keys as written, before a merge key (`<<: *vars`) adds the merged ones.
        self.own_keys[id(node)] = [key for key, _ in node.value if key.tag != _MERGE_TAG]
        return node

    def _event_mark(self) -> yaml.Mark:
        return self.peek_event().start_mark  # type: ignore[no-untyped-call,no-any-return]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node in self.own_keys.get(id(node), ()):
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                self.duplicates.append((key_node, str(key), seen[key]))
            elif isinstance(key, (str, int, float, bool)):
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _part(parent: yaml.Node | None, index: Any) -> str | int | None:
    """The key path part of the node being composed: None for the root and for mapping keys."""
    if isinstance(parent, yaml.SequenceNode) and isinstance(index, int):
        return index
    if isinstance(parent, yaml.MappingNode) and isinstance(index, yaml.Node):
        return str(index.value) if isinstance(index, yaml.ScalarNode) else "?"
    return None


def children(node: yaml.Node) -> list[tuple[str | int, yaml.Node]]:
    """(key path part, child) pairs of a collection: values by key or index, non-scalar keys."""
    if isinstance(node, yaml.SequenceNode):
        return list(enumerate(node.value))
    if not isinstance(node, yaml.MappingNode):
        return []
    pairs: list[tuple[str | int, yaml.Node]] = []
    for key, value in node.value:
        part = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
        if not isinstance(key, yaml.ScalarNode):
            pairs.append((part, key))
        pairs.append((part, value))
    return pairs


def check_expansion(root: yaml.Node | None) -> None:
    """Refuse alias cycles, and aliases that expand or nest the document beyond the limits."""
    if root is None:
        return
    limit = max(MAX_EXPANDED_NODES, EXPANSION_FACTOR * _count_written(root))
    limit = min(limit, EXPANDED_NODES_CEILING)
    _Expansion(limit).measure(root, [])


def _count_written(root: yaml.Node) -> int:
    """Nodes as written in the file: each aliased node counted once."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(child for _, child in children(node))
    return len(seen)


class _Expansion:
    """Expanded size and nesting of each node, each node measured once (memoized by identity)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.measured: dict[int, tuple[int, int, tuple[str | int, ...]]] = {}
        self.active: dict[int, tuple[str | int, ...]] = {}

    def measure(self, node: yaml.Node, parts: list[str | int]) -> tuple[int, int]:
        """(expanded node count, collection nesting) of `node`, reached at key path `parts`."""
        if id(node) in self.active:
            where = ".".join(map(str, parts))
            message = f"an alias at {where} refers to this value from inside it (a cycle)"
            raise LimitError(node.start_mark, self.active[id(node)], message)
        if id(node) not in self.measured:
            self.measured[id(node)] = (*self._measurechildren(node, parts), tuple(parts))
        size, height, defined_at = self.measured[id(node)]
        if len(parts) + height > MAX_DEPTH:
            where = ".".join(map(str, parts))
            message = f"aliases nest this value deeper than {MAX_DEPTH} levels (used at {where})"
            raise LimitError(node.start_mark, defined_at, message)
        return size, height

    def _measurechildren(self, node: yaml.Node, parts: list[str | int]) -> tuple[int, int]:
        if isinstance(node, yaml.ScalarNode):
            return 1, 0
        self.active[id(node)] = tuple(parts)
        keys = len(node.value) if isinstance(node, yaml.MappingNode) else 0
        size, height = 1 + keys, 1
        for part, child in children(node):
            parts.append(part)
            child_size, child_height = self.measure(child, parts)
            parts.pop()
            size, height = size + child_size, max(height, child_height + 1)
            if size > self.limit:
                message = f"aliases expand this value to more than {self.limit} nodes"
                raise LimitError(node.start_mark, parts, message)
        del self.active[id(node)]
        return size, height
