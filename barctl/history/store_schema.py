"""The schema of `history.db`: its migrations, applied in order, numbered by `PRAGMA user_version`.

A migration is appended, never edited: a database written by an older barctl is brought forward one
step at a time when it is opened, and a database newer than this barctl is refused
(barctl.history.store_connection). Every statement of one migration runs in the same write
transaction as the `user_version` bump, so a crash leaves the file at one version or the next.
"""

# ruff: noqa: S608 -- every statement here is built from this module's constants, no input.

from __future__ import annotations

DURATION_BUCKETS: tuple[float, ...] = (60, 300, 900, 1800, 3600, 7200, 14400, 28800)
"""Run duration histogram upper bounds, 1 min to 8 h (plus +Inf), counted at write time.

Migration 4 builds `run_duration_buckets` from these: changing them needs a new migration that
empties and refills that table from the `runs` rows still kept."""

SUMMARY_TABLES = ("runs", "nodes", "steps", "undos", "misses")
"""The tables whose row counts `table_rows` keeps (exported as barctl_history_rows)."""


def _bucket_values() -> str:
    return ", ".join(f"({float(bound)})" for bound in DURATION_BUCKETS)


def _ensure(table: str, **keys: str) -> str:
    """A statement adding the row `keys` (column = SQL expression) to `table` unless present.

    Not INSERT OR IGNORE: inside a trigger the firing statement's conflict clause wins over the
    trigger's (the upsert on nodes turned the IGNORE into an abort; sqlite.org lang_createtrigger).
    """
    columns = ", ".join(keys)
    values = ", ".join(keys.values())
    present = " AND ".join(f"{column} = {value}" for column, value in keys.items())
    return (
        f"INSERT INTO {table} ({columns}) SELECT {values}"
        f" WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE {present});"
    )


def _run_ended(row: str) -> tuple[str, ...]:
    """Statements adding the ended run `row` (NEW) to the outcome and duration totals."""
    duration = f"max(0, {row}.ended_at - {row}.started_at)"
    return (
        _ensure("run_totals", plan=f"{row}.plan", outcome=f"{row}.outcome"),
        f"UPDATE run_totals SET runs = runs + 1, duration_seconds = duration_seconds + {duration}"
        f" WHERE plan = {row}.plan AND outcome = {row}.outcome;",
        # Every bound of a (plan, outcome) is added at once, so one present row means all are.
        "INSERT INTO run_duration_buckets (plan, outcome, le)"
        f" SELECT {row}.plan, {row}.outcome, column1 FROM (VALUES {_bucket_values()})"
        " WHERE NOT EXISTS (SELECT 1 FROM run_duration_buckets"
        f" WHERE plan = {row}.plan AND outcome = {row}.outcome);",
        "UPDATE run_duration_buckets SET runs = runs + 1"
        f" WHERE plan = {row}.plan AND outcome = {row}.outcome AND {duration} <= le;",
    )


def _refusal(row: str, change: int) -> tuple[str, ...]:
    """Statements adding `change` to the refusal count of the node row `row` (NEW or OLD)."""
    plan = f"(SELECT plan FROM runs WHERE id = {row}.run_id)"
    return (
        _ensure(
            "refusal_totals",
            plan=plan,
            node=f"{row}.node",
            reason_class=f"coalesce({row}.reason_class, '')",
        ),
        f"UPDATE refusal_totals SET refusals = refusals + {change}"
        f" WHERE plan = {plan} AND node = {row}.node"
        f" AND reason_class = coalesce({row}.reason_class, '');",
    )


def _trigger(name: str, event: str, condition: str, statements: tuple[str, ...]) -> str:
    when = f" WHEN {condition}" if condition else ""
    return f"CREATE TRIGGER {name} AFTER {event}{when} BEGIN {' '.join(statements)} END"


def _row_count_triggers() -> tuple[str, ...]:
    made: list[str] = []
    for table in SUMMARY_TABLES:
        change = f"UPDATE table_rows SET rows = rows {{}} 1 WHERE name = '{table}';"
        made.append(_trigger(f"{table}_counted", f"INSERT ON {table}", "", (change.format("+"),)))
        made.append(_trigger(f"{table}_uncounted", f"DELETE ON {table}", "", (change.format("-"),)))
    return tuple(made)


