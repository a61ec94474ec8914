"""Metrics of verified runs and restore drills, read from a real history DB (issue 11 item 9)."""

from __future__ import annotations

from pathlib import Path

from barctl.history.records import Artifact
from barctl.history.store import Store
from barctl.model import Node
from barctl.observe.metrics import render
from barctl.observe.metrics_runs import artifact_kind
from barctl.outcome import NodeOutcome, RunOutcome, Trigger
from barctl.run import gate_probe
from tests.fakes import FakeRunner, ok
from tests.metrics.helpers import at, make_source, open_store, parse, value, write_world

OK = NodeOutcome.SUCCESS
TARGET = Node("backup-0", "192.0.2.50", "heat-admin")


def record(
    store: Store,
    run_id: str,
    plan: str,
    start: float,
    nodes: dict[str, tuple[NodeOutcome, dict[str, int]]],
) -> None:
    """A run of `plan` at at(start) whose node rows list files by name with sizes."""
    store.start_run(run_id, plan, Trigger.SCHEDULED, at(start), pid=1)
    for node, (outcome, files) in nodes.items():
        directory = f"/ctl_plane_backups/{node}/{run_id}"
        artifacts = [Artifact(f"{directory}/{name}", size) for name, size in files.items()]
        store.record_node(run_id, node, outcome, artifacts, "", now=at(start + 5))
    ended = all(outcome is OK for outcome, _ in nodes.values())
    store.finish_run(run_id, RunOutcome.SUCCESS if ended else RunOutcome.FAILED, at(start + 6), "")


def files(iso: int, archive: int, dump: int = 0) -> dict[str, int]:
    """A run's files on the target: ISO, archive and (controllers) the restore dump."""
    found = {"ctl-0-R.iso": iso, "backup.tar.gz": archive}
    if dump:
        found["restore/openstack-backup-mysql.sql"] = dump
    return found


def test_sizes_per_artifact_for_the_latest_and_the_previous_verified_run(tmp_path: Path) -> None:
    """Each artifact of the latest verified run and of the one before is exported; a failed
    run in between counts for neither; last verified is the latest success row."""
    policy, inventory = write_world(tmp_path)
    with open_store(policy) as store:
        record(store, "r1", "controlplane", -300, {"ctl-0": (OK, files(100, 1000, 10))})
        record(store, "r2", "controlplane", -200, {"ctl-0": (NodeOutcome.FAILED, files(1, 1))})
        record(store, "r3", "controlplane", -100, {"ctl-0": (OK, files(110, 400, 12))})
    samples = parse(render(make_source(policy, inventory)))
    node = {"plan": "controlplane", "node": "ctl-0"}
    size = "barctl_node_backup_size_bytes"
    previous = "barctl_node_previous_backup_size_bytes"
    assert value(samples, size, **node, artifact="archive") == 400
    assert value(samples, previous, **node, artifact="archive") == 1000
    assert value(samples, size, **node, artifact="iso") == 110
    assert value(samples, previous, **node, artifact="database_dump") == 10
    verified = value(samples, "barctl_node_last_verified_timestamp_seconds", **node)
    assert verified == at(-95).timestamp()
    other = {"plan": "controlplane", "node": "ctl-1", "artifact": "archive"}
    assert value(samples, size, **other) == value(samples, previous, **other) == 0


def test_drill_success_time_and_failing_flag_per_node(tmp_path: Path) -> None:
    """A node's last drill success is kept after a later failed drill, which sets failing;
    a node never drilled is 0 and not failing; the drill's schedule is exported."""
    policy, inventory = write_world(tmp_path)
    with open_store(policy) as store:
        record(store, "d1", "drill", -300, {"ctl-0": (OK, {}), "ctl-1": (OK, {})})
        record(store, "d2", "drill", -100, {"ctl-0": (NodeOutcome.FAILED, {}), "ctl-1": (OK, {})})
    samples = parse(render(make_source(policy, inventory)))
    drilled = "barctl_node_last_drill_success_timestamp_seconds"
    ctl0 = {"plan": "controlplane", "node": "ctl-0"}
    ctl1 = {"plan": "controlplane", "node": "ctl-1"}
    assert value(samples, drilled, **ctl0) == at(-295).timestamp()
    assert value(samples, "barctl_node_drill_failing", **ctl0) == 1
    assert value(samples, drilled, **ctl1) == at(-95).timestamp()
    assert value(samples, "barctl_node_drill_failing", **ctl1) == 0
    undercloud = {"plan": "undercloud", "node": "undercloud"}
    assert value(samples, drilled, **undercloud) == 0
    assert value(samples, "barctl_node_drill_failing", **undercloud) == 0
    assert value(samples, "barctl_drill_enabled") == 0
    assert value(samples, "barctl_drill_expected_interval_seconds") == 7 * 86400


