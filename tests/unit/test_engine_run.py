"""The engine walking a rolling plan through a scripted runner: unwind, stop, degraded, replay."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from barctl.config.policy_sections import TimeoutsSection
from barctl.history.store import Store
from barctl.model import CommandResult, Node, NodeFacts
from barctl.outcome import NodeOutcome, RunOutcome, Trigger, UndoState
from barctl.run import manifest_parse, plan, plan_modes
from barctl.run.commands import RemoteCommand
from barctl.run.engine import Environment, Execution, RunReport
from barctl.run.rear_config import RearTarget
from barctl.run.resolution import plan_timeouts
from tests.fakes import (
    Answer,
    FakeRunner,
    cluster_view,
    failed,
    healthy_target,
    lost,
    ok,
    unreachable,
)

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "pacemaker" / "crm_mon-2.1.7.xml"
NOW = datetime(2026, 11, 25, 2, 30, tzinfo=timezone.utc)
NODES = (Node("cluster01", "198.18.0.1", "root"), Node("cluster02", "198.18.0.2", "root"))
TARGET = plan.BackupTarget(
    Node("backup-0", "198.18.0.9", "root"), "/backups", RearTarget("nfs", "198.18.0.9", "/backups")
)
REAL_RUN = "20261125T023000Z-controlplane-3f2a"
CHANGES = ("ceph_stop", "pcs_cluster_stop", "rear_mkbackup", "pcs_cluster_start", "ceph_start")


def sizes(node: Node, command: RemoteCommand) -> CommandResult:
    """`stat -c '%s %n'` on the target: every requested artifact is there, 100 bytes."""
    return ok("\n".join(f"100 {path}" for path in command.argv if path.startswith("/backups")))


def runner(**overrides: Answer) -> FakeRunner:
    """A healthy two-node cluster (real crm_mon 2.1.7 XML), with per-command overrides."""
    script: dict[tuple[str, str] | str, Answer] = {
        "cluster_view": ok(cluster_view(SAMPLE.read_text())),
        **healthy_target(),
        "file_sizes": sizes,
    }
    for key, answer in overrides.items():
        node, _, name = key.partition("__")
        script[(node, name)] = answer
    return FakeRunner(script)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty history with the run `RUN` started."""
    with Store.open(tmp_path / "history.db") as opened:
        opened.start_run("RUN", "controlplane", Trigger.MANUAL, NOW, 1)
        yield opened


def execute(store: Store, fake: FakeRunner, run_id: str = "RUN") -> RunReport:
    """Run the rolling plan of both nodes (each a pacemaker member with a ceph monitor)."""
    facts = {
        node.name: NodeFacts((f"ceph-mon-{node.name}",), True, pacemaker_name=node.name)
        for node in NODES
    }
    timeouts = plan_timeouts(TimeoutsSection())
    context = plan.Context("controlplane", run_id, timeouts, TARGET)
    built = plan_modes.build_rolling_plan(NODES, facts, context)
    environment = Environment(store, fake, lambda: NOW, threading.Event(), poll_seconds=0)
    nodes = {node.name: node for node in NODES}
    return Execution(built, nodes, facts, environment, password="pw").execute()


def changes(fake: FakeRunner, node: str) -> list[str]:
    """The state-changing commands run on `node`, in order."""
    return [name for name in fake.ran(node) if name in CHANGES]


def test_a_healthy_run_backs_up_both_nodes_one_after_the_other(store: Store) -> None:
    """Each node: ceph and pacemaker stopped, ReaR, started again, before the next node."""
    fake = runner()
    report = execute(store, fake)
    assert report.outcome is RunOutcome.SUCCESS, report.summary()
    assert changes(fake, "cluster01") == list(CHANGES)
    assert changes(fake, "cluster02") == list(CHANGES)
    first_of_second = fake.ran_on().index(("cluster02", "ceph_stop"))
    assert fake.ran_on().index(("cluster01", "ceph_start")) < first_of_second
    detail = store.run_detail("RUN")
    assert detail is not None
    # ISO, archive and the three restore files copied beside them, 100 bytes each.
    assert {(n.node, n.outcome, n.size_bytes) for n in detail.nodes} == {
        ("cluster01", NodeOutcome.SUCCESS, 500),
        ("cluster02", NodeOutcome.SUCCESS, 500),
    }


def test_a_failure_unwinds_newest_first_and_stops_at_the_first_failed_node(store: Store) -> None:
    """ReaR fails on cluster01: pacemaker then ceph come back there; cluster02 is never touched."""
    fake = runner(cluster01__rear_mkbackup=failed(1, "ERROR: mount failed"))
    report = execute(store, fake)
    assert report.outcome is RunOutcome.FAILED
    assert changes(fake, "cluster01") == list(CHANGES)
    assert changes(fake, "cluster02") == []
    assert "cluster01: rear_mkbackup: exit 1: ERROR: mount failed" in report.summary()
    assert store.pending_undos() == []


def test_a_failed_undo_makes_the_run_and_the_node_degraded(store: Store) -> None:
    """`pcs cluster start` failing is an undo failure: run and node degraded, undo `failed`."""
    fake = runner(cluster01__pcs_cluster_start=failed(1, "Error: unable to start"))
    report = execute(store, fake)
    assert report.outcome is RunOutcome.DEGRADED
    assert [str(failure) for failure in report.undo_failures] == [
        "cluster01: undo pcs_cluster_start failed (exit 1): exit 1: Error: unable to start"
    ]
    detail = store.run_detail("RUN")
    assert detail is not None
    assert {n.node: n.outcome for n in detail.nodes}["cluster01"] is NodeOutcome.DEGRADED
    states = {undo.step: undo.state for undo in detail.undos}
    assert states == {"ceph_start": UndoState.DONE, "pcs_cluster_start": UndoState.FAILED}
    assert changes(fake, "cluster02") == []


