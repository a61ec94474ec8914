"""barctl.observe.metrics: the exposition read from a real history DB at scrape time (no mocks)."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from barctl.errors import InputError
from barctl.history.store import Store, history_path
from barctl.observe.metrics import (
    DURATION_BUCKETS,
    REASON_LABELS,
    is_unreachable,
    reason_label,
    render,
    start_metrics_server,
)
from barctl.outcome import NodeOutcome, RunOutcome
from barctl.reasons import Reason
from tests.metrics.helpers import (
    CONTROLLERS,
    NOW,
    add_run,
    at,
    make_source,
    names,
    open_store,
    parse,
    value,
    write_world,
)

OK = NodeOutcome.SUCCESS
PREVIOUS_SIZE = "barctl_node_previous_backup_size_bytes"
NODES = (*CONTROLLERS, "backup-0")


def scrape(tmp_path: Path, **source: object) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    policy, inventory = write_world(tmp_path)
    return parse(render(make_source(policy, inventory, **source)))  # type: ignore[arg-type]


def test_without_a_history_db_every_plan_and_node_is_exported_as_zero(tmp_path: Path) -> None:
    """No history DB yet: each plan, node and reason series exists with 0; no DB is created."""
    samples = scrape(tmp_path)
    assert not history_path(tmp_path / "state").exists()
    for plan in ("undercloud", "controlplane"):
        assert value(samples, "barctl_plan_last_success_timestamp_seconds", plan=plan) == 0
        assert value(samples, "barctl_plan_last_run_timestamp_seconds", plan=plan) == 0
        assert value(samples, "barctl_plan_missed_runs_total", plan=plan) == 0
        assert value(samples, "barctl_plan_running", plan=plan) == 0
        assert value(samples, "barctl_plan_run_started_timestamp_seconds", plan=plan) == 0
        for outcome in RunOutcome:
            assert value(samples, "barctl_plan_last_outcome", plan=plan, outcome=outcome) == 0
            assert value(samples, "barctl_plan_runs_total", plan=plan, outcome=outcome) == 0
        assert value(samples, "barctl_plan_run_duration_seconds_count", plan=plan) == 0
    for node in CONTROLLERS:
        labels = {"plan": "controlplane", "node": node}
        assert value(samples, "barctl_node_last_success_timestamp_seconds", **labels) == 0
        for artifact in ("iso", "archive"):
            assert value(samples, "barctl_node_backup_size_bytes", **labels, artifact=artifact) == 0
        assert value(samples, "barctl_node_degraded", **labels) == 0
    for node in NODES:
        assert value(samples, "barctl_node_reachable", plan="controlplane", node=node) == 1
        for reason in REASON_LABELS:
            labels = {"plan": "controlplane", "node": node, "reason": reason}
            assert value(samples, "barctl_precheck_failures_total", **labels) == 0
    assert value(samples, "barctl_node_reachable", plan="undercloud", node="undercloud") == 1
    assert value(samples, "barctl_history_read_success") == 1
    assert value(samples, "barctl_policy_reload_success") == 1
    assert value(samples, "barctl_build_info", version="0.1.0") == 1


def test_an_existing_db_without_runs_of_a_plan_gives_zeros(tmp_path: Path) -> None:
    """A plan with no run in an existing DB is exported with zeros, next to one that has runs."""
    policy, inventory = write_world(tmp_path)
    with open_store(policy) as store:
        add_run(store, "r1", -60, RunOutcome.SUCCESS, plan="undercloud")
    samples = parse(render(make_source(policy, inventory)))
    assert value(samples, "barctl_plan_last_success_timestamp_seconds", plan="undercloud") > 0
    assert value(samples, "barctl_plan_last_success_timestamp_seconds", plan="controlplane") == 0
    labels = {"plan": "controlplane", "node": "ctl-1"}
    assert value(samples, "barctl_node_last_success_timestamp_seconds", **labels) == 0


def test_timestamps_of_last_run_last_success_and_nodes(tmp_path: Path) -> None:
    """last_success is the end of the latest success, last_run the start of the latest run;
    node series carry the node's latest success and its size."""
    policy, inventory = write_world(tmp_path)
    with open_store(policy) as store:
        add_run(
            store, "r1", -300, RunOutcome.SUCCESS, nodes={n: (OK, 4096, "") for n in CONTROLLERS}
        )
        add_run(store, "r2", -100, RunOutcome.FAILED, nodes={"ctl-0": (OK, 8192, "")})
    samples = parse(render(make_source(policy, inventory)))
    plan = {"plan": "controlplane"}
    assert (
        value(samples, "barctl_plan_last_success_timestamp_seconds", **plan) == at(-290).timestamp()
    )
    assert value(samples, "barctl_plan_last_run_timestamp_seconds", **plan) == at(-100).timestamp()
    node = {"plan": "controlplane", "node": "ctl-0"}
    assert (
        value(samples, "barctl_node_last_success_timestamp_seconds", **node) == at(-90).timestamp()
    )
    assert value(samples, "barctl_node_backup_size_bytes", **node, artifact="archive") == 8192
    other = {"plan": "controlplane", "node": "ctl-2"}
    assert (
        value(samples, "barctl_node_last_success_timestamp_seconds", **other)
        == at(-290).timestamp()
    )
    assert value(samples, "barctl_node_backup_size_bytes", **other, artifact="archive") == 4096


