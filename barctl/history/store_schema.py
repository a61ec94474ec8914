"""The schema of `history.db`: its migrations, applied in order, numbered by `PRAGMA user_version`.

A migration is appended, never edited: a database written by an older barctl is brought forward one
step at a time when it is opened, and a database newer than this barctl is refused
(barctl.history.store_connection). Every statement of one migration runs in the same write
transaction as the `user_version` bump, so a crash leaves the file at one version or the next.
"""

from __future__ import annotations

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
)
SCHEMA_VERSION = len(MIGRATIONS)