# Migration 4 (issue 12 item 3): what a scrape reads no longer grows with the history. Counters
# (runs by outcome, durations, refusals, misses, the first run) are kept at write time by
# triggers, in the writing transaction, so no write path can forget them and deleting old rows
# (Store.prune_history) never makes a Prometheus counter go back. Gauges (latest run, latest
# success per node, degraded) are bounded index walks (the two indexes below).
_SUMMARIES: tuple[str, ...] = (
    "CREATE INDEX runs_by_plan_outcome ON runs (plan, outcome, started_at)",
    "CREATE INDEX nodes_by_node ON nodes (node, outcome, recorded_at)",
    # first_started_at is NULL for a plan with misses and no run yet.
    """CREATE TABLE plan_totals (plan TEXT PRIMARY KEY, first_started_at REAL,
        missed_slots INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE run_totals (plan TEXT NOT NULL, outcome TEXT NOT NULL,
        runs INTEGER NOT NULL DEFAULT 0, duration_seconds REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (plan, outcome))""",
    """CREATE TABLE run_duration_buckets (plan TEXT NOT NULL, outcome TEXT NOT NULL,
        le REAL NOT NULL, runs INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (plan, outcome, le))""",
    """CREATE TABLE refusal_totals (plan TEXT NOT NULL, node TEXT NOT NULL,
        reason_class TEXT NOT NULL, refusals INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (plan, node, reason_class))""",
    "CREATE TABLE table_rows (name TEXT PRIMARY KEY, rows INTEGER NOT NULL)",
    # Backfill from the rows written before this migration.
    """INSERT INTO plan_totals (plan, first_started_at, missed_slots)
        SELECT plan, min(started_at), (SELECT count(*) FROM misses WHERE misses.plan = runs.plan)
        FROM runs GROUP BY plan""",
    """INSERT OR IGNORE INTO plan_totals (plan, missed_slots)
        SELECT plan, count(*) FROM misses GROUP BY plan""",
    """INSERT INTO run_totals (plan, outcome, runs, duration_seconds)
        SELECT plan, outcome, count(*), total(max(0, ended_at - started_at)) FROM runs
        WHERE outcome IS NOT NULL AND ended_at IS NOT NULL GROUP BY plan, outcome""",
    f"""INSERT INTO run_duration_buckets (plan, outcome, le, runs)
        SELECT plan, outcome, column1, total(max(0, ended_at - started_at) <= column1)
        FROM runs, (VALUES {_bucket_values()})
        WHERE outcome IS NOT NULL AND ended_at IS NOT NULL GROUP BY plan, outcome, column1""",
    """INSERT INTO refusal_totals (plan, node, reason_class, refusals)
        SELECT runs.plan, nodes.node, coalesce(nodes.reason_class, ''), count(*)
        FROM nodes JOIN runs ON runs.id = nodes.run_id WHERE nodes.outcome = 'refused'
        GROUP BY runs.plan, nodes.node, coalesce(nodes.reason_class, '')""",
    *(
        f"INSERT INTO table_rows (name, rows) SELECT '{table}', count(*) FROM {table}"
        for table in SUMMARY_TABLES
    ),
    # Kept at write time from now on.
    _trigger(
        "run_started",
        "INSERT ON runs",
        "",
        (
            _ensure("plan_totals", plan="new.plan"),
            "UPDATE plan_totals SET first_started_at"
            " = min(coalesce(first_started_at, new.started_at), new.started_at)"
            " WHERE plan = new.plan;",
        ),
    ),
    _trigger(
        "run_inserted_ended",
        "INSERT ON runs",
        "new.outcome IS NOT NULL AND new.ended_at IS NOT NULL",
        _run_ended("new"),
    ),
    _trigger(
        "run_ended",
        "UPDATE OF outcome, ended_at ON runs",
        "(old.outcome IS NULL OR old.ended_at IS NULL)"
        " AND new.outcome IS NOT NULL AND new.ended_at IS NOT NULL",
        _run_ended("new"),
    ),
    _trigger(
        "miss_recorded",
        "INSERT ON misses",
        "",
        (
            _ensure("plan_totals", plan="new.plan"),
            "UPDATE plan_totals SET missed_slots = missed_slots + 1 WHERE plan = new.plan;",
        ),
    ),
    _trigger("node_refused", "INSERT ON nodes", "new.outcome = 'refused'", _refusal("new", 1)),
    _trigger(
        "node_refusal_withdrawn",
        "UPDATE OF outcome, reason_class ON nodes",
        "old.outcome = 'refused'",
        _refusal("old", -1),
    ),
    _trigger(
        "node_refusal_made",
        "UPDATE OF outcome, reason_class ON nodes",
        "new.outcome = 'refused'",
        _refusal("new", 1),
    ),
    *_row_count_triggers(),
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
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
    (
        # Retention (barctl.run.prune): one row per run directory deleted on the target,
        # written `deleting` before the `rm` and settled after, so a crash between the two
        # shows as a deletion that may or may not have happened.
        """CREATE TABLE prunes (id INTEGER PRIMARY KEY AUTOINCREMENT, plan TEXT NOT NULL,
            node TEXT NOT NULL, run_id TEXT NOT NULL, path TEXT NOT NULL, reason TEXT NOT NULL,
            size_bytes INTEGER NOT NULL, state TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '',
            started_at REAL NOT NULL, finished_at REAL)""",
        "CREATE INDEX prunes_by_plan ON prunes (plan, started_at)",
    ),
    _SUMMARIES,
    (
        # The backup target's free bytes as the gate measured them before each run (df on the
        # target node), so barctl_target_free_bytes and its trend survive restarts.
        """CREATE TABLE target_space (measured_at REAL NOT NULL, directory TEXT NOT NULL,
            free_bytes INTEGER NOT NULL)""",
        "CREATE INDEX target_space_by_time ON target_space (measured_at)",
    ),
    (
        # The manifest of each node's run, as written beside its artifacts on the target
        # (barctl/run/manifest.py, issue 11): `files` is its JSON list, times UTC epochs.
        """CREATE TABLE artifacts (run_id TEXT NOT NULL REFERENCES runs (id), node TEXT NOT NULL,
            plan TEXT NOT NULL, target_scheme TEXT NOT NULL, target_directory TEXT NOT NULL,
            started_at REAL NOT NULL, finished_at REAL NOT NULL, rear_version TEXT NOT NULL,
            uefi INTEGER NOT NULL, barctl_version TEXT NOT NULL, policy_sha256 TEXT NOT NULL,
            files TEXT NOT NULL, verify_mode TEXT NOT NULL, verified INTEGER NOT NULL,
            reason TEXT, checked_at REAL NOT NULL, PRIMARY KEY (run_id, node))""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