def test_last_outcome_is_one_hot_on_the_latest_ended_run(tmp_path: Path) -> None:
    """last_outcome is 1 for the latest ended run's outcome and 0 for the four others; a run
    still going does not change it."""
    policy, inventory = write_world(tmp_path)
    with open_store(policy) as store:
        add_run(store, "r1", -300, RunOutcome.SUCCESS)
        add_run(store, "r2", -200, RunOutcome.FAILED)
        add_run(store, "r3", -10, None)
    samples = parse(render(make_source(policy, inventory)))
    got = {
        o.value: value(samples, "barctl_plan_last_outcome", plan="controlplane", outcome=o)
        for o in RunOutcome
    }
    assert got == {"success": 0, "failed": 1, "refused": 0, "interrupted": 0, "degraded": 0}


def test_runs_total_counts_each_outcome(tmp_path: Path) -> None:
    """runs_total counts ended runs per outcome and plan, every outcome present; misses count."""
    policy, inventory = write_world(tmp_path)
    outcomes = (
        [RunOutcome.SUCCESS] * 3 + [RunOutcome.FAILED, RunOutcome.REFUSED] + [RunOutcome.DEGRADED]
    )
    with open_store(policy) as store:
        for index, outcome in enumerate(outcomes):
            add_run(store, f"r{index}", -1000 + 20 * index, outcome)
        add_run(store, "running", -5, None)
        add_run(store, "uc", -50, RunOutcome.INTERRUPTED, plan="undercloud")
        store.record_miss("controlplane", at(-2000), at(-1900))
        store.record_miss("controlplane", at(-3000), at(-1900))
    samples = parse(render(make_source(policy, inventory)))
    got = {
        o.value: value(samples, "barctl_plan_runs_total", plan="controlplane", outcome=o)
        for o in RunOutcome
    }
    assert got == {"success": 3, "failed": 1, "refused": 1, "interrupted": 0, "degraded": 1}
    assert value(samples, "barctl_plan_runs_total", plan="undercloud", outcome="interrupted") == 1
    assert value(samples, "barctl_plan_missed_runs_total", plan="controlplane") == 2
    assert value(samples, "barctl_plan_missed_runs_total", plan="undercloud") == 0


def test_degraded_node_is_set_then_cleared_by_a_later_success(tmp_path: Path) -> None:
    """node_degraded is 1 after a degraded node row and back to 0 after a later success there."""
    policy, inventory = write_world(tmp_path)
    degraded = {"ctl-1": (NodeOutcome.DEGRADED, 0, "undo failed: pcs cluster start")}
    with open_store(policy) as store:
        add_run(store, "r1", -300, RunOutcome.DEGRADED, nodes=degraded)
    samples = parse(render(make_source(policy, inventory)))
    assert value(samples, "barctl_node_degraded", plan="controlplane", node="ctl-1") == 1
    assert value(samples, "barctl_node_degraded", plan="controlplane", node="ctl-0") == 0
    with open_store(policy) as store:
        add_run(store, "r2", -100, RunOutcome.SUCCESS, nodes={n: (OK, 10, "") for n in CONTROLLERS})
    samples = parse(render(make_source(policy, inventory)))
    assert value(samples, "barctl_node_degraded", plan="controlplane", node="ctl-1") == 0


