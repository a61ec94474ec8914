"""History summaries and retention (issue 12 item 3): bounded scrapes, kept counters, pruning."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from barctl.config.policy import load_policy
from barctl.config.site import Site
from barctl.errors import InputError
from barctl.history.records import Artifact, PlanTotals
from barctl.history.store import Store, history_path
from barctl.history.store_schema import MIGRATIONS, SUMMARY_TABLES
from barctl.observe.metrics import read_plan_history
from barctl.outcome import NodeOutcome, RunOutcome, StepOutcome, Trigger
from barctl.reasons import Reason
from barctl.service.history_retention import cutoff, prune_history

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
NODES = ("ctl-0", "ctl-1", "ctl-2")
REPOSITORY = Path(__file__).resolve().parents[2]


def day(number: float) -> datetime:
    return START + timedelta(days=number)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(history_path(tmp_path)) as opened:
        yield opened


def nightly(store: Store, number: int, outcome: RunOutcome, plan: str = "controlplane") -> str:
    """One run on day `number` lasting 600 + number seconds, its nodes, a step each."""
    run_id = f"run-{number:05d}"
    store.start_run(run_id, plan, Trigger.SCHEDULED, day(number), pid=os.getpid())
    ended = day(number) + timedelta(seconds=600 + number)
    for node in NODES:
        step = store.start_step(run_id, node, "rear", "rear mkbackup", day(number))
        store.finish_step(step, StepOutcome.SUCCESS, ended, exit_code=0, stderr="")
        if outcome is RunOutcome.REFUSED:
            store.record_node(
                run_id, node, NodeOutcome.REFUSED, [], "connect timeout", now=ended,
                reason_class=Reason.CONNECT_TIMEOUT,
            )  # fmt: skip
        elif outcome is RunOutcome.SUCCESS:
            artifact = Artifact(f"/backups/{node}/{run_id}/backup.tar.gz", 1000 + number)
            store.record_node(run_id, node, NodeOutcome.PENDING, [], "", now=ended)
            store.record_node(run_id, node, NodeOutcome.SUCCESS, [artifact], "", now=ended)
        else:
            store.record_node(run_id, node, NodeOutcome.FAILED, [], "rear failed", now=ended)
    store.finish_run(run_id, outcome, ended, summary=outcome.value)
    return run_id


def seeded(store: Store, runs: int) -> None:
    """`runs` nightly runs, every 7th refused, a miss every 10th day."""
    # Test data only: one fsync per write would make 2000 runs take a minute.
    store._connection.execute("PRAGMA synchronous = OFF")
    for number in range(runs):
        nightly(store, number, RunOutcome.REFUSED if number % 7 == 3 else RunOutcome.SUCCESS)
        if number % 10 == 0:
            store.record_miss("controlplane", day(number) - timedelta(hours=1), day(number))


def counted(store: Store) -> dict[str, int]:
    """Each summarized table's real row count."""
    connection = store._connection
    return {
        table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in SUMMARY_TABLES
    }


def instructions(store: Store, plan: str) -> int:
    """SQLite virtual-machine instructions one metrics read of `plan` executes."""
    executed = [0]

    def tick() -> int:
        executed[0] += 1
        return 0

    store._connection.set_progress_handler(tick, 1)
    try:
        read_plan_history(store, plan, NODES)
    finally:
        store._connection.set_progress_handler(None, 1)
    return executed[0]


def test_a_scrape_does_the_same_database_work_at_20_and_at_2000_runs(tmp_path: Path) -> None:
    """The metrics read of a plan executes as many SQLite instructions with 2000 runs as with
    20 (it used to scan every run and node row on every scrape)."""
    with Store.open(tmp_path / "small.db") as small, Store.open(tmp_path / "large.db") as large:
        seeded(small, 20)
        seeded(large, 2000)
        work = instructions(small, "controlplane"), instructions(large, "controlplane")
    assert work[1] <= work[0] * 1.1, work


