"""The read side of `history.db`: runs, nodes and misses as the CLI, metrics and scheduler ask.

Read-only methods of barctl.history.store.Store, kept apart from the writes so each file holds one
concern; they go through the same connection and lock (barctl.history.store_connection). Every query
returns records (barctl.history.records) or plain values, never rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from sqlite3 import Connection

from barctl.history.records import (
    ArtifactRecord,
    NodeLatest,
    NodeRecord,
    PlanTotals,
    PruneRecord,
    RunDetail,
    RunRecord,
    artifact_record,
    moment,
    node_record,
    prune_record,
    run_record,
    step_record,
    undo_record,
)
from barctl.history.store_connection import StoreConnection
from barctl.history.store_schema import SUMMARY_TABLES
from barctl.outcome import NodeOutcome, RunOutcome
from barctl.reasons import Reason


def _reason(value: str | None) -> Reason | None:
    return None if value is None else Reason(value)


class HistoryQueries(StoreConnection):
    """What barctl says about the past, read from the history database."""

    def snapshot(self) -> AbstractContextManager[Connection]:
        """A read transaction: the queries run inside it see one consistent state."""
        return self._read()

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

    def first_attempt_time(self, plan: str) -> datetime | None:
        """When the earliest run of `plan` started, whatever its outcome (kept when old rows are
        pruned)."""
        row = self._query("SELECT first_started_at FROM plan_totals WHERE plan = ?", (plan,))
        return moment(row[0][0]) if row else None

    def running_runs(self) -> list[RunRecord]:
        """Runs not ended yet (of any plan), newest first."""
        return self._runs("WHERE ended_at IS NULL", (), None)

    def runs_total(self, plan: str) -> dict[RunOutcome, int]:
        """How many ended runs of `plan` there are per outcome (every outcome present, maybe 0);
        counted at write time, so pruning old rows does not lower it."""
        return dict.fromkeys(RunOutcome, 0) | dict(self.plan_totals(plan).runs)

    def run_durations(self, plan: str) -> list[tuple[RunOutcome, float]]:
        """(outcome, seconds from start to end) of every ended run of `plan`, oldest first."""
        rows = self._query(
            "SELECT outcome, max(0, ended_at - started_at) FROM runs"
            " WHERE plan = ? AND ended_at IS NOT NULL ORDER BY started_at",
            (plan,),
        )
        return [(RunOutcome(outcome), float(seconds)) for outcome, seconds in rows]

    def misses_total(self, plan: str) -> int:
        """How many distinct schedule slots of `plan` were missed, ever (kept when pruned)."""
        row = self._query("SELECT missed_slots FROM plan_totals WHERE plan = ?", (plan,))
        return int(row[0][0]) if row else 0

    def node_last_success(self, plan: str) -> dict[str, tuple[datetime, int]]:
        """For each node of `plan`: when it last succeeded and the size of that backup."""
        rows = self._query(
            "SELECT nodes.node, max(nodes.recorded_at), nodes.size_bytes FROM nodes"
            " JOIN runs ON runs.id = nodes.run_id"
            " WHERE runs.plan = ? AND nodes.outcome = 'success' GROUP BY nodes.node",
            (plan,),
        )
        return {
            node: (datetime.fromtimestamp(when, tz=timezone.utc), size) for node, when, size in rows
        }

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

    def prunes(self, plan: str | None = None, limit: int = 100) -> list[PruneRecord]:
        """The latest deletions by retention (of `plan`, or of every plan), newest first."""
        where, parameters = ("WHERE plan = ?", (plan,)) if plan is not None else ("", ())
        rows = self._query(
            f"SELECT * FROM prunes {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            (*parameters, limit),
        )
        return [prune_record(row) for row in rows]

    def pruned_total(self, plan: str) -> int:
        """How many run directories retention deleted for `plan`, ever."""
        row = self._query(
            "SELECT count(*) FROM prunes WHERE plan = ? AND state = 'deleted'", (plan,)
        )
        return int(row[0][0])

    def plan_totals(self, plan: str) -> PlanTotals:
        """`plan`'s counters from the summary tables: a few primary-key reads, whatever the
        history's length (store_schema migration 4)."""
        with self.snapshot() as connection:
            plan_row = connection.execute(
                "SELECT first_started_at, missed_slots FROM plan_totals WHERE plan = ?", (plan,)
            ).fetchone()
            outcomes = connection.execute(
                "SELECT outcome, runs, duration_seconds FROM run_totals WHERE plan = ?", (plan,)
            ).fetchall()
            buckets = connection.execute(
                "SELECT outcome, le, runs FROM run_duration_buckets WHERE plan = ?", (plan,)
            ).fetchall()
            refusals = connection.execute(
                "SELECT node, reason_class, refusals FROM refusal_totals"
                " WHERE plan = ? AND refusals > 0",
                (plan,),
            ).fetchall()
        histogram: dict[RunOutcome, dict[float, int]] = {}
        for outcome, bound, count in buckets:
            histogram.setdefault(RunOutcome(outcome), {})[float(bound)] = int(count)
        return PlanTotals(
            first_started_at=None if plan_row is None else moment(plan_row[0]),
            missed_slots=0 if plan_row is None else int(plan_row[1]),
            runs={RunOutcome(outcome): int(count) for outcome, count, _ in outcomes},
            duration_seconds={RunOutcome(outcome): float(total) for outcome, _, total in outcomes},
            duration_buckets=histogram,
            # '' is the key of rows recorded without a class.
            refusals={(node, _reason(kind or None)): int(count) for node, kind, count in refusals},
        )

    def node_latest(self, plan: str, node: str, outcome: NodeOutcome) -> NodeLatest | None:
        """`node`'s latest row with `outcome` in a run of `plan`: one walk down the
        nodes_by_node index from its newest entry (not a scan of the node's history)."""
        rows = self._query(
            "SELECT nodes.recorded_at, nodes.size_bytes FROM nodes"
            " JOIN runs ON runs.id = nodes.run_id"
            " WHERE nodes.node = ? AND nodes.outcome = ? AND runs.plan = ?"
            " ORDER BY nodes.recorded_at DESC LIMIT 1",
            (node, NodeOutcome(outcome).value, plan),
        )
        if not rows:
            return None
        return NodeLatest(datetime.fromtimestamp(rows[0][0], tz=timezone.utc), int(rows[0][1]))

    def table_rows(self, tables: Iterable[str] = SUMMARY_TABLES) -> dict[str, int]:
        """How many rows each history table holds, as counted at write time."""
        rows = {str(name): int(count) for name, count in self._query("SELECT * FROM table_rows")}
        return {table: int(rows.get(table, 0)) for table in tables}

    def node_records_by_run(
        self, plan: str, node: str, outcome: NodeOutcome, limit: int = 1
    ) -> list[NodeRecord]:
        """As node_records, walking `plan`'s runs newest first (runs_by_plan) and each run's
        row of `node` by primary key: for a plan with few runs (the weekly drill), whose rows
        would otherwise be searched among every backup row of the node."""
        rows = self._query(
            "SELECT nodes.* FROM runs CROSS JOIN nodes ON nodes.run_id = runs.id"
            " WHERE runs.plan = ? AND nodes.node = ? AND nodes.outcome = ?"
            " ORDER BY runs.started_at DESC LIMIT ?",
            (plan, node, NodeOutcome(outcome).value, limit),
        )
        return [node_record(row) for row in rows]

    def node_records(
        self, plan: str, node: str, outcome: NodeOutcome, limit: int = 1
    ) -> list[NodeRecord]:
        """`node`'s newest `limit` rows with `outcome` in runs of `plan`, newest first: a walk
        down the nodes_by_node index from its newest entry, as node_latest."""
        rows = self._query(
            "SELECT nodes.* FROM nodes JOIN runs ON runs.id = nodes.run_id"
            " WHERE nodes.node = ? AND nodes.outcome = ? AND runs.plan = ?"
            " ORDER BY nodes.recorded_at DESC LIMIT ?",
            (node, NodeOutcome(outcome).value, plan, limit),
        )
        return [node_record(row) for row in rows]

    def latest_target_space(self) -> tuple[datetime, int] | None:
        """When the target's free space was last measured, and how many bytes were free."""
        rows = self._query(
            "SELECT measured_at, free_bytes FROM target_space ORDER BY measured_at DESC LIMIT 1"
        )
        if not rows:
            return None
        return datetime.fromtimestamp(rows[0][0], tz=timezone.utc), int(rows[0][1])

    def artifact_records(self, node: str | None = None) -> list[ArtifactRecord]:
        """The manifest facts of every node's run (of `node`), newest run first."""
        where, parameters = ("WHERE node = ?", (node,)) if node is not None else ("", ())
        rows = self._query(
            f"SELECT * FROM artifacts {where} ORDER BY run_id DESC, node",  # noqa: S608
            parameters,
        )
        return [artifact_record(row) for row in rows]
