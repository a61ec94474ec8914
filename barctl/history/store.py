"""SQLite history of runs, nodes and steps, plus the pending-undo journal (`<state>/history.db`).

Everything barctl says about the past (CLI history, Prometheus metrics at scrape time, catch-up
decisions, undo replay) is read from this one file, so it survives restarts. `Store` is the one
class that touches it: the connection, transactions and redaction are in
barctl.history.store_connection, the schema in barctl.history.store_schema, the read queries in
barctl.history.history_queries, and every write (each free-text value redacted first) here. Times
are stored as UTC epoch floats; every method that records a time takes `now` (timezone-aware) from
the caller and never reads the clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from barctl.config.site import HISTORY_FILE_NAME, Site
from barctl.history.history_queries import HistoryQueries
from barctl.history.records import (
    Artifact,
    ArtifactRecord,
    PendingUndo,
    epoch,
    process_alive,
    stderr_tail,
    undo_record,
)
from barctl.history.store_connection import StoreError
from barctl.outcome import NodeOutcome, RunOutcome, StepOutcome, Trigger, UndoState
from barctl.reasons import Reason

# StoreError is raised by the base class; callers catch it as barctl.history.store.StoreError.
__all__ = [
    "HISTORY_FILE_NAME",
    "Store",
    "StoreError",
    "existing_history",
    "history_path",
    "open_history",
]


def history_path(state_directory: Path) -> Path:
    """Where the history database lives inside the state directory."""
    return state_directory / HISTORY_FILE_NAME


def open_history(site: Site) -> Store:
    """The site's history database, created when missing (`with open_history(site) as store`)."""
    return Store.open(site.history_path)


@contextmanager
def existing_history(site: Site) -> Iterator[Store | None]:
    """The site's history database, or None when no run was ever recorded (read-only commands)."""
    if not site.history_path.exists():
        yield None
        return
    with Store.open(site.history_path) as store:
        yield store


