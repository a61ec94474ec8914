"""Exceptions barctl raises on purpose; each carries what an operator needs to act on it."""

from __future__ import annotations

from dataclasses import dataclass


class BarctlError(Exception):
    """Base of every error barctl reports without a traceback."""


@dataclass(frozen=True)
class SourceProblem:
    """One problem located in an input file: `FILE:LINE:COL: key.path: message`."""

    file: str
    line: int
    column: int
    key_path: str
    message: str

    def __str__(self) -> str:
        location = f"{self.file}:{self.line}:{self.column}"
        if self.key_path:
            return f"{location}: {self.key_path}: {self.message}"
        return f"{location}: {self.message}"


class InputError(BarctlError):
    """A policy or inventory file is unreadable or invalid; carries every problem found."""

    def __init__(self, problems: list[SourceProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))
