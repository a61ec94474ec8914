"""The SQLite history store and pending-undo journal, against real database files."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from barctl import redaction
from barctl.history.records import STDERR_TAIL_LINES, Artifact, new_run_id
from barctl.history.store import Store, StoreError, history_path
from barctl.history.store_schema import MIGRATIONS, SCHEMA_VERSION
from barctl.outcome import NodeOutcome, RunOutcome, StepOutcome, Trigger, UndoState
from barctl.reasons import Reason
from barctl.redaction import redact

START = datetime(2026, 11, 25, 2, 30, tzinfo=timezone.utc)
REPOSITORY = Path(__file__).resolve().parents[2]


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return history_path(tmp_path)


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    with Store.open(path) as opened:
        yield opened


def add_run(
    store: Store,
    run_id: str,
    minutes: float,
    outcome: RunOutcome | None = RunOutcome.SUCCESS,
    plan: str = "controlplane",
) -> None:
    store.start_run(run_id, plan, Trigger.SCHEDULED, at(minutes), pid=os.getpid())
    if outcome is not None:
        store.finish_run(run_id, outcome, at(minutes + 10), summary=str(outcome))


# ---- helpers ------------------------------------------------------------------------------------


def test_new_run_id_is_utc_timestamp_plan_and_suffix() -> None:
    """A run id is the UTC start time, the plan and the random suffix, whatever the zone given."""
    paris = START.astimezone(timezone(timedelta(hours=1)))
    assert new_run_id("controlplane", paris, "3f2a") == "20261125T023000Z-controlplane-3f2a"


def test_new_run_id_rejects_a_suffix_with_other_characters() -> None:
    """A suffix that is empty or holds characters other than [a-z0-9] is refused."""
    for suffix in ("", "3F2A", "a/b", "a-b"):
        with pytest.raises(ValueError, match="suffix"):
            new_run_id("undercloud", START, suffix)


def test_redact_replaces_every_secret_and_ignores_empty_ones() -> None:
    """Each non-empty secret becomes *** everywhere; an empty secret changes nothing."""
    text = "mysql -p hunter2 failed; hunter2 again; token abc"
    assert redact(text, ["hunter2", "", "abc"]) == "mysql -p *** failed; *** again; token ***"


def test_redact_replaces_the_longest_secret_first() -> None:
    """A secret containing a shorter secret is hidden whole, leaving no readable remainder."""
    assert redact("password=abcdef", ["abc", "abcdef"]) == "password=***"


def test_naive_datetime_is_refused(store: Store) -> None:
    """A datetime without a time zone is refused rather than guessed."""
    with pytest.raises(ValueError, match="naive"):
        store.start_run("r1", "undercloud", Trigger.MANUAL, datetime(2026, 1, 1), pid=1)  # noqa: DTZ001


# ---- schema and file ----------------------------------------------------------------------------


def test_open_creates_a_private_wal_database_at_the_current_schema(path: Path) -> None:
    """Opening creates history.db mode 0600, in WAL mode, with user_version = SCHEMA_VERSION."""
    with Store.open(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    connection.close()


def test_reopening_keeps_the_data(path: Path) -> None:
    """A second open neither re-creates the schema nor loses rows."""
    with Store.open(path) as store:
        add_run(store, "r1", 0)
    with Store.open(path) as store:
        assert [run.run_id for run in store.history()] == ["r1"]


def test_a_database_from_a_newer_barctl_is_refused(path: Path) -> None:
    """A schema version above this barctl's is refused instead of being written to."""
    with Store.open(path):
        pass
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(StoreError, match="newer"):
        Store.open(path)


# ---- runs ---------------------------------------------------------------------------------------


def test_run_round_trip(store: Store) -> None:
    """A started then finished run reads back with every field, times as aware UTC datetimes."""
    store.start_run("r1", "undercloud", Trigger.CATCH_UP, START, pid=4242)
    running = store.last_run("undercloud")
    assert running is not None
    assert (running.ended_at, running.outcome, running.trigger) == (None, None, Trigger.CATCH_UP)
    store.finish_run("r1", RunOutcome.DEGRADED, at(5), summary="ctl-1 left in standby")
    run = store.last_run("undercloud")
    assert run is not None
    assert run.run_id == "r1"
    assert (run.plan, run.pid, run.summary) == ("undercloud", 4242, "ctl-1 left in standby")
    assert (run.started_at, run.ended_at, run.outcome) == (START, at(5), RunOutcome.DEGRADED)
    assert run.started_at.tzinfo == timezone.utc


