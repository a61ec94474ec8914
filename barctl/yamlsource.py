"""YAML loading that keeps positions: duplicate keys rejected, every value traceable to line:col.

PyYAML (YAML 1.1) silently keeps the last of two duplicate keys (ecosystem.md §8), so the loader
refuses them. The composed node tree is kept so that a validation error's key path (a pydantic
`loc` tuple) can be turned into `FILE:LINE:COL`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from barctl.errors import InputError, SourceProblem


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that records duplicate mapping keys instead of overwriting silently."""

    duplicates: list[tuple[yaml.Node, str, int]]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                self.duplicates.append((key_node, str(key), seen[key]))
            elif isinstance(key, str | int | float | bool):
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: its data and the node tree that says where each value came from."""

    path: str
    data: Any
    root: yaml.Node | None

    def locate(self, key_path: Sequence[str | int]) -> tuple[int, int]:
        """Return the 1-based (line, column) of the deepest node reachable along `key_path`."""
        node = self.root
        if node is None:
            return 1, 1
        for part in key_path:
            child = _child(node, part)
            if child is None:
                break
            node = child
        return node.start_mark.line + 1, node.start_mark.column + 1

    def problem(self, key_path: Sequence[str | int], message: str) -> SourceProblem:
        """Build a located problem for the value at `key_path`."""
        line, column = self.locate(key_path)
        dotted = ".".join(str(part) for part in key_path)
        return SourceProblem(self.path, line, column, dotted, message)


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if str(key_node.value) == str(part):
                return value_node  # type: ignore[no-any-return]
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None


def _key_path(node: yaml.Node | None, target: yaml.Node) -> list[str] | None:
    """The dotted path (as parts) of mapping key node `target` inside `node`, None if absent."""
    if isinstance(node, yaml.MappingNode):
        pairs = [(str(key.value), key, value) for key, value in node.value]
    elif isinstance(node, yaml.SequenceNode):
        pairs = [(str(index), None, item) for index, item in enumerate(node.value)]
    else:
        return None
    for part, key, value in pairs:
        if key is target:
            return [part]
        below = _key_path(value, target)
        if below is not None:
            return [part, *below]
    return None


def load_yaml(path: str | Path) -> YamlDocument:
    """Read and parse `path`; raise InputError naming file:line:col for any syntax problem."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        message = f"cannot read file: {error.strerror}"
        raise InputError([SourceProblem(name, 1, 1, "", message)]) from None
    except UnicodeDecodeError:
        raise InputError([SourceProblem(name, 1, 1, "", "file is not UTF-8 text")]) from None
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> YamlDocument:
    """Parse YAML text; syntax errors and duplicate keys become one InputError listing them all."""
    loader = _UniqueKeyLoader(text)
    loader.duplicates = []
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(part for part in (error.context, error.problem) if part)
        if "found undefined alias" in message or "expected alphabetic or numeric" in message:
            message += (
                ' (a value starting with * or & must be quoted, e.g. schedule: "*/5 * * * *")'
            )
        raise InputError([SourceProblem(name, line, column, "", message)]) from None
    except yaml.YAMLError as error:
        raise InputError([SourceProblem(name, 1, 1, "", f"not valid YAML: {error}")]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        problems = [
            SourceProblem(
                name,
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
                ".".join(_key_path(root, key_node) or [key]),
                f"duplicate key (first at line {first_line})",
            )
            for key_node, key, first_line in loader.duplicates
        ]
        raise InputError(problems)
    return YamlDocument(name, data, root)