@pytest.mark.parametrize(
    ("reason", "label", "unreachable"),
    [
        (Reason.CONNECT_TIMEOUT, "timeout", True),
        (Reason.CONNECTION_REFUSED, "refused", True),
        (Reason.AUTHENTICATION_FAILED, "auth", True),
        (Reason.HOST_KEY_CHANGED, "host_key", True),
        (Reason.UNKNOWN_HOST_KEY, "host_key", True),
        (Reason.BANNER_TIMEOUT, "banner", True),
        (Reason.UNREACHABLE, "other", True),
        (Reason.SSH_ERROR, "other", True),
        (Reason.CONNECTION_LOST, "other", True),
        (Reason.UNHEALTHY, "unhealthy", False),
        (Reason.COMMAND_FAILED, "other", False),
        (Reason.TIMED_OUT, "other", False),
        (None, "other", False),
    ],
)
def test_reason_label_table(reason: Reason | None, label: str, unreachable: bool) -> None:
    """Stored reason classes map to one of seven labels; SSH failures count as unreachable."""
    assert reason_label(reason) == label
    assert label in REASON_LABELS
    assert is_unreachable(reason) is unreachable


def test_every_reason_has_an_exported_label() -> None:
    """No reason class can produce a label the alerts and docs/monitoring.md do not know."""
    assert {reason.label for reason in Reason} <= set(REASON_LABELS)


def refuse(
    store: Store, run_id: str, start: float, refusals: dict[str, tuple[str, Reason]], **run: str
) -> None:
    """A refused run whose node rows carry the reason text and its class, as the gate records."""
    nodes = {node: (NodeOutcome.REFUSED, 0, text) for node, (text, _) in refusals.items()}
    add_run(store, run_id, start, RunOutcome.REFUSED, nodes=nodes, **run)  # type: ignore[arg-type]
    for node, (text, found) in refusals.items():
        store.record_node(
            run_id, node, NodeOutcome.REFUSED, [], text, now=at(start + 10), reason_class=found
        )


def test_a_refused_run_marks_only_ssh_failures_unreachable_and_counts_reasons(
    tmp_path: Path,
) -> None:
    """A refusal for connect timeout makes that node unreachable and counts precheck failures
    by reason; an unhealthy node stays reachable; a later ended run clears reachability."""
    policy, inventory = write_world(tmp_path)
    refused = {
        "ctl-1": ("connect timeout", Reason.CONNECT_TIMEOUT),
        "ctl-2": ("ctl-2: galera is Joining, not Synced", Reason.UNHEALTHY),
    }
    with open_store(policy) as store:
        refuse(store, "r1", -300, {"ctl-1": refused["ctl-1"]})
        refuse(store, "r2", -200, refused)
    samples = parse(render(make_source(policy, inventory)))
    reachable = {
        n: value(samples, "barctl_node_reachable", plan="controlplane", node=n) for n in NODES
    }
    assert reachable == {"ctl-0": 1, "ctl-1": 0, "ctl-2": 1, "backup-0": 1}

    def failures(node: str, reason: str) -> float:
        return value(
            samples, "barctl_precheck_failures_total", plan="controlplane", node=node, reason=reason
        )

    assert failures("ctl-1", "timeout") == 2
    assert failures("ctl-2", "unhealthy") == 1
    assert failures("ctl-0", "timeout") == 0
    with open_store(policy) as store:
        refuse(store, "r3", -100, {"backup-0": ("connection refused", Reason.CONNECTION_REFUSED)})
    samples = parse(render(make_source(policy, inventory)))
    reachable = {
        n: value(samples, "barctl_node_reachable", plan="controlplane", node=n) for n in NODES
    }
    assert reachable == {"ctl-0": 1, "ctl-1": 1, "ctl-2": 1, "backup-0": 0}
    with open_store(policy) as store:
        add_run(store, "r4", -50, RunOutcome.SUCCESS)
    samples = parse(render(make_source(policy, inventory)))
    assert value(samples, "barctl_node_reachable", plan="controlplane", node="backup-0") == 1
    assert failures("ctl-1", "timeout") == 2