class Store(HistoryQueries):
    """`history.db` (`with Store.open(path) as store`): the writes here, the reads inherited.

    Every write method redacts its free-text values through `_redacted` (one redactor, set in
    barctl.history.store_connection) before they reach the file.
    """

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

    def record_artifacts(self, record: ArtifactRecord) -> None:
        """Record (or replace) the manifest facts of one node's run; the reason redacted."""
        files = json.dumps([vars(item) for item in record.files])
        reason = None if record.reason is None else self._redacted(record.reason)
        with self._write() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO artifacts (run_id, node, plan, target_scheme,"
                " target_directory, started_at, finished_at, rear_version, uefi, barctl_version,"
                " policy_sha256, files, verify_mode, verified, reason, checked_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.run_id,
                    record.node,
                    record.plan,
                    record.target_scheme,
                    record.target_directory,
                    epoch(record.started_at),
                    epoch(record.finished_at),
                    record.rear_version,
                    int(record.uefi),
                    record.barctl_version,
                    record.policy_sha256,
                    files,
                    record.verify_mode,
                    int(record.verified),
                    reason,
                    epoch(record.checked_at),
                ),
            )

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
                # An upsert, not INSERT OR REPLACE: a replace deletes without firing the delete
                # triggers that keep table_rows (store_schema migration 4).
                "INSERT INTO nodes (run_id, node, outcome, artifacts, size_bytes,"
                " reason, recorded_at, reason_class) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, node) DO UPDATE SET outcome = excluded.outcome,"
                " artifacts = excluded.artifacts, size_bytes = excluded.size_bytes,"
                " reason = excluded.reason, recorded_at = excluded.recorded_at,"
                " reason_class = excluded.reason_class",
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

    # ---- the backup target's free space ---------------------------------------------------------

    def record_target_space(self, directory: str, free_bytes: int, now: datetime) -> None:
        """Record the target's free bytes under `directory`, as the gate measured them."""
        self._insert(
            "INSERT INTO target_space (measured_at, directory, free_bytes) VALUES (?, ?, ?)",
            (epoch(now), directory, free_bytes),
        )

    # ---- missed schedule slots ----------------------------------------------------------------

    def record_miss(self, plan: str, scheduled_for: datetime, now: datetime) -> None:
        """Record a missed schedule slot; recording the same slot again changes nothing."""
        with self._write() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO misses (plan, scheduled_for, recorded_at) VALUES (?, ?, ?)",
                (plan, epoch(scheduled_for), epoch(now)),
            )

    # ---- retention ------------------------------------------------------------------------------

    def start_prune(
        self,
        plan: str,
        node: str,
        run_id: str,
        path: str,
        *,
        reason: str,
        size_bytes: int,
        now: datetime,
    ) -> int:
        """Record, before it is made, the deletion of a run directory on the target."""
        return self._insert(
            "INSERT INTO prunes (plan, node, run_id, path, reason, size_bytes, state, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'deleting', ?)",
            (plan, node, run_id, path, self._redacted(reason), size_bytes, epoch(now)),
        )

    def finish_prune(self, prune_id: int, ok: bool, detail: str, now: datetime) -> None:
        """Settle a deletion: `deleted`, or `failed` with what the target said."""
        state = "deleted" if ok else "failed"
        with self._write() as connection:
            cursor = connection.execute(
                "UPDATE prunes SET state = ?, detail = ?, finished_at = ?"
                " WHERE id = ? AND state = 'deleting'",
                (state, self._redacted(detail), epoch(now), prune_id),
            )
            self._changed(cursor, f"prune {prune_id} is unknown or already settled")

    # ---- history rows' retention (history.keep_days) ------------------------------------------

    def prune_history(self, before: datetime) -> dict[str, int]:
        """Delete the rows of runs that ended before `before`, and misses of slots before it.

        Kept whatever their age: runs not ended, runs with a pending undo (crash replay needs
        them), and each plan's latest run and latest successful run (`barctl status` names
        them). Counters (runs by outcome, durations, refusals, misses, first run) live in the
        summary tables and do not go back. Returns the rows deleted per table.
        """
        cutoff = epoch(before)
        with self._write() as connection:
            connection.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (id TEXT PRIMARY KEY)")
            connection.execute("DELETE FROM temp.doomed")
            connection.execute(_DOOMED_RUNS, {"cutoff": cutoff})
            removed = {
                table: connection.execute(
                    f"DELETE FROM {table} WHERE run_id IN (SELECT id FROM temp.doomed)"  # noqa: S608
                ).rowcount
                for table in ("steps", "undos", "nodes")
            }
            # A run's manifest facts go with it (the manifest itself stays on the target).
            connection.execute("DELETE FROM artifacts WHERE run_id IN (SELECT id FROM temp.doomed)")
            removed["runs"] = connection.execute(
                "DELETE FROM runs WHERE id IN (SELECT id FROM temp.doomed)"
            ).rowcount
            removed["misses"] = connection.execute(
                "DELETE FROM misses WHERE scheduled_for < ?", (cutoff,)
            ).rowcount
            connection.execute("DELETE FROM temp.doomed")
        return removed


_DOOMED_RUNS = """INSERT INTO temp.doomed (id)
    SELECT id FROM runs WHERE ended_at IS NOT NULL AND ended_at < :cutoff
    AND id NOT IN (SELECT run_id FROM undos WHERE state = 'pending')
    AND id NOT IN (SELECT kept FROM (
        SELECT (SELECT latest.id FROM runs AS latest WHERE latest.plan = plans.plan
                ORDER BY latest.started_at DESC, latest.rowid DESC LIMIT 1) AS kept
        FROM (SELECT DISTINCT plan FROM runs) AS plans
        UNION ALL
        SELECT (SELECT latest.id FROM runs AS latest
                WHERE latest.plan = plans.plan AND latest.outcome = 'success'
                ORDER BY latest.started_at DESC, latest.rowid DESC LIMIT 1) AS kept
        FROM (SELECT DISTINCT plan FROM runs) AS plans)
        -- A plan that never succeeded has no latest success: NULL in NOT IN would keep all.
        WHERE kept IS NOT NULL)"""
"""The ended runs older than the cutoff that `prune_history` deletes (see its docstring)."""
