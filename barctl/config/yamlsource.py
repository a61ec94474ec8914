"""YAML loading that keeps positions: duplicate keys rejected, every value traceable to line:col.

PyYAML (YAML 1.1) silently keeps the last of two duplicate keys (ecosystem.md §8), so the loader
refuses them. The composed node tree is kept so that a validation error's key path (a pydantic
`loc` tuple) can be turned into `FILE:LINE:COL`.

The policy and the inventory are the trust boundary, so the loader also refuses, each as a
located problem, what would otherwise hang or crash barctl (issue 8, finding 6):
- anything but a regular file (a FIFO blocks a plain open, /dev/zero never ends), and files over
  MAX_FILE_BYTES;
- control characters (PyYAML raises a ReaderError before any position is known);
- collections nested deeper than MAX_DEPTH (PyYAML's composer recurses: ~500 levels is a
  RecursionError);
- alias expansion beyond MAX_ALIASES references or an expanded size above
  max(MAX_EXPANDED_NODES, EXPANSION_FACTOR x the nodes written), at most EXPANDED_NODES_CEILING:
  a "billion laughs" document is a few hundred bytes, and every consumer that walks the data walks
  each alias again (a 100k-host inventory where each host merges `<<: *vars` expands ~10x);
- aliases that refer to a value containing themselves (a cycle every walker loops on).
YAML merge keys (`<<: *vars`) are supported; keys a merge brings in may be overridden.
The nesting and alias limits live in barctl.config.yaml_limits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from barctl.config.local_files import UnreadableFile, read_regular_file
from barctl.config.yaml_limits import LimitError, UniqueKeyLoader, check_expansion, children
from barctl.errors import InputError, SourceProblem

MAX_FILE_BYTES = 64 * 1024 * 1024
# Everything PyYAML's reader refuses, plus DEL, the C1 controls and NEL (which YAML 1.1 takes as
# a line break, shifting every later line number).
_FORBIDDEN_CHARACTER = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_UNCLOSED = {
    "while scanning a quoted scalar": "this quoted string is not closed",
    "while parsing a flow sequence": "this [ list is not closed",
    "while parsing a flow mapping": "this { mapping is not closed",
}


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
        # The last pair wins: after a merge key, the merged pairs come first and may be overridden.
        for key_node, value_node in reversed(node.value):
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
    """Read and parse `path`; raise InputError naming file:line:col for any problem."""
    return parse_yaml(read_text(path), str(path))


def read_text(path: str | Path) -> str:
    """The UTF-8 text of regular file `path`, at most MAX_FILE_BYTES; never blocks on a FIFO."""
    name = str(path)
    try:
        content = read_regular_file(path, MAX_FILE_BYTES)
    except UnreadableFile as error:
        raise _file_error(name, _unreadable_message(error)) from None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        line, column = _position(content.decode("utf-8", "replace"), error.start)
        problem = SourceProblem(name, line, column, "", "file is not UTF-8 text")
        raise InputError([problem]) from None


def _unreadable_message(error: UnreadableFile) -> str:
    if error.kind:  # checked before opening: opening a socket fails, a FIFO may block
        return f"not a regular file ({error.kind}): give the path of a YAML file"
    if error.kind == "":
        return "not a regular file: give the path of a YAML file"
    if error.strerror is not None:
        return f"cannot read file: {error.strerror}"
    return f"file is larger than {MAX_FILE_BYTES // 2**20} MiB"


def _file_error(name: str, message: str) -> InputError:
    return InputError([SourceProblem(name, 1, 1, "", message)])


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of character `index` of `text`."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def parse_yaml(text: str, name: str) -> YamlDocument:
    """Parse YAML text; syntax errors, limits and duplicate keys become one InputError."""
    forbidden = _forbidden_characters(text, name)
    if forbidden:
        raise InputError(forbidden)
    loader = UniqueKeyLoader(text)
    loader.duplicates, loader.own_keys, loader.parts = [], {}, []
    loader.depth = loader.aliases = 0
    try:
        root = loader.get_single_node()
        check_expansion(root)
        data = loader.construct_document(root) if root is not None else None
    except LimitError as error:
        line, column = error.mark.line + 1, error.mark.column + 1
        dotted = ".".join(map(str, error.parts))
        raise InputError([SourceProblem(name, line, column, dotted, error.message)]) from None
    except yaml.MarkedYAMLError as error:
        raise InputError([_syntax_problem(text, name, error)]) from None
    except yaml.YAMLError as error:
        raise InputError([SourceProblem(name, 1, 1, "", f"not valid YAML: {error}")]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise InputError(_duplicate_problems(name, root, loader.duplicates))
    return YamlDocument(name, data, root)


def _duplicate_problems(
    name: str, root: yaml.Node | None, duplicates: list[tuple[yaml.Node, str, int]]
) -> list[SourceProblem]:
    return [
        SourceProblem(
            name,
            key_node.start_mark.line + 1,
            key_node.start_mark.column + 1,
            ".".join(_key_path(root, key_node) or [key]),
            f"duplicate key (first at line {first_line})",
        )
        for key_node, key, first_line in duplicates
    ]


_CONTROL_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "backspace", 0x0B: "vertical tab"}
_CONTROL_NAMES |= {0x0C: "form feed", 0x1B: "ESC", 0x7F: "DEL", 0x85: "NEL"}
_MAX_CHARACTER_PROBLEMS = 10


def _forbidden_characters(text: str, name: str) -> list[SourceProblem]:
    """One problem per forbidden character (the first few), at its line:col and key path."""
    matches = list(_FORBIDDEN_CHARACTER.finditer(text))[:_MAX_CHARACTER_PROBLEMS]
    if not matches:
        return []
    root = _compose_quietly(_FORBIDDEN_CHARACTER.sub("\ufffd", text))
    problems = []
    for match in matches:
        code = ord(match.group())
        label = f"U+{code:04X}" + (f" ({_CONTROL_NAMES[code]})" if code in _CONTROL_NAMES else "")
        line, column = _position(text, match.start())
        dotted = ".".join(map(str, _path_at(root, match.start())))
        message = f"control character {label} is not allowed; remove it"
        problems.append(SourceProblem(name, line, column, dotted, message))
    return problems


def _compose_quietly(text: str) -> yaml.Node | None:
    """The node tree of `text` under the loader's limits, or None when it does not parse."""
    loader = UniqueKeyLoader(text)
    loader.own_keys, loader.parts, loader.depth, loader.aliases = {}, [], 0, 0
    try:
        return loader.get_single_node()
    except (yaml.YAMLError, LimitError):
        return None
    finally:
        loader.dispose()