def test_duration_histogram_buckets(tmp_path: Path) -> None:
    """Durations of ended success/failed/degraded runs fill cumulative buckets 60 s … 8 h;
    refused, interrupted and running runs are left out."""
    policy, inventory = write_world(tmp_path)
    with open_store(policy) as store:
        add_run(store, "a", -2000, RunOutcome.SUCCESS, minutes=0.5)
        add_run(store, "b", -1900, RunOutcome.SUCCESS, minutes=20)
        add_run(store, "c", -1800, RunOutcome.FAILED, minutes=100)
        add_run(store, "d", -1000, RunOutcome.DEGRADED, minutes=600)
        add_run(store, "e", -300, RunOutcome.REFUSED, minutes=0.1)
        add_run(store, "f", -200, RunOutcome.INTERRUPTED, minutes=60)
        add_run(store, "g", -10, None)
    samples = parse(render(make_source(policy, inventory)))
    buckets = {
        le: value(samples, "barctl_plan_run_duration_seconds_bucket", plan="controlplane", le=le)
        for le in [str(float(bound)) for bound in DURATION_BUCKETS] + ["+Inf"]
    }
    assert buckets == {
        "60.0": 1, "300.0": 1, "900.0": 1, "1800.0": 2, "3600.0": 2,
        "7200.0": 3, "14400.0": 3, "28800.0": 3, "+Inf": 4,
    }  # fmt: skip
    assert value(samples, "barctl_plan_run_duration_seconds_count", plan="controlplane") == 4
    total = (0.5 + 20 + 100 + 600) * 60
    assert value(
        samples, "barctl_plan_run_duration_seconds_sum", plan="controlplane"
    ) == pytest.approx(total)


def test_running_run_exports_running_and_its_start(tmp_path: Path) -> None:
    """A run not ended sets running=1 and run_started to its start; 0 again once it ended."""
    policy, inventory = write_world(tmp_path)
    with open_store(policy) as store:
        add_run(store, "r1", -30, None)
    samples = parse(render(make_source(policy, inventory)))
    assert value(samples, "barctl_plan_running", plan="controlplane") == 1
    assert (
        value(samples, "barctl_plan_run_started_timestamp_seconds", plan="controlplane")
        == at(-30).timestamp()
    )
    assert value(samples, "barctl_plan_running", plan="undercloud") == 0
    with open_store(policy) as store:
        store.finish_run("r1", RunOutcome.SUCCESS, at(-1), "done")
    samples = parse(render(make_source(policy, inventory)))
    assert value(samples, "barctl_plan_running", plan="controlplane") == 0
    assert value(samples, "barctl_plan_run_started_timestamp_seconds", plan="controlplane") == 0


def test_schedule_series_come_from_the_plan_or_the_scheduler(tmp_path: Path) -> None:
    """next_run/expected_interval follow the schedule (or the scheduler's next_runs), run
    timeout and enabled follow the policy; a disabled plan has next_run 0."""
    policy, inventory = write_world(
        tmp_path,
        undercloud={"schedule": "30 1 * * *", "timeouts": {"run_seconds": 7200}},
        controlplane={"schedule": "30 2 * * sun", "enabled": False},
    )
    samples = parse(render(make_source(policy, inventory)))
    # NOW is Wednesday 2026-11-25 12:00 UTC.
    assert (
        value(samples, "barctl_plan_next_run_timestamp_seconds", plan="undercloud")
        == at(13 * 60 + 30).timestamp()
    )
    assert value(samples, "barctl_plan_expected_interval_seconds", plan="undercloud") == 86400
    assert value(samples, "barctl_plan_expected_interval_seconds", plan="controlplane") == 7 * 86400
    assert value(samples, "barctl_plan_run_timeout_seconds", plan="undercloud") == 7200
    assert value(samples, "barctl_plan_run_timeout_seconds", plan="controlplane") == 43200
    assert value(samples, "barctl_plan_enabled", plan="controlplane") == 0
    assert value(samples, "barctl_plan_next_run_timestamp_seconds", plan="controlplane") == 0
    jittered = {"undercloud": at(13 * 60 + 37), "controlplane": None}
    samples = parse(render(make_source(policy, inventory, next_runs=lambda: jittered)))
    assert (
        value(samples, "barctl_plan_next_run_timestamp_seconds", plan="undercloud")
        == at(13 * 60 + 37).timestamp()
    )