def test_finishing_a_run_twice_or_an_unknown_run_is_an_error(store: Store) -> None:
    """finish_run on an ended or unknown run raises StoreError and changes nothing."""
    add_run(store, "r1", 0, RunOutcome.FAILED)
    with pytest.raises(StoreError, match="r1"):
        store.finish_run("r1", RunOutcome.SUCCESS, at(30), summary="late")
    with pytest.raises(StoreError, match="nope"):
        store.finish_run("nope", RunOutcome.SUCCESS, at(30), summary="")
    run = store.last_run("controlplane")
    assert run is not None
    assert run.outcome == RunOutcome.FAILED


def test_history_is_newest_first_limited_and_filtered_by_plan(store: Store) -> None:
    """history() orders by start time descending, honours limit, and filters on plan."""
    add_run(store, "c1", 0)
    add_run(store, "u1", 20, plan="undercloud")
    add_run(store, "c2", 40, RunOutcome.FAILED)
    add_run(store, "c3", 60, outcome=None)
    assert [run.run_id for run in store.history()] == ["c3", "c2", "u1", "c1"]
    assert [run.run_id for run in store.history(limit=2)] == ["c3", "c2"]
    assert [run.run_id for run in store.history("controlplane")] == ["c3", "c2", "c1"]
    assert [run.run_id for run in store.history("undercloud")] == ["u1"]


def test_last_run_success_attempt_and_totals(store: Store) -> None:
    """last_run, last_success, last_attempt_time and runs_total describe one plan's past."""
    assert store.last_run("controlplane") is None
    assert store.last_attempt_time("controlplane") is None
    add_run(store, "c1", 0)
    add_run(store, "c2", 40, RunOutcome.FAILED)
    add_run(store, "c3", 60, outcome=None)
    add_run(store, "u1", 90, RunOutcome.REFUSED, plan="undercloud")
    last = store.last_run("controlplane")
    success = store.last_success("controlplane")
    assert (last and last.run_id, success and success.run_id) == ("c3", "c1")
    assert store.last_attempt_time("controlplane") == at(60)
    totals = store.runs_total("controlplane")
    assert totals == {
        RunOutcome.SUCCESS: 1,
        RunOutcome.FAILED: 1,
        RunOutcome.REFUSED: 0,
        RunOutcome.INTERRUPTED: 0,
        RunOutcome.DEGRADED: 0,
    }


def test_running_runs_lists_only_runs_not_ended(store: Store) -> None:
    """running_runs() returns the runs with no end yet, of every plan."""
    add_run(store, "c1", 0)
    add_run(store, "c2", 20, outcome=None)
    add_run(store, "u1", 30, outcome=None, plan="undercloud")
    assert [run.run_id for run in store.running_runs()] == ["u1", "c2"]


def test_interrupted_marking_ends_runs_whose_process_is_dead(store: Store) -> None:
    """A running run whose pid is gone ends interrupted, with its open steps and pending nodes."""
    gone = dead_pid()
    store.start_run("dead", "controlplane", Trigger.SCHEDULED, START, pid=gone)
    store.start_run("alive", "undercloud", Trigger.MANUAL, START, pid=os.getpid())
    store.record_node("dead", "ctl-0", NodeOutcome.SUCCESS, [], "", now=at(1))
    store.record_node("dead", "ctl-1", NodeOutcome.PENDING, [], "", now=at(1))
    step_id = store.start_step("dead", "ctl-1", "standby", "pcs node standby", at(2))
    assert store.mark_interrupted_runs(at(9)) == ["dead"]
    detail = store.run_detail("dead")
    assert detail is not None
    assert (detail.run.outcome, detail.run.ended_at) == (RunOutcome.INTERRUPTED, at(9))
    outcomes = {node.node: node.outcome for node in detail.nodes}
    assert outcomes == {"ctl-0": NodeOutcome.SUCCESS, "ctl-1": NodeOutcome.INTERRUPTED}
    (step,) = detail.steps
    assert (step.step_id, step.outcome, step.exit_code) == (step_id, StepOutcome.INTERRUPTED, None)
    assert [run.run_id for run in store.running_runs()] == ["alive"]
    assert store.mark_interrupted_runs(at(10)) == []


