"""Secrets never written anywhere: the process's registry of values to redact, and the one
redaction function used by the history (at its write methods), the log pipeline and the CLI.

A secret (the MySQL password read from hiera) is
registered the moment barctl learns it; every string written afterwards passes through
`SECRETS.redact` (issue 8 finding 4: a remote error quoting the password reached the history).
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import Any

REDACTED = "***"


def redact(value: Any, secrets: Collection[str]) -> Any:
    """`value` with every non-empty secret replaced by `***`, longest secret first.

    The one implementation, for the history and the log pipeline: strings, and the strings
    inside dicts, lists and tuples (log event fields, undo payloads) at any depth.
    """
    ordered = sorted((secret for secret in secrets if secret), key=len, reverse=True)
    return _redact(value, ordered) if ordered else value


def _redact(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {key: _redact(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact(item, secrets) for item in value)
    return value


class SecretRegistry:
    """Values to redact from every log line; thread-safe, longest values replaced first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: tuple[str, ...] = ()

    def add(self, value: str) -> None:
        """Redact `value` from now on (empty values are ignored)."""
        if not value:
            return
        with self._lock:
            if value not in self._values:
                values = {*self._values, value}
                self._values = tuple(sorted(values, key=len, reverse=True))

    def clear(self) -> None:
        """Forget every value (tests)."""
        with self._lock:
            self._values = ()

    def redact(self, value: Any) -> Any:
        """`value` with every registered secret replaced, strings inside containers included."""
        values = self._values  # one consistent snapshot, no lock on the hot path
        return redact(value, values) if values else value


SECRETS = SecretRegistry()


def register_secret(value: str) -> None:
    """Redact `value` (a password read at run time) from every log line of this process."""
    SECRETS.add(value)