def test_summaries_give_what_the_rows_give(store: Store) -> None:
    """Counts, durations, refusals, misses and the first run, as kept at write time."""
    seeded(store, 30)
    totals = store.plan_totals("controlplane")
    refused = [number for number in range(30) if number % 7 == 3]
    succeeded = [number for number in range(30) if number % 7 != 3]
    assert totals.first_started_at == day(0)
    assert totals.missed_slots == 3
    assert dict(totals.runs) == {RunOutcome.SUCCESS: 26, RunOutcome.REFUSED: 4}
    assert totals.duration_seconds[RunOutcome.SUCCESS] == sum(600 + n for n in succeeded)
    assert totals.duration_buckets[RunOutcome.SUCCESS][60.0] == 0
    assert totals.duration_buckets[RunOutcome.SUCCESS][900.0] == 26
    assert dict(totals.refusals) == {(node, Reason.CONNECT_TIMEOUT): len(refused) for node in NODES}
    assert store.plan_totals("undercloud") == PlanTotals()


def test_table_rows_follow_every_insert_upsert_and_delete(store: Store) -> None:
    """table_rows equals count(*) per table after inserts, re-recorded nodes and a prune."""
    seeded(store, 40)
    assert store.table_rows() == counted(store)
    assert store.table_rows()["nodes"] == 40 * len(NODES)
    store.prune_history(day(20))
    assert store.table_rows() == counted(store)
    assert store.table_rows()["runs"] < 40


def test_a_node_row_changed_from_refused_moves_its_refusal_count(store: Store) -> None:
    """A refused node row re-recorded with another class, then as failed, is counted as the
    rows say (as the old per-scrape GROUP BY did)."""
    store.start_run("r", "controlplane", Trigger.MANUAL, day(0), pid=os.getpid())
    denied = Reason.AUTHENTICATION_FAILED
    store.record_node("r", "ctl-0", NodeOutcome.REFUSED, [], "x", now=day(0), reason_class=denied)
    store.record_node(
        "r", "ctl-0", NodeOutcome.REFUSED, [], "x", now=day(0), reason_class=Reason.UNHEALTHY
    )
    assert dict(store.plan_totals("controlplane").refusals) == {("ctl-0", Reason.UNHEALTHY): 1}
    store.record_node("r", "ctl-0", NodeOutcome.FAILED, [], "x", now=day(0))
    assert dict(store.plan_totals("controlplane").refusals) == {}


def test_pruning_keeps_counters_and_the_runs_still_needed(store: Store) -> None:
    """prune_history deletes old ended runs with their rows; counters, running runs, runs with
    a pending undo and each plan's latest run and latest success stay."""
    seeded(store, 30)
    store.start_run("old-running", "controlplane", Trigger.SCHEDULED, day(1), pid=os.getpid())
    nightly(store, 2000, RunOutcome.FAILED, plan="undercloud")
    store.register_undo("run-00002", "ctl-0", "unpause", {"argv": ["x"]}, day(2))
    nightly(store, 31, RunOutcome.FAILED)
    before = store.plan_totals("controlplane")
    removed = store.prune_history(day(25))
    assert store.plan_totals("controlplane") == before
    kept = {run.run_id for run in store.history("controlplane", limit=100)}
    assert kept == {"old-running", "run-00002", *(f"run-{n:05d}" for n in (25, 26, 27, 28, 29, 31))}
    assert {run.run_id for run in store.history("undercloud")} == {"run-02000"}
    # Days 0-24 but 2; the misses of days 0, 10 and 20.
    assert removed == {"steps": 72, "undos": 0, "nodes": 72, "runs": 24, "misses": 3}
    assert store.misses_total("controlplane") == 3
    assert store.table_rows() == counted(store)


def test_the_latest_success_is_kept_however_old(store: Store) -> None:
    """A plan whose runs all failed since its last success keeps that success's rows."""
    nightly(store, 0, RunOutcome.SUCCESS)
    for number in range(1, 10):
        nightly(store, number, RunOutcome.FAILED)
    store.prune_history(day(100))
    assert [run.run_id for run in store.history("controlplane")] == ["run-00009", "run-00000"]
    latest = store.node_latest("controlplane", "ctl-0", NodeOutcome.SUCCESS)
    assert latest is not None and latest.size_bytes == 1000