def test_interrupted_marking_uses_the_given_liveness_check(store: Store) -> None:
    """live_pids decides which pids count as alive; runs of live pids are left running."""
    store.start_run("r1", "controlplane", Trigger.SCHEDULED, START, pid=100)
    store.start_run("r2", "undercloud", Trigger.SCHEDULED, START, pid=200)
    assert store.mark_interrupted_runs(at(1), live_pids=lambda pid: pid == 200) == ["r1"]
    assert [run.run_id for run in store.running_runs()] == ["r2"]


# ---- nodes and steps ----------------------------------------------------------------------------


def test_node_round_trip_sums_artifacts_and_replaces(store: Store) -> None:
    """record_node stores artifacts and their total size; recording the node again replaces it."""
    add_run(store, "r1", 0, outcome=None)
    store.record_node("r1", "ctl-0", NodeOutcome.PENDING, [], "", now=at(1))
    artifacts = [Artifact("/backups/ctl-0/backup.tar.gz", 1000), Artifact("/backups/ctl-0.iso", 24)]
    store.record_node("r1", "ctl-0", NodeOutcome.SUCCESS, artifacts, "", now=at(3))
    store.record_node("r1", "ctl-1", NodeOutcome.SKIPPED, [], "disabled", now=at(3))
    detail = store.run_detail("r1")
    assert detail is not None
    first, second = detail.nodes
    assert (first.node, first.outcome, first.size_bytes) == ("ctl-0", NodeOutcome.SUCCESS, 1024)
    assert first.artifacts == tuple(artifacts)
    assert first.recorded_at == at(3)
    assert (second.node, second.outcome, second.reason) == (
        "ctl-1",
        NodeOutcome.SKIPPED,
        "disabled",
    )


def test_step_round_trip_with_duration_and_redacted_tail(store: Store) -> None:
    """A finished step keeps exit code, outcome, duration and only the redacted stderr tail."""
    add_run(store, "r1", 0, outcome=None)
    stderr = "".join(f"line {number} password=s3cret\n" for number in range(100))
    step_id = store.start_step("r1", "ctl-0", "database dump", "mysqldump", at(1))
    store.finish_step(
        step_id, StepOutcome.FAILED, at(3.5), exit_code=2, stderr=stderr, secrets=["s3cret"]
    )
    detail = store.run_detail("r1")
    assert detail is not None
    (step,) = detail.steps
    assert (step.node, step.step, step.command) == ("ctl-0", "database dump", "mysqldump")
    assert (step.started_at, step.ended_at, step.duration_seconds) == (at(1), at(3.5), 150.0)
    assert (step.exit_code, step.outcome) == (2, StepOutcome.FAILED)
    lines = step.stderr_tail.splitlines()
    assert len(lines) == STDERR_TAIL_LINES
    assert lines[0] == "line 75 password=***"
    assert lines[-1] == "line 99 password=***"
    assert "s3cret" not in step.stderr_tail


def test_a_step_that_did_not_complete_keeps_no_exit_code(store: Store) -> None:
    """A timed-out step is stored with exit_code None; finishing it twice is an error."""
    add_run(store, "r1", 0, outcome=None)
    step_id = store.start_step("r1", "ctl-0", "rear", "rear mkbackup", at(1))
    store.finish_step(step_id, StepOutcome.TIMED_OUT, at(241), exit_code=None, stderr="")
    detail = store.run_detail("r1")
    assert detail is not None
    assert (detail.steps[0].exit_code, detail.steps[0].outcome) == (None, StepOutcome.TIMED_OUT)
    with pytest.raises(StoreError, match=str(step_id)):
        store.finish_step(step_id, StepOutcome.SUCCESS, at(242), exit_code=0, stderr="")


def test_run_detail_of_an_unknown_run_is_none(store: Store) -> None:
    """run_detail returns None for an id that was never recorded."""
    assert store.run_detail("missing") is None


def test_node_last_success_keeps_the_latest_success_per_node(store: Store) -> None:
    """Per node: the time and size of its latest success; failures later do not hide it."""
    add_run(store, "c1", 0)
    store.record_node("c1", "ctl-0", NodeOutcome.SUCCESS, [Artifact("/a", 10)], "", now=at(5))
    store.record_node("c1", "ctl-1", NodeOutcome.SUCCESS, [Artifact("/b", 20)], "", now=at(6))
    add_run(store, "c2", 60, RunOutcome.FAILED)
    store.record_node("c2", "ctl-0", NodeOutcome.SUCCESS, [Artifact("/c", 30)], "", now=at(65))
    store.record_node("c2", "ctl-1", NodeOutcome.FAILED, [], "rear failed", now=at(66))
    add_run(store, "u1", 90, plan="undercloud")
    store.record_node("u1", "undercloud-0", NodeOutcome.SUCCESS, [], "", now=at(95))
    assert store.node_last_success("controlplane") == {"ctl-0": (at(65), 30), "ctl-1": (at(6), 20)}


