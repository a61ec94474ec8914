"""The one SQLite connection behind `Store`: opening, migrating, transactions, redaction.

The daemon and a CLI run may share `history.db`: WAL mode, a busy timeout, and short `BEGIN
IMMEDIATE` write transactions (a transaction that starts as a reader and later writes can fail with
SQLITE_BUSY at once, without waiting). `synchronous=FULL` because an undo registered before a state
change must be on disk before that change happens. The table-level methods live in
barctl.history.store (writes) and barctl.history.history_queries (reads); both go through this base
class.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from typing_extensions import Self

from barctl import redaction
from barctl.errors import BarctlError
from barctl.history.store_schema import MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_SECONDS = 30.0

Redactor = Callable[[Any], Any]


class StoreError(BarctlError):
    """The history database refused an operation (unknown id, wrong state, newer schema)."""


class StoreConnection:
    """One connection to `history.db`, safe to share between threads (`with Store.open(path)`).

    Every free-text value written (run summaries, node reasons, step commands and stderr, undo
    payloads) passes through `_redacted` first: a remote error message may quote the MySQL
    password, and the history is read by `barctl history`, metrics and anyone with the
    file (issue 8 finding 4). Identifiers (run id, plan, node, step names) are not redacted.
    """

    def __init__(self, connection: sqlite3.Connection, redactor: Redactor | None = None) -> None:
        self._connection = connection
        # The engine records steps from its worker threads: one connection, one lock.
        self._lock = threading.RLock()
        self._redactor = redaction.SECRETS.redact if redactor is None else redactor

    @classmethod
    def open(cls, path: Path, busy_timeout_seconds: float = BUSY_TIMEOUT_SECONDS) -> Self:
        """Open (creating it mode 0600 if missing) and migrate the database at `path`."""
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        connection = sqlite3.connect(
            path, timeout=busy_timeout_seconds, isolation_level=None, check_same_thread=False
        )
        connection.row_factory = sqlite3.Row
        store = cls(connection)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute("PRAGMA foreign_keys = ON")
            store._migrate()
        except BaseException:
            connection.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection; anything committed stays, nothing else is pending."""
        self._connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _redacted(self, value: Any) -> Any:
        """`value` (a string, or JSON-like containers of strings) without registered secrets."""
        return self._redactor(value)

    @contextmanager
    def _transaction(self, begin: str, *, nested: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction opened with `begin`: committed when the block ends, else rolled back.

        `nested`: when this thread already holds a transaction, run inside it instead."""
        with self._lock:
            if nested and self._connection.in_transaction:
                yield self._connection
                return
            self._connection.execute(begin)
            try:
                yield self._connection
                self._connection.execute("COMMIT")
            except BaseException:
                if self._connection.in_transaction:
                    self._connection.execute("ROLLBACK")
                raise

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        """One short write transaction: the write lock is taken up front, rolled back on error."""
        return self._transaction("BEGIN IMMEDIATE")

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction, so several queries see one consistent snapshot; inside another
        transaction of this thread, that one (reads nest: metrics reads a plan in one snapshot)."""
        return self._transaction("BEGIN", nested=True)

    def _query(self, sql: str, parameters: Sequence[object] = ()) -> list[sqlite3.Row]:
        """Run one read statement under the lock and return every row."""
        with self._lock:
            return self._connection.execute(sql, parameters).fetchall()

    def _insert(self, sql: str, parameters: Sequence[object]) -> int:
        """One INSERT in its own write transaction; returns the new row id."""
        with self._write() as connection:
            cursor = connection.execute(sql, parameters)
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _changed(self, cursor: sqlite3.Cursor, problem: str) -> None:
        if cursor.rowcount != 1:
            raise StoreError(problem)

    def _migrate(self) -> None:
        """Apply the migrations this file lacks; refuse a file written by a newer barctl."""
        # A current file needs no write lock: every scrape opens the store, and waiting for a
        # run's write transaction would make the scrape as slow as that write.
        if self._query("PRAGMA user_version")[0][0] == SCHEMA_VERSION:
            return
        with self._write() as connection:
            version: int = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"history database schema {version} is newer than barctl's {SCHEMA_VERSION}"
                )
            for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in statements:
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {number}")