def test_an_undo_on_an_unreachable_node_is_left_pending_for_replay(store: Store) -> None:
    """Link lost during ReaR: the undos are not attempted twice, stay pending, run degraded."""
    fake = runner(
        cluster01__rear_mkbackup=lost(),
        cluster01__pcs_cluster_start=unreachable(),
        cluster01__ceph_start=unreachable(),
    )
    report = execute(store, fake)
    assert report.outcome is RunOutcome.DEGRADED
    assert "cluster01: undo pcs_cluster_start left for replay: node unreachable" in report.summary()
    assert [undo.step for undo in store.pending_undos()] == ["pcs_cluster_start", "ceph_start"]
    assert fake.ran("cluster01").count("pcs_cluster_start") == 1


def test_an_undo_that_raises_does_not_stop_the_others(store: Store) -> None:
    """An exception inside one undo leaves it pending; the next undo still runs."""

    def explode(node: Node, command: RemoteCommand) -> CommandResult:
        raise RuntimeError("runner bug")

    fake = runner(cluster01__rear_mkbackup=failed(), cluster01__pcs_cluster_start=explode)
    report = execute(store, fake)
    assert report.outcome is RunOutcome.DEGRADED
    assert fake.ran("cluster01")[-1] == "ceph_start"
    assert [undo.step for undo in store.pending_undos()] == ["pcs_cluster_start"]
    assert "left for replay: RuntimeError: runner bug" in report.summary()


def test_the_manifest_takes_rears_version_from_its_backup_without_asking_again(
    store: Store,
) -> None:
    """The version `rear -v mkbackup` printed first goes into that node's manifest, and no
    `rear -V` is run for it; a node whose ReaR printed none is still asked."""
    fake = runner(
        cluster01__rear_mkbackup=ok("Relax-and-Recover 2.7 / Git\nRunning rear mkbackup\n"),
        cluster02__rear_version=ok("Relax-and-Recover 2.6 / 2020-06-17\n"),
    )
    store.start_run(REAL_RUN, "controlplane", Trigger.MANUAL, NOW, 1)
    report = execute(store, fake, REAL_RUN)
    assert report.outcome is RunOutcome.SUCCESS, report.summary()
    writes = [call for call in fake.calls if call.name == "write_manifest"]
    versions = [manifest_parse.parse(call.stdin or "", "stdin").rear_version for call in writes]
    assert versions == ["2.7", "2.6"]
    assert "rear_version" not in fake.ran("cluster01")
    assert "rear_version" in fake.ran("cluster02")


def test_each_verified_node_gets_a_manifest_on_the_target_and_in_the_history(
    store: Store,
) -> None:
    """A manifest per node is written on the target (temp + rename) after verification; it
    parses, lists the ISO and archive with the sha256 the target printed, and the history holds
    the same facts."""
    fake = runner(cluster01__rear_version=ok("Relax-and-Recover 2.6 / 2020-06-17\n"))
    store.start_run(REAL_RUN, "controlplane", Trigger.MANUAL, NOW, 1)
    report = execute(store, fake, REAL_RUN)
    assert report.outcome is RunOutcome.SUCCESS, report.summary()
    writes = [call for call in fake.calls if call.name == "write_manifest"]
    assert [call.node for call in writes] == ["backup-0", "backup-0"]
    assert writes[0].argv[-2:] == (f"/backups/cluster01/{REAL_RUN}", "barctl-manifest.json")
    assert writes[0].stdin is not None
    written = manifest_parse.parse(writes[0].stdin, "stdin")
    assert written.rear_version == "2.6" and written.verification.passed
    iso, archive = f"cluster01-{REAL_RUN}.iso", "backup.tar.gz"
    assert [(item.path, item.kind, item.sha256) for item in written.files] == [
        (iso, "iso", hashlib.sha256(iso.encode()).hexdigest()),
        (archive, "archive", hashlib.sha256(archive.encode()).hexdigest()),
        *(
            (f"restore/{name}", kind, hashlib.sha256(name.encode()).hexdigest())
            for name, kind in (
                ("pacemaker_backup.tar.bz2", "pacemaker_config"),
                ("cib.xml", "cib"),
                ("ceph_auth_export.bak", "ceph_auth"),
            )
        ),
    ]
    (record,) = store.artifact_records("cluster01")
    assert record.verified and record.files[0].sha256 == written.files[0].sha256


def test_a_failed_verification_still_writes_a_manifest_saying_so(store: Store) -> None:
    """gzip -t fails on cluster01: the node fails, and its manifest says passed=false, why."""
    fake = runner()
    fake.script[("backup-0", "compression_test")] = failed(1, "gzip: x: unexpected end of file")
    store.start_run(REAL_RUN, "controlplane", Trigger.MANUAL, NOW, 1)
    report = execute(store, fake, REAL_RUN)
    assert report.outcome is RunOutcome.FAILED
    (write,) = [call for call in fake.calls if call.name == "write_manifest"]
    assert write.stdin is not None
    written = manifest_parse.parse(write.stdin, "stdin")
    assert not written.verification.passed
    assert "gzip -t failed: exit 1: gzip: x: unexpected end of file" in str(
        written.verification.reason
    )
    assert not store.artifact_records("cluster01")[0].verified