def test_degraded_node_is_cleared_only_by_a_later_success_on_that_node(store: Store) -> None:
    """A node stays degraded through later failures until a success on that node clears it."""
    add_run(store, "c1", 0, RunOutcome.DEGRADED)
    store.record_node("c1", "ctl-0", NodeOutcome.SUCCESS, [], "", now=at(5))
    store.record_node("c1", "ctl-1", NodeOutcome.DEGRADED, [], "did not rejoin", now=at(6))
    assert store.degraded_nodes("controlplane") == {"ctl-1"}
    add_run(store, "c2", 60, RunOutcome.FAILED)
    store.record_node("c2", "ctl-0", NodeOutcome.SUCCESS, [], "", now=at(65))
    store.record_node("c2", "ctl-1", NodeOutcome.FAILED, [], "gate refused", now=at(66))
    assert store.degraded_nodes("controlplane") == {"ctl-1"}
    assert store.degraded_nodes("undercloud") == set()
    add_run(store, "c3", 120)
    store.record_node("c3", "ctl-1", NodeOutcome.SUCCESS, [], "", now=at(125))
    assert store.degraded_nodes("controlplane") == set()
    add_run(store, "c4", 180, RunOutcome.DEGRADED)
    store.record_node("c4", "ctl-0", NodeOutcome.DEGRADED, [], "standby stuck", now=at(185))
    assert store.degraded_nodes("controlplane") == {"ctl-0"}


# ---- the pending-undo journal -------------------------------------------------------------------


def test_undo_round_trip_and_completion(store: Store) -> None:
    """A registered undo is pending with its payload; completing it records state and exit code."""
    add_run(store, "r1", 0, outcome=None)
    payload = {"argv": ["pcs", "node", "unstandby", "ctl-0"], "timeout_seconds": 300}
    done = store.register_undo("r1", "ctl-0", "standby", payload, at(1))
    failed = store.register_undo("r1", "ctl-1", "standby", {"argv": ["true"]}, at(2))
    newest, oldest = store.pending_undos()
    assert (newest.undo_id, oldest.undo_id) == (failed, done)
    assert dict(oldest.payload) == payload
    assert (oldest.state, oldest.registered_at) == (UndoState.PENDING, at(1))
    store.complete_undo(done, ok=True, exit_code=0, now=at(3))
    store.complete_undo(failed, ok=False, exit_code=1, now=at(4))
    assert store.pending_undos() == []
    detail = store.run_detail("r1")
    assert detail is not None
    states = [(undo.state, undo.exit_code, undo.finished_at) for undo in detail.undos]
    assert states == [(UndoState.DONE, 0, at(3)), (UndoState.FAILED, 1, at(4))]


def test_a_settled_or_unknown_undo_cannot_be_settled_again(store: Store) -> None:
    """Completing an undo that is not pending, or unknown, raises StoreError."""
    add_run(store, "r1", 0, outcome=None)
    undo_id = store.register_undo("r1", "ctl-0", "standby", {"argv": ["true"]}, at(1))
    store.complete_undo(undo_id, ok=True, exit_code=0, now=at(2))
    with pytest.raises(StoreError, match="no longer pending"):
        store.complete_undo(undo_id, ok=False, exit_code=1, now=at(3))
    with pytest.raises(StoreError):
        store.complete_undo(undo_id + 100, ok=True, exit_code=0, now=at(3))