def test_configured_timestamp_is_the_earliest_run_or_first_export(tmp_path: Path) -> None:
    """plan_configured is the earliest recorded run, else when the collector first saw the plan."""
    policy, inventory = write_world(tmp_path)
    with open_store(policy) as store:
        add_run(store, "old", -5000, RunOutcome.FAILED)
        add_run(store, "new", -100, RunOutcome.FAILED)
    samples = parse(render(make_source(policy, inventory)))
    assert (
        value(samples, "barctl_plan_configured_timestamp_seconds", plan="controlplane")
        == at(-5000).timestamp()
    )
    assert (
        value(samples, "barctl_plan_configured_timestamp_seconds", plan="undercloud")
        == NOW.timestamp()
    )


def test_reload_failure_and_unreadable_history_are_exported_not_raised(tmp_path: Path) -> None:
    """A failed reload gives policy_reload_success 0; a corrupt DB gives history_read_success 0
    and the scrape still succeeds with the schedule series."""
    policy, inventory = write_world(tmp_path)
    policy.state_directory.mkdir(parents=True)
    history_path(policy.state_directory).write_bytes(b"this is not an SQLite database" * 100)
    samples = parse(render(make_source(policy, inventory, reload_success=lambda: False)))
    assert value(samples, "barctl_policy_reload_success") == 0
    assert value(samples, "barctl_history_read_success") == 0
    assert value(samples, "barctl_plan_expected_interval_seconds", plan="undercloud") == 86400
    assert "barctl_plan_last_success_timestamp_seconds" not in names(samples)


def test_no_created_series_and_counters_end_in_total(tmp_path: Path) -> None:
    """No `_created` series are exported; counters are exposed with `_total`."""
    policy, inventory = write_world(tmp_path)
    with open_store(policy) as store:
        add_run(store, "r1", -60, RunOutcome.SUCCESS)
    text = render(make_source(policy, inventory)).decode()
    assert "_created" not in text
    assert (
        "# TYPE barctl_plan_runs_total counter" in text or "# TYPE barctl_plan_runs counter" in text
    )
    assert "barctl_plan_runs_total{" in text


def add_success_then_refusal(store: Store) -> None:
    """History: a controlplane success, then a run refused with ctl-1 timing out."""
    add_run(store, "r1", -300, RunOutcome.SUCCESS, nodes={n: (OK, 4096, "") for n in CONTROLLERS})
    refuse(store, "r2", -100, {"ctl-1": ("connect timeout", Reason.CONNECT_TIMEOUT)})


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (Debian prometheus)"
)
def test_promtool_check_metrics_is_clean(tmp_path: Path) -> None:
    """`promtool check metrics` finds nothing to lint in a scrape with history."""
    policy, inventory = write_world(tmp_path)
    with open_store(policy) as store:
        add_success_then_refusal(store)
    text = render(make_source(policy, inventory))
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == b""
    assert result.stderr == b""


def test_a_schedule_that_never_fires_never_reaches_the_exporter(tmp_path: Path) -> None:
    """A cron that never fires is refused at load, so no plan exports an infinite interval."""
    with pytest.raises(InputError, match="never fires"):
        write_world(tmp_path, undercloud={"schedule": "0 0 30 2 *"})


@pytest.mark.parametrize("listen", ["127.0.0.1:0", "[::1]:0"])
def test_server_serves_the_exposition_on_the_listen_address_and_closes(
    tmp_path: Path, listen: str
) -> None:
    """start_metrics_server binds host:port (port 0: any), serves /metrics, close() frees it."""
    policy, inventory = write_world(tmp_path)
    host = listen.rpartition(":")[0]
    try:
        server = start_metrics_server(listen, make_source(policy, inventory))
    except OSError as error:  # e.g. no IPv6 loopback on this machine
        pytest.skip(f"cannot bind {listen}: {error}")
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://{host}:{server.port}/metrics", timeout=10) as response:
            body = response.read()
        assert response.status == 200
        assert value(parse(body), "barctl_plan_running", plan="controlplane") == 0
    finally:
        server.close()
    server.close()


