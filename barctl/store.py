"""SQLite history of runs, nodes and steps, plus the pending-undo journal (`<state>/history.db`).

Everything barctl says about the past (CLI history, Prometheus metrics at scrape time, catch-up
decisions, undo replay) is read from this one file, so it survives restarts. The daemon and a
CLI run may share it: WAL mode, a busy timeout, and short `BEGIN IMMEDIATE` write transactions
(a transaction that starts as a reader and later writes can fail with SQLITE_BUSY at once,
without waiting). `synchronous=FULL` because an undo registered before a state change must be
on disk before that change happens. Times are stored as UTC epoch floats; every method that
records a time takes `now` (timezone-aware) from the caller and never reads the clock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from barctl import logs
from barctl.errors import BarctlError
from barctl.outcome import NodeOutcome, RunOutcome, StepOutcome, Trigger, UndoState
from barctl.reasons import Reason
from barctl.records import (
    Artifact,
    PendingUndo,
    RunDetail,
    RunRecord,
    epoch,
    moment,
    node_record,
    process_alive,
    run_record,
    stderr_tail,
    step_record,
    undo_record,
)

HISTORY_FILE_NAME = "history.db"
BUSY_TIMEOUT_SECONDS = 30.0

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (id TEXT PRIMARY KEY, plan TEXT NOT NULL, trigger TEXT NOT NULL,
            started_at REAL NOT NULL, ended_at REAL, outcome TEXT, summary TEXT NOT NULL DEFAULT '',
            pid INTEGER NOT NULL)""",
        "CREATE INDEX runs_by_plan ON runs (plan, started_at)",
        "CREATE INDEX runs_by_start ON runs (started_at)",
        "CREATE INDEX runs_running ON runs (started_at) WHERE ended_at IS NULL",
        """CREATE TABLE nodes (run_id TEXT NOT NULL REFERENCES runs (id), node TEXT NOT NULL,
            outcome TEXT NOT NULL, artifacts TEXT NOT NULL, size_bytes INTEGER NOT NULL,
            reason TEXT NOT NULL, recorded_at REAL NOT NULL, PRIMARY KEY (run_id, node))""",
        """CREATE TABLE steps (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs (id),
            node TEXT NOT NULL, step TEXT NOT NULL, command TEXT NOT NULL,
            started_at REAL NOT NULL, ended_at REAL, exit_code INTEGER, outcome TEXT,
            duration_seconds REAL, stderr_tail TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX steps_by_run ON steps (run_id, id)",
        """CREATE TABLE undos (id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs (id), node TEXT NOT NULL, step TEXT NOT NULL,
            payload TEXT NOT NULL, registered_at REAL NOT NULL, state TEXT NOT NULL,
            exit_code INTEGER, finished_at REAL)""",
        "CREATE INDEX undos_pending ON undos (run_id, id) WHERE state = 'pending'",
        "CREATE INDEX undos_by_run ON undos (run_id, id)",
        """CREATE TABLE misses (plan TEXT NOT NULL, scheduled_for REAL NOT NULL,
            recorded_at REAL NOT NULL, PRIMARY KEY (plan, scheduled_for))""",
    ),
    (
        # What a node's reason means (barctl.reasons.Reason), stored where it is decided.
        "ALTER TABLE nodes ADD COLUMN reason_class TEXT",
        # Refusals recorded before the column existed: classified once from their text, as
        # metrics did on every scrape until then; nothing reads the text for its class after.
        """UPDATE nodes SET reason_class = CASE
            WHEN reason LIKE '%unknown host key%' THEN 'unknown_host_key'
            WHEN reason LIKE '%host key%' THEN 'host_key_changed'
            WHEN reason LIKE '%authentication failed%' THEN 'authentication_failed'
            WHEN reason LIKE '%banner%' THEN 'banner_timeout'
            WHEN reason LIKE '%connection refused%' THEN 'connection_refused'
            WHEN reason LIKE '%connect timeout%' THEN 'connect_timeout'
            WHEN reason LIKE '%pacemaker%' OR reason LIKE '%galera%' OR reason LIKE '%quorum%'
                OR reason LIKE '%offline%' THEN 'unhealthy'
            WHEN reason LIKE 'unreachable%' THEN 'unreachable'
            WHEN reason LIKE 'ssh error%' THEN 'ssh_error'
            WHEN reason LIKE 'connection lost%' THEN 'connection_lost'
            ELSE 'command_failed' END
            WHERE outcome = 'refused'""",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)


def _reason(value: str | None) -> Reason | None:
    return None if value is None else Reason(value)


class StoreError(BarctlError):
    """The history database refused an operation (unknown id, wrong state, newer schema)."""


def history_path(state_directory: Path) -> Path:
    """Where the history database lives inside the state directory."""
    return state_directory / HISTORY_FILE_NAME


Redactor = Callable[[Any], Any]


class Store:
    """One connection to `history.db`, safe to share between threads (`with Store.open(path)`).

    Every free-text value written (run summaries, node reasons, step commands and stderr, undo
    payloads) passes through `_redacted` first: a remote error message may quote the MySQL or
    SFTP password, and the history is read by `barctl history`, metrics and anyone with the
    file (issue 8 finding 4). Identifiers (run id, plan, node, step names) are not redacted.
    """

    def __init__(self, connection: sqlite3.Connection, redactor: Redactor | None = None) -> None:
        self._connection = connection
        # The engine records steps from its worker threads: one connection, one lock.
        self._lock = threading.RLock()
        self._redactor = logs.SECRETS.redact if redactor is None else redactor

    def _redacted(self, value: Any) -> Any:
        """`value` (a string, or JSON-like containers of strings) without registered secrets."""
        return self._redactor(value)

    def _query(self, sql: str, parameters: Sequence[object] = ()) -> list[sqlite3.Row]:
        """Run one read statement under the lock and return every row."""
        with self._lock:
            return self._connection.execute(sql, parameters).fetchall()

    @classmethod
    def open(cls, path: Path, busy_timeout_seconds: float = BUSY_TIMEOUT_SECONDS) -> Store:
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

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction: the write lock is taken up front, rolled back on error."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
                self._connection.execute("COMMIT")
            except BaseException:
                if self._connection.in_transaction:
                    self._connection.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction, so several queries see one consistent snapshot."""
        with self._lock:
            self._connection.execute("BEGIN")
            try:
                yield self._connection
            finally:
                self._connection.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as connection:
            version: int = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"history database schema {version} is newer than barctl's {SCHEMA_VERSION}"
                )
            for number, statements in enumerate(_MIGRATIONS[version:], start=version + 1):
                for statement in statements:
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {number}")

    def _insert(self, sql: str, parameters: Sequence[object]) -> int:
        """One INSERT in its own write transaction; returns the new row id."""
        with self._write() as connection:
            cursor = connection.execute(sql, parameters)
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _changed(self, cursor: sqlite3.Cursor, problem: str) -> None:
        if cursor.rowcount != 1:
            raise StoreError(problem)

    # ---- runs ---------------------------------------------------------------------------------

    def start_run(self, run_id: str, plan: str, trigger: Trigger, now: datetime, pid: int) -> None:
        """Record a run that starts now in process `pid`."""
        with self._write() as connection:
            connection.execute(
                "INSERT INTO runs (id, plan, trigger, started_at, pid) VALUES (?, ?, ?, ?, ?)",
                (run_id, plan, Trigger(trigger).value, epoch(now), pid),
            )

    def finish_run(self, run_id: str, outcome: RunOutcome, now: datetime, summary: str) -> None:
        """Record how a running run ended; a run already ended (or unknown) is a StoreError."""
        with self._write() as connection:
            cursor = connection.execute(
                "UPDATE runs SET ended_at = ?, outcome = ?, summary = ?"
                " WHERE id = ? AND ended_at IS NULL",
                (epoch(now), RunOutcome(outcome).value, self._redacted(summary), run_id),
            )
            self._changed(cursor, f"run {run_id} is unknown or already ended")

    def mark_interrupted_runs(
        self, now: datetime, live_pids: Callable[[int], bool] | None = None
    ) -> list[str]:
        """End as `interrupted` every running run whose process is gone; return their ids.

        `live_pids(pid)` says whether a pid is alive (default `process_alive`). A pid reused
        after a reboot looks alive; a caller starting up can pass a stricter predicate. Their
        unfinished steps and pending nodes become `interrupted` too; their undos stay pending.
        """
        alive = process_alive if live_pids is None else live_pids
        dead = [run.run_id for run in self.running_runs() if not alive(run.pid)]
        ended: list[str] = []
        with self._write() as connection:
            for run_id in dead:
                cursor = connection.execute(
                    "UPDATE runs SET ended_at = ?, outcome = 'interrupted', summary = ?"
                    " WHERE id = ? AND ended_at IS NULL",
                    (epoch(now), "interrupted: the barctl process running it is gone", run_id),
                )
                if cursor.rowcount == 1:
                    ended.append(run_id)
                    connection.execute(
                        "UPDATE steps SET outcome = 'interrupted'"
                        " WHERE run_id = ? AND outcome IS NULL",
                        (run_id,),
                    )
                    connection.execute(
                        "UPDATE nodes SET outcome = 'interrupted'"
                        " WHERE run_id = ? AND outcome = 'pending'",
                        (run_id,),
                    )
        return ended

    # ---- nodes and steps ----------------------------------------------------------------------

    def record_node(
        self,
        run_id: str,
        node: str,
        outcome: NodeOutcome,
        artifacts: Sequence[Artifact],
        reason: str,
        *,
        now: datetime,
        reason_class: Reason | None = None,
    ) -> None:
        """Record (or replace) what the run did to `node`, and what its reason means."""
        listing = json.dumps(
            [{"path": item.path, "size_bytes": item.size_bytes} for item in artifacts]
        )
        size = sum(item.size_bytes for item in artifacts)
        with self._write() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO nodes (run_id, node, outcome, artifacts, size_bytes,"
                " reason, recorded_at, reason_class) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    node,
                    NodeOutcome(outcome).value,
                    listing,
                    size,
                    self._redacted(reason),
                    epoch(now),
                    None if reason_class is None else Reason(reason_class).value,
                ),
            )

    def start_step(self, run_id: str, node: str, step: str, command: str, now: datetime) -> int:
        """Record a step starting now; returns the step id for `finish_step`."""
        return self._insert(
            "INSERT INTO steps (run_id, node, step, command, started_at) VALUES (?, ?, ?, ?, ?)",
            (run_id, node, step, self._redacted(command), epoch(now)),
        )

    def finish_step(
        self,
        step_id: int,
        outcome: StepOutcome,
        now: datetime,
        *,
        exit_code: int | None,
        stderr: str,
        secrets: Collection[str] = (),
    ) -> None:
        """Record how a step ended; `stderr` is reduced to its redacted tail before storing."""
        with self._write() as connection:
            cursor = connection.execute(
                "UPDATE steps SET ended_at = :ended, outcome = :outcome, exit_code = :exit_code,"
                " duration_seconds = max(0, :ended - started_at), stderr_tail = :tail"
                " WHERE id = :id AND ended_at IS NULL",
                {
                    "ended": epoch(now),
                    "outcome": StepOutcome(outcome).value,
                    "id": step_id,
                    "exit_code": exit_code,
                    "tail": stderr_tail(self._redacted(stderr), secrets),
                },
            )
            self._changed(cursor, f"step {step_id} is unknown or already ended")

    # ---- the pending-undo journal -------------------------------------------------------------

    def register_undo(
        self, run_id: str, node: str, step: str, payload: Mapping[str, Any], now: datetime
    ) -> int:
        """Journal an undo BEFORE the state change it reverts; durable when this returns."""
        # Redacted before encoding: JSON escaping could otherwise hide a secret from the scan.
        encoded = json.dumps(self._redacted(dict(payload)), sort_keys=True)
        return self._insert(
            "INSERT INTO undos (run_id, node, step, payload, registered_at, state)"
            " VALUES (?, ?, ?, ?, ?, 'pending')",
            (run_id, node, step, encoded, epoch(now)),
        )

    def complete_undo(self, undo_id: int, ok: bool, exit_code: int | None, now: datetime) -> None:
        """Record that a pending undo ran: `done` when ok, else `failed` (not replayed again)."""
        state = UndoState.DONE if ok else UndoState.FAILED
        self._settle_undo(undo_id, state, exit_code, epoch(now))

    def _settle_undo(
        self, undo_id: int, state: UndoState, exit_code: int | None, finished_at: float | None
    ) -> None:
        with self._write() as connection:
            cursor = connection.execute(
                "UPDATE undos SET state = ?, exit_code = ?, finished_at = ?"
                " WHERE id = ? AND state = 'pending'",
                (state.value, exit_code, finished_at, undo_id),
            )
            self._changed(cursor, f"undo {undo_id} is unknown or no longer pending")

    def pending_undos(self) -> list[PendingUndo]:
        """Every pending undo, in the order to replay them.

        Runs oldest first (by their first registered undo); within a run, NEWEST FIRST, i.e.
        reverse registration order, so later changes are reverted before the ones under them.
        """
        rows = self._query(
            "SELECT * FROM undos WHERE state = 'pending'"
            " ORDER BY (SELECT min(id) FROM undos AS first WHERE first.run_id = undos.run_id),"
            " id DESC"
        )
        return [undo_record(row) for row in rows]

    # ---- missed schedule slots ----------------------------------------------------------------

    def record_miss(self, plan: str, scheduled_for: datetime, now: datetime) -> None:
        """Record a missed schedule slot; recording the same slot again changes nothing."""
        with self._write() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO misses (plan, scheduled_for, recorded_at) VALUES (?, ?, ?)",
                (plan, epoch(scheduled_for), epoch(now)),
            )

    def misses_total(self, plan: str) -> int:
        """How many distinct schedule slots of `plan` were missed, ever."""
        row = self._query("SELECT count(*) FROM misses WHERE plan = ?", (plan,))
        return int(row[0][0])

    # ---- queries ------------------------------------------------------------------------------

    def _runs(self, where: str, parameters: Sequence[object], limit: int | None) -> list[RunRecord]:
        query = f"SELECT * FROM runs {where} ORDER BY started_at DESC, rowid DESC LIMIT ?"  # noqa: S608
        rows = self._query(query, (*parameters, -1 if limit is None else limit))
        return [run_record(row) for row in rows]

    def history(self, plan: str | None = None, limit: int = 20) -> list[RunRecord]:
        """The latest `limit` runs (of `plan`, or of every plan), newest first."""
        if plan is None:
            return self._runs("", (), limit)
        return self._runs("WHERE plan = ?", (plan,), limit)

    def run_detail(self, run_id: str) -> RunDetail | None:
        """A run with its nodes, steps and undos; None when the id is unknown."""
        with self._read() as connection:
            row = connection.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                return None
            nodes = connection.execute(
                "SELECT * FROM nodes WHERE run_id = ? ORDER BY node", (run_id,)
            ).fetchall()
            steps = connection.execute(
                "SELECT * FROM steps WHERE run_id = ? ORDER BY id", (run_id,)
            ).fetchall()
            undos = connection.execute(
                "SELECT * FROM undos WHERE run_id = ? ORDER BY id", (run_id,)
            ).fetchall()
        return RunDetail(
            run_record(row),
            tuple(map(node_record, nodes)),
            tuple(map(step_record, steps)),
            tuple(map(undo_record, undos)),
        )

    def last_run(self, plan: str) -> RunRecord | None:
        """The latest run of `plan`, running or not."""
        runs = self._runs("WHERE plan = ?", (plan,), 1)
        return runs[0] if runs else None

    def last_success(self, plan: str) -> RunRecord | None:
        """The latest run of `plan` that ended in success."""
        runs = self._runs("WHERE plan = ? AND outcome = 'success'", (plan,), 1)
        return runs[0] if runs else None

    def last_attempt_time(self, plan: str) -> datetime | None:
        """When the latest run of `plan` started, whatever its outcome."""
        row = self._query("SELECT max(started_at) FROM runs WHERE plan = ?", (plan,))
        return moment(row[0][0])

    def running_runs(self) -> list[RunRecord]:
        """Runs not ended yet (of any plan), newest first."""
        return self._runs("WHERE ended_at IS NULL", (), None)

    def runs_total(self, plan: str) -> dict[RunOutcome, int]:
        """How many ended runs of `plan` there are per outcome (every outcome present, maybe 0)."""
        totals = dict.fromkeys(RunOutcome, 0)
        rows = self._query(
            "SELECT outcome, count(*) FROM runs WHERE plan = ? AND outcome IS NOT NULL"
            " GROUP BY outcome",
            (plan,),
        )
        for outcome, count in rows:
            totals[RunOutcome(outcome)] = count
        return totals

    def node_last_success(self, plan: str) -> dict[str, tuple[datetime, int]]:
        """For each node of `plan`: when it last succeeded and the size of that backup."""
        rows = self._query(
            "SELECT nodes.node, max(nodes.recorded_at), nodes.size_bytes FROM nodes"
            " JOIN runs ON runs.id = nodes.run_id"
            " WHERE runs.plan = ? AND nodes.outcome = 'success' GROUP BY nodes.node",
            (plan,),
        )
        return {node: (datetime.fromtimestamp(when, tz=UTC), size) for node, when, size in rows}

    def degraded_nodes(self, plan: str) -> set[str]:
        """Nodes of `plan` left degraded: a degraded entry with no later success on that node."""
        rows = self._query(
            "SELECT nodes.node,"
            " max(CASE WHEN nodes.outcome = 'degraded' THEN nodes.recorded_at END) AS degraded,"
            " max(CASE WHEN nodes.outcome = 'success' THEN nodes.recorded_at END) AS cleared"
            " FROM nodes JOIN runs ON runs.id = nodes.run_id WHERE runs.plan = ?"
            " GROUP BY nodes.node"
            " HAVING degraded IS NOT NULL AND (cleared IS NULL OR cleared <= degraded)",
            (plan,),
        )
        return {row[0] for row in rows}

    # ---- metrics queries ----------------------------------------------------------------------

    def first_attempt_time(self, plan: str) -> datetime | None:
        """When the earliest recorded run of `plan` started, whatever its outcome."""
        row = self._query("SELECT min(started_at) FROM runs WHERE plan = ?", (plan,))
        return moment(row[0][0])

    def run_durations(self, plan: str) -> list[tuple[RunOutcome, float]]:
        """(outcome, seconds from start to end) of every ended run of `plan`, oldest first."""
        rows = self._query(
            "SELECT outcome, max(0, ended_at - started_at) FROM runs"
            " WHERE plan = ? AND ended_at IS NOT NULL ORDER BY started_at",
            (plan,),
        )
        return [(RunOutcome(outcome), float(seconds)) for outcome, seconds in rows]

    def node_refusals(self, plan: str) -> list[tuple[str, str, Reason | None]]:
        """(node, reason, its class) of every node a gate refused in a run of `plan`, oldest
        first."""
        rows = self._query(
            "SELECT nodes.node, nodes.reason, nodes.reason_class FROM nodes"
            " JOIN runs ON runs.id = nodes.run_id"
            " WHERE runs.plan = ? AND nodes.outcome = 'refused' ORDER BY nodes.recorded_at",
            (plan,),
        )
        return [(node, reason, _reason(found)) for node, reason, found in rows]