def test_artifact_kinds_follow_the_manifest_names() -> None:
    """ISO, archive (any compression) and the five restore files get their manifest kinds."""
    assert artifact_kind("/x/ctl-0-R.iso") == "iso"
    assert artifact_kind("/x/backup.tar.xz") == "archive"
    assert artifact_kind("/x/restore/openstack-backup-mysql-grants.sql") == "grants"
    assert artifact_kind("/x/restore/ceph_auth_export.bak") == "ceph_auth"
    assert artifact_kind("/x/barctl-manifest.json") == "other"


def test_target_free_bytes_is_the_gates_latest_measurement(tmp_path: Path) -> None:
    """No measurement: no series (0 would read as a full target); then the latest one."""
    policy, inventory = write_world(tmp_path)
    with open_store(policy) as store:
        store.start_run("r0", "controlplane", Trigger.SCHEDULED, at(-500), pid=1)
    assert "barctl_target_free_bytes" not in {
        name for name, _ in parse(render(make_source(policy, inventory)))
    }
    with open_store(policy) as store:
        store.record_target_space("/ctl_plane_backups", 5 << 30, at(-200))
        store.record_target_space("/ctl_plane_backups", 3 << 30, at(-100))
    samples = parse(render(make_source(policy, inventory)))
    assert value(samples, "barctl_target_free_bytes") == 3 << 30


def test_gate_keeps_the_measured_free_bytes_also_when_it_refuses() -> None:
    """The target probe carries df's number whether it passes or refuses the floor."""
    answer = ok("    Avail\n4096\n")
    runner = FakeRunner({"free_space": answer})
    passed = gate_probe.probe_target(runner, TARGET, "/ctl_plane_backups", 10, min_free_bytes=1024)
    refused = gate_probe.probe_target(runner, TARGET, "/ctl_plane_backups", 10, min_free_bytes=8192)
    assert (passed.problem, passed.free_bytes) == ("", 4096)
    assert "below the floor" in refused.problem
    assert refused.free_bytes == 4096


def test_verification_failed_is_the_latest_row_refused_by_the_checks(tmp_path: Path) -> None:
    """A node whose latest backup failed its verification step is 1; a failure of another
    step, or a later verified run, is 0."""
    policy, inventory = write_world(tmp_path)
    failed = NodeOutcome.FAILED
    with open_store(policy) as store:
        for run_id, start, node, outcome, reason in (
            ("r1", -300, "ctl-0", failed, "ctl-0: verify_artifacts: gzip -t: unexpected end"),
            ("r2", -300, "ctl-1", failed, "ctl-1: verify_artifacts: no El Torito boot record"),
            ("r3", -200, "ctl-1", OK, ""),
            ("r4", -200, "ctl-2", failed, "ctl-2: rear_mkbackup: ERROR: mount failed"),
        ):
            store.start_run(run_id, "controlplane", Trigger.SCHEDULED, at(start), pid=1)
            store.record_node(run_id, node, outcome, [], reason, now=at(start + 5))
            store.finish_run(run_id, RunOutcome.FAILED, at(start + 6), "")
    samples = parse(render(make_source(policy, inventory)))
    flags = {
        node: value(samples, "barctl_node_verification_failed", plan="controlplane", node=node)
        for node in ("ctl-0", "ctl-1", "ctl-2")
    }
    assert flags == {"ctl-0": 1, "ctl-1": 0, "ctl-2": 0}


def test_pruned_runs_count_only_settled_deletions_per_plan(tmp_path: Path) -> None:
    """Deleted run directories count for their plan; a failed or unsettled deletion does not."""
    policy, inventory = write_world(tmp_path)
    with open_store(policy) as store:
        for index, (plan, ok) in enumerate(
            (("controlplane", True), ("controlplane", True), ("controlplane", False))
        ):
            prune = store.start_prune(
                plan, "ctl-0", f"r{index}", f"/t/ctl-0/r{index}", reason="old", size_bytes=1,
                now=at(-10),
            )  # fmt: skip
            store.finish_prune(prune, ok, "", at(-9))
        store.start_prune(
            "undercloud", "undercloud", "r9", "/t/undercloud/r9", reason="old", size_bytes=1,
            now=at(-5),
        )  # fmt: skip
    samples = parse(render(make_source(policy, inventory)))
    assert value(samples, "barctl_retention_pruned_runs_total", plan="controlplane") == 2
    assert value(samples, "barctl_retention_pruned_runs_total", plan="undercloud") == 0