def _path_at(root: yaml.Node | None, index: int) -> list[str | int]:
    """Key path of the innermost value whose text spans character `index`."""
    parts: list[str | int] = []
    node = root
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        found = None
        for part, child in children(node):
            if child.start_mark.index <= index < max(child.end_mark.index, index):
                found = part, child
        if found is None or isinstance(found[1], (yaml.MappingNode, yaml.SequenceNode)) is False:
            if found is not None:
                parts.append(found[0])
            return parts
        parts.append(found[0])
        node = found[1]
    return parts


def _syntax_problem(text: str, name: str, error: yaml.MarkedYAMLError) -> SourceProblem:
    """A syntax error located where the mistake is: an unclosed quote or bracket at its opening."""
    opening = _UNCLOSED.get(error.context or "") if error.context_mark else None
    found = error.problem_mark
    if opening and found is not None:
        mark = error.context_mark
        message = f"{opening} ({error.problem} at line {found.line + 1}, column {found.column + 1})"
    else:
        mark = error.problem_mark or error.context_mark
        message = " ".join(part for part in (error.context, error.problem) if part)
    if "found undefined alias" in message or "expected alphabetic or numeric" in message:
        message += ' (a value starting with * or & must be quoted, e.g. schedule: "*/5 * * * *")'
    if error.problem == "mapping values are not allowed here" and found is not None:
        message += _runaway_value_hint(text, found)
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return SourceProblem(name, line, column, "", message)


def _runaway_value_hint(text: str, found: yaml.Mark) -> str:
    """Name the line where a plain value began when it ran on into the line of the error."""
    last = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.index >= found.index:
                break
            if isinstance(token, yaml.ScalarToken):
                last = token
    except yaml.YAMLError:
        pass
    if last is None or last.start_mark.line >= found.line:
        return ""
    start = last.start_mark.line + 1
    return (
        f" (the value that begins at line {start}, column {last.start_mark.column + 1} runs"
        f" on to this line: is a ':' missing on line {start}, or is this line indented too far?)"
    )