def test_store_queries_added_for_metrics(tmp_path: Path) -> None:
    """first_attempt_time, run_durations and node_refusals read what the runs recorded."""
    policy, _ = write_world(tmp_path)
    with open_store(policy) as store:
        assert store.first_attempt_time("controlplane") is None
        assert store.run_durations("controlplane") == []
        add_run(store, "r1", -300, RunOutcome.SUCCESS, minutes=30)
        add_run(
            store,
            "r2",
            -200,
            RunOutcome.REFUSED,
            minutes=1,
            nodes={"ctl-1": (NodeOutcome.REFUSED, 0, "connect timeout")},
        )
        store.record_node(
            "r2",
            "ctl-1",
            NodeOutcome.REFUSED,
            [],
            "connect timeout",
            now=at(-199),
            reason_class=Reason.CONNECT_TIMEOUT,
        )
        add_run(store, "r3", -100, None)
        add_run(
            store,
            "u",
            -50,
            RunOutcome.REFUSED,
            plan="undercloud",
            nodes={"undercloud": (NodeOutcome.REFUSED, 0, "x")},
        )
        assert store.first_attempt_time("controlplane") == at(-300)
        assert store.run_durations("controlplane") == [
            (RunOutcome.SUCCESS, 1800.0),
            (RunOutcome.REFUSED, 60.0),
        ]
        assert store.node_refusals("controlplane") == [
            ("ctl-1", "connect timeout", Reason.CONNECT_TIMEOUT)
        ]
        assert NOW.tzinfo is not None


def test_a_restarted_server_over_the_same_db_serves_the_same_past(tmp_path: Path) -> None:
    """Stopping the server and starting a new one (new source, same DB) changes no series but
    build_info/reload; a run recorded meanwhile by another process shows at the next scrape."""
    policy, inventory = write_world(tmp_path)
    with open_store(policy) as store:
        add_success_then_refusal(store)
        add_run(store, "u1", -50, RunOutcome.FAILED, plan="undercloud")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def scrape_once(later: float = 0) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        source = make_source(policy, inventory, now=at(later))
        with start_metrics_server("127.0.0.1:0", source) as server:
            url = f"http://127.0.0.1:{server.port}/metrics"
            with opener.open(url, timeout=10) as response:
                samples = parse(response.read())
        process = {"barctl_build_info", "barctl_policy_reload_success"}
        return {key: value for key, value in samples.items() if key[0] not in process}

    before = scrape_once()
    assert scrape_once(later=1) == before  # restarted a minute later: nothing changed
    with open_store(policy) as store:  # a one-shot `barctl run` outside the daemon
        add_run(store, "r3", 2, RunOutcome.SUCCESS)
    after = scrape_once(later=20)
    assert value(after, "barctl_plan_runs_total", plan="controlplane", outcome="success") == 2
    assert (
        value(after, "barctl_plan_last_success_timestamp_seconds", plan="controlplane")
        == at(12).timestamp()
    )


def test_pruning_old_history_changes_no_exported_value_but_the_row_counts(tmp_path: Path) -> None:
    """After prune_history removes old runs, every sample but barctl_history_rows is unchanged
    (counters live in summary tables kept at write time), and the row gauges went down."""
    policy, inventory = write_world(tmp_path)
    with open_store(policy) as store:
        add_run(store, "old-1", -9000, RunOutcome.FAILED, nodes={"ctl-0": (OK, 10, "")})
        add_run(store, "old-2", -8000, RunOutcome.SUCCESS, minutes=90)
        refuse(
            store,
            "old-3",
            -7000,
            {"ctl-2": ("authentication failed", Reason.AUTHENTICATION_FAILED)},
        )
        store.record_miss("controlplane", at(-7500), at(-7400))
        add_success_then_refusal(store)
    source = make_source(policy, inventory)
    before = parse(render(source))
    with open_store(policy) as store:
        removed = store.prune_history(at(-1000))
    after = parse(render(source))
    assert removed["runs"] == 3 and removed["misses"] == 1
    rows = {key for key in before if key[0] == "barctl_history_rows"}
    assert {dict(labels)["table"] for _, labels in rows} == {
        "runs", "nodes", "steps", "undos", "misses"
    }  # fmt: skip
    assert value(before, "barctl_history_rows", table="runs") == 5
    assert value(after, "barctl_history_rows", table="runs") == 2
    assert value(after, "barctl_history_rows", table="misses") == 0
    # The verified run before the latest is read from its node row, which history retention
    # deletes like any old row: only that comparison (BarctlBackupSizeDropped) goes with it.
    kept = {key for key in before if key not in rows and key[0] != PREVIOUS_SIZE}
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}
    failures = {"plan": "controlplane", "node": "ctl-2", "reason": "auth"}
    assert value(after, "barctl_precheck_failures_total", **failures) == 1