def test_a_version_1_history_gets_reason_classes_for_its_refusals(path: Path) -> None:
    """Opening a history written before reason classes classifies its old refusals once."""
    connection = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        connection.execute(statement)
    connection.execute("PRAGMA user_version = 1")
    connection.execute(
        "INSERT INTO runs (id, plan, trigger, started_at, pid) VALUES ('r', 'p', 'manual', 0, 1)"
    )
    rows = [
        ("ctl-0", "connect timeout"),
        ("ctl-1", "galera is Donor, not Synced"),
        ("ctl-2", "rear not installed: x"),
    ]
    for node, reason in rows:
        connection.execute(
            "INSERT INTO nodes VALUES ('r', ?, 'refused', '[]', 0, ?, 0)", (node, reason)
        )
    connection.commit()
    connection.close()
    with Store.open(path) as store:
        assert store.node_refusals("p") == [
            ("ctl-0", "connect timeout", Reason.CONNECT_TIMEOUT),
            ("ctl-1", "galera is Donor, not Synced", Reason.UNHEALTHY),
            ("ctl-2", "rear not installed: x", Reason.COMMAND_FAILED),
        ]


def test_a_payload_that_is_not_json_is_refused_before_anything_is_written(store: Store) -> None:
    """register_undo raises on a payload JSON cannot encode, and journals nothing."""
    add_run(store, "r1", 0, outcome=None)
    with pytest.raises(TypeError):
        store.register_undo("r1", "ctl-0", "standby", {"argv": {1, 2}}, at(1))
    assert store.pending_undos() == []


def test_pending_undos_are_runs_oldest_first_each_in_reverse_registration_order(
    store: Store,
) -> None:
    """Replay order: the older run's undos first, and within a run the newest undo first."""
    add_run(store, "old", 0, outcome=None)
    add_run(store, "new", 60, outcome=None)
    for step in ("maintenance", "standby", "stop"):
        store.register_undo("old", "ctl-0", step, {"argv": [step]}, at(1))
    store.register_undo("new", "ctl-1", "maintenance", {"argv": ["maintenance"]}, at(61))
    settled = store.register_undo("old", "ctl-1", "extra", {"argv": ["extra"]}, at(62))
    store.complete_undo(settled, ok=True, exit_code=0, now=at(63))
    order = [(undo.run_id, undo.step) for undo in store.pending_undos()]
    assert order == [
        ("old", "stop"),
        ("old", "standby"),
        ("old", "maintenance"),
        ("new", "maintenance"),
    ]


def test_pending_undos_survive_close_and_reopen(path: Path) -> None:
    """An undo registered and never completed is still pending after the store is reopened."""
    with Store.open(path) as store:
        add_run(store, "r1", 0, outcome=None)
        undo_id = store.register_undo("r1", "ctl-0", "standby", {"argv": ["pcs"]}, at(1))
    with Store.open(path) as store:
        assert [undo.undo_id for undo in store.pending_undos()] == [undo_id]


