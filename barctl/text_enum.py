"""`StrEnum` for Python 3.9 and 3.10, where `enum.StrEnum` (3.11) does not exist.

The undercloud's Python is 3.9 on RHEL 8.4 and 9.2 (issue 13). A member is a `str` whose value is
the stored, shown word: it compares equal to it, `str()` and f-strings give the value (not
`Class.MEMBER`, which a plain `(str, Enum)` prints before 3.11), and JSON writes it as is.
"""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    """A string enum whose `str()` and `format()` are its value, as `enum.StrEnum` does."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(self, format_spec)