def test_opening_a_version_2_history_fills_the_summaries_from_its_rows(tmp_path: Path) -> None:
    """A history written before the summaries gets totals equal to what its rows say."""
    path = tmp_path / "history.db"
    connection = sqlite3.connect(path)
    for statement in (*MIGRATIONS[0], *MIGRATIONS[1]):
        connection.execute(statement)
    connection.execute("PRAGMA user_version = 2")
    runs = [("a", 0, 100, "success"), ("b", 1000, 5000, "success"), ("c", 9000, 9001, "failed")]
    for run_id, started, ended, outcome in runs:
        connection.execute(
            "INSERT INTO runs (id, plan, trigger, started_at, ended_at, outcome, pid)"
            " VALUES (?, 'p', 'manual', ?, ?, ?, 1)",
            (run_id, started, ended, outcome),
        )
    connection.execute(
        "INSERT INTO runs (id, plan, trigger, started_at, pid) VALUES ('d', 'p', 'manual', 9500, 1)"
    )
    connection.execute(
        "INSERT INTO nodes VALUES ('c', 'ctl-0', 'refused', '[]', 0, 'x', 9001, 'unhealthy')"
    )
    connection.execute("INSERT INTO misses VALUES ('p', 50, 60)")
    connection.execute("INSERT INTO misses VALUES ('q', 50, 60)")
    connection.commit()
    connection.close()
    with Store.open(path) as store:
        totals = store.plan_totals("p")
        assert totals.first_started_at == datetime.fromtimestamp(0, tz=timezone.utc)
        assert totals.missed_slots == 1
        assert dict(totals.runs) == {RunOutcome.SUCCESS: 2, RunOutcome.FAILED: 1}
        assert totals.duration_seconds[RunOutcome.SUCCESS] == 4100
        assert totals.duration_buckets[RunOutcome.SUCCESS][300.0] == 1
        assert totals.duration_buckets[RunOutcome.SUCCESS][7200.0] == 2
        assert dict(totals.refusals) == {("ctl-0", Reason.UNHEALTHY): 1}
        assert store.plan_totals("q") == PlanTotals(missed_slots=1)
        assert store.table_rows() == {
            "runs": 4, "nodes": 1, "steps": 0, "undos": 0, "misses": 2
        }  # fmt: skip


def test_keep_days_defaults_to_400_and_is_bounded(tmp_path: Path) -> None:
    """history.keep_days: 400 by default, 0 allowed (keep all), negative or > 36500 refused."""
    minimal_path = REPOSITORY / "tests" / "data" / "policy" / "minimal.yaml"
    minimal = minimal_path.read_text()
    assert load_policy(minimal_path).history.keep_days == 400
    for allowed in (0, 36500):
        path = tmp_path / f"ok-{allowed}.yaml"
        path.write_text(minimal + f"history:\n  keep_days: {allowed}\n")
        assert load_policy(path).history.keep_days == allowed
    for refused in (-1, 36501):
        path = tmp_path / f"bad-{refused}.yaml"
        path.write_text(minimal + f"history:\n  keep_days: {refused}\n")
        with pytest.raises(InputError) as caught:
            load_policy(path)
        assert "history.keep_days" in str(caught.value.problems[0])


def test_the_daemon_prune_uses_keep_days_and_0_keeps_everything(tmp_path: Path) -> None:
    """prune_history(site, keep_days, now) deletes runs older than keep_days; 0 deletes none."""
    site = Site(
        state_directory=tmp_path,
        runtime_directory=tmp_path / "run",
        private_key=tmp_path / "key",
        known_hosts=tmp_path / "known_hosts",
        accept_new_hosts_file=None,
        systemd_credentials=False,
        log_format="console",
        environ={},
    )
    assert prune_history(site, 30, day(100)) == {}  # no database yet: none is created
    assert not site.history_path.exists()
    with Store.open(site.history_path) as store:
        seeded(store, 20)
    assert cutoff(0, day(100)) is None
    assert prune_history(site, 0, day(100)) == {}
    removed = prune_history(site, 10, day(25))
    assert removed["runs"] == 15  # days 0-14 ended before day 15; the latest (19) stays
