"""Problems in a JSON document located at their line and column, by key path.

Pure. `json` gives positions only for syntax errors; a document that parses but holds a bad value
(a manifest on the backup target, issue 11) is walked once more to map every key path
(`files[2].sha256`) to the offset of its value, so that each problem reads
`FILE:LINE:COL: key.path: message` like the policy's.
"""

from __future__ import annotations

import json
import re
from typing import Any

from barctl.errors import SourceProblem

_WHITESPACE = re.compile(r"[ \t\n\r]*")


class LocatedProblems:
    """Collects located problems: key paths are mapped to their offset in the text."""

    def __init__(self, text: str, source: str, positions: dict[str, int]) -> None:
        self.text = text
        self.source = source
        self.positions = positions
        self.found: list[SourceProblem] = []

    def add(self, key_path: str, message: str) -> None:
        """Record `message` at the value of `key_path` (or of its nearest enclosing key)."""
        offset = self._offset(key_path)
        line = self.text.count("\n", 0, offset) + 1
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        self.found.append(SourceProblem(self.source, line, column, key_path, message))

    def _offset(self, key_path: str) -> int:
        """The value of `key_path`, else that of its nearest enclosing key that exists."""
        path = key_path
        while path and path not in self.positions:
            shorter = re.sub(r"(\.?[^.\[\]]+|\[[0-9]+\])\Z", "", path)
            if shorter == path:
                break
            path = shorter
        return self.positions.get(path, 0)


def value_offsets(text: str) -> dict[str, int]:
    """Offset of every value in valid JSON `text`, by key path (`files[2].sha256`; `` = root)."""
    # JSONDecoder.__init__ sets scan_once (json/decoder.py); typeshed does not declare it.
    scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
    positions: dict[str, int] = {}

    def skip(index: int) -> int:
        match = _WHITESPACE.match(text, index)
        return match.end() if match else index

    def walk(index: int, path: str) -> int:
        index = skip(index)
        positions[path] = index
        opening = text[index]
        if opening not in "{[":
            return int(scan(text, index)[1])
        closing, count = ("}" if opening == "{" else "]"), 0
        index = skip(index + 1)
        while text[index] != closing:
            if opening == "{":
                key, index = scan(text, index)
                index = walk(skip(index) + 1, f"{path}.{key}" if path else str(key))
            else:
                index = walk(index, f"{path}[{count}]")
            count += 1
            index = skip(index)
            if text[index] == ",":
                index = skip(index + 1)
        return index + 1

    walk(0, "")
    return positions


def refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook` for json.loads: a key given twice is an error (json keeps the last)."""
    keys = [key for key, _ in pairs]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    if duplicated:
        raise ValueError(f"duplicate key {duplicated[0]!r}")
    return dict(pairs)