def test_pending_undos_survive_a_process_killed_right_after_registering(path: Path) -> None:
    """A process that registers an undo then dies without closing leaves it pending on disk."""
    script = textwrap.dedent(
        f"""
        import os, sys
        from datetime import datetime, timezone
        from pathlib import Path
        from barctl.outcome import Trigger
        from barctl.history.store import Store
        store = Store.open(Path({str(path)!r}))
        now = datetime(2026, 11, 25, tzinfo=timezone.utc)
        store.start_run("r1", "controlplane", Trigger.SCHEDULED, now, os.getpid())
        store.register_undo("r1", "ctl-0", "standby", {{"argv": ["pcs", "unstandby"]}}, now)
        sys.stdout.flush()
        os._exit(9)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPOSITORY, capture_output=True, text=True, check=False
    )
    assert result.returncode == 9, result.stderr
    with Store.open(path) as store:
        (undo,) = store.pending_undos()
        assert (undo.run_id, undo.step, list(undo.payload["argv"])) == (
            "r1",
            "standby",
            ["pcs", "unstandby"],
        )
        assert store.mark_interrupted_runs(at(1)) == ["r1"]
        assert len(store.pending_undos()) == 1


# ---- missed slots -------------------------------------------------------------------------------


def test_misses_count_distinct_slots_per_plan(store: Store) -> None:
    """A missed slot counts once per plan even when recorded again after a restart."""
    assert store.misses_total("controlplane") == 0
    store.record_miss("controlplane", at(0), now=at(300))
    store.record_miss("controlplane", at(0), now=at(400))
    store.record_miss("controlplane", at(60 * 24 * 7), now=at(60 * 24 * 7 + 5))
    store.record_miss("undercloud", at(0), now=at(300))
    assert store.misses_total("controlplane") == 2
    assert store.misses_total("undercloud") == 1


# ---- concurrency --------------------------------------------------------------------------------


def test_two_connections_writing_concurrently_lose_nothing(path: Path) -> None:
    """Two threads, each with its own Store on the same file, interleave writes without loss."""
    with Store.open(path):
        pass
    errors: list[BaseException] = []

    def write(plan: str) -> None:
        try:
            with Store.open(path) as store:
                for number in range(100):
                    run_id = f"{plan}-{number}"
                    store.start_run(run_id, plan, Trigger.MANUAL, at(number), pid=1)
                    store.register_undo(run_id, "n", "s", {"number": number}, at(number))
                    store.finish_run(run_id, RunOutcome.SUCCESS, at(number + 1), summary="")
        except BaseException as error:  # handed to the main thread
            errors.append(error)

    threads = [threading.Thread(target=write, args=(plan,)) for plan in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Store.open(path) as store:
        assert store.runs_total("a")[RunOutcome.SUCCESS] == 100
        assert store.runs_total("b")[RunOutcome.SUCCESS] == 100
        assert len(store.pending_undos()) == 200


def test_a_writer_waits_for_another_process_holding_the_write_lock(path: Path) -> None:
    """While another connection holds the write lock, a write waits (busy timeout) then succeeds."""
    with Store.open(path) as store:
        blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.5, lambda: blocker.execute("COMMIT"))
        release.start()
        store.start_run("r1", "undercloud", Trigger.MANUAL, START, pid=1)
        release.join()
        blocker.close()
        assert [run.run_id for run in store.history()] == ["r1"]


def test_a_writer_gives_up_after_its_busy_timeout(path: Path) -> None:
    """With the write lock held longer than the busy timeout, the write fails and stores nothing."""
    with Store.open(path, busy_timeout_seconds=0.2) as store:
        blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            store.start_run("r1", "undercloud", Trigger.MANUAL, START, pid=1)
        blocker.execute("ROLLBACK")
        blocker.close()
        assert store.history() == []
        store.start_run("r1", "undercloud", Trigger.MANUAL, START, pid=1)
        assert [run.run_id for run in store.history()] == ["r1"]


# ---- redaction at the store boundary -------------------------------------------------------------

MYSQL_PASSWORD = "Galera-Root-7f3b9c"
SFTP_PASSWORD = 'sftp-Secret-"42\\'


@pytest.fixture
def registered() -> Iterator[None]:
    """The MySQL and SFTP passwords registered as secrets for this test only."""
    redaction.SECRETS.clear()
    redaction.register_secret(MYSQL_PASSWORD)
    redaction.register_secret(SFTP_PASSWORD)
    yield
    redaction.SECRETS.clear()


def database_bytes(path: Path) -> bytes:
    """Every byte barctl left on disk for the database: the file and its WAL and index."""
    siblings = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return b"".join(sibling.read_bytes() for sibling in siblings if sibling.exists())


def test_no_registered_secret_reaches_any_column_or_byte_of_the_database(
    path: Path, registered: None
) -> None:
    """Summary, node reason, step command/stderr and undo payload are stored redacted."""
    message = f"mysql said: access denied (password {MYSQL_PASSWORD}); lftp: {SFTP_PASSWORD}"
    with Store.open(path) as store:
        store.start_run("r1", "controlplane", Trigger.MANUAL, at(0), pid=os.getpid())
        store.record_node("r1", "ctl-0", NodeOutcome.FAILED, [], message, now=at(1))
        step_id = store.start_step("r1", "ctl-0", "galera_status", message, at(1))
        store.finish_step(step_id, StepOutcome.FAILED, at(2), exit_code=1, stderr=message)
        store.register_undo("r1", "ctl-0", "pcs_cluster_start", {"argv": [message]}, at(2))
        store.finish_run("r1", RunOutcome.FAILED, at(3), message)
        detail = store.run_detail("r1")
    assert detail is not None
    assert detail.run.summary == "mysql said: access denied (password ***); lftp: ***"
    assert detail.nodes[0].reason == detail.run.summary
    assert (detail.steps[0].command, detail.steps[0].stderr_tail) == (
        message.replace(MYSQL_PASSWORD, "***").replace(SFTP_PASSWORD, "***"),
    ) * 2
    assert detail.undos[0].payload["argv"] == [detail.run.summary]
    on_disk = database_bytes(path)
    for secret in (MYSQL_PASSWORD, SFTP_PASSWORD, json.dumps(SFTP_PASSWORD)[1:-1]):
        assert secret.encode() not in on_disk
