"""Faults in the middle of a run: a peer lost, a node's own link lost, SIGTERM on a dead session.

Each ends within the SSH keepalive window plus one command (barctl.run.liveness), touches no further
node, and the history says exactly what happened (issue 8 findings 7, 8 and 10).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from lab import Lab
from tests.engine.helpers import (
    barctl,
    called,
    changes,
    history,
    policy_for,
    start_barctl,
    terminate_during_rear,
    wait_for,
)
from tests.engine.test_runs import ROLLING_NODE

pytestmark = pytest.mark.lab

# Long enough that waiting it out would fail every test here.
POLICY = {"plans": {"controlplane": {"timeouts": {"rejoin_seconds": 900}}}}


@pytest.fixture
def policy(lab: Lab, tmp_path: Path) -> Path:
    """The lab's policy with a rejoin wait far longer than any test may take."""
    return policy_for(lab, tmp_path, **POLICY)


def nodes_of(run: dict[str, object]) -> dict[str, dict[str, object]]:
    """The run's node rows by node name."""
    rows = run["nodes"]
    assert isinstance(rows, list)
    return {row["node"]: row for row in rows}


def test_peer_lost_during_rear_fails_at_once_and_restores_the_node(lab: Lab, policy: Path) -> None:
    """ctl-2 lost while ctl-0 runs ReaR: ctl-0 restored, nobody else touched, peer named."""
    lab.inject("ctl-0", ["rear", "-v"], sleep=8)
    process = start_barctl(policy, "run", "controlplane")
    try:
        wait_for(lambda: called(lab, "ctl-0", "mkbackup"))
        started = time.monotonic()
        # A cut link: SSH goes silent and corosync drops the member.
        lab.link_down("ctl-2")
        lab.set_pacemaker("ctl-2", online=False)
        process.wait(timeout=60)
        seconds = time.monotonic() - started
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 1
    assert seconds < 45
    assert changes(lab, "ctl-0") == ["ceph auth export", *ROLLING_NODE]
    assert changes(lab, "ctl-1") == ["ceph auth export"]
    run = history(policy)[0]
    assert run["outcome"] == "failed"
    assert "peer ctl-2 left the cluster during the run" in str(run["summary"])
    assert lab.node_state("ctl-0")["pacemaker"] == "online"
    assert all(state == "active" for state in lab.node_state("ctl-0")["ceph_units"].values())


def test_own_link_lost_during_rear_leaves_the_undo_for_replay(lab: Lab, policy: Path) -> None:
    """ctl-0's link cut during its ReaR: the run ends in seconds, pcs start is left for replay."""
    lab.inject("ctl-0", ["rear", "-v"], sleep=15)
    process = start_barctl(policy, "run", "controlplane")
    try:
        wait_for(lambda: called(lab, "ctl-0", "mkbackup"))
        started = time.monotonic()
        lab.link_down("ctl-0")
        process.wait(timeout=60)
        seconds = time.monotonic() - started
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 5
    assert seconds < 40
    assert changes(lab, "ctl-1") == ["ceph auth export"]
    run = history(policy)[0]
    assert run["outcome"] == "degraded"
    summary = str(run["summary"])
    assert "ctl-0: rear_mkbackup: connection lost" in summary
    assert "ctl-0: undo pcs_cluster_start left for replay: node unreachable" in summary
    assert "killed" not in summary
    lab.restore("ctl-0")
    lab.clear_faults()
    lab.clear_invocations()
    assert barctl(policy, "run", "undercloud").exit_code == 0
    assert changes(lab, "ctl-0")[:2] == ["pcs cluster start", "ceph start"]
    wait_for(lab.is_cluster_healthy, timeout=30)


def test_sigterm_on_a_dead_connection_ends_within_seconds(lab: Lab, policy: Path) -> None:
    """SIGTERM while ReaR's session is dead: exit within seconds, undo left and reported."""
    lab.inject("ctl-0", ["rear", "-v"], sleep=60)
    process = start_barctl(policy, "run", "controlplane")
    try:
        wait_for(lambda: called(lab, "ctl-0", "mkbackup"))
        lab.link_down("ctl-0")
        time.sleep(1)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        seconds = time.monotonic() - started
    finally:
        process.kill()
        process.wait()
    assert seconds < 20
    assert process.returncode == 5
    run = history(policy)[0]
    assert "ctl-0: undo pcs_cluster_start left for replay: node unreachable" in str(run["summary"])
    assert changes(lab, "ctl-1") == ["ceph auth export"]


def test_sigterm_during_second_rear_keeps_the_first_node_backed_up(lab: Lab, policy: Path) -> None:
    """SIGTERM during ctl-1's ReaR: interrupted, ctl-0 success with its artifacts, no lie."""
    assert terminate_during_rear(lab, policy, "ctl-1") == 1
    run = history(policy)[0]
    assert run["outcome"] == "interrupted"
    assert "all nodes backed up" not in str(run["summary"])
    nodes = nodes_of(run)
    assert nodes["ctl-0"]["outcome"] == "success"
    paths = [str(path) for path in nodes["ctl-0"]["artifacts"]]  # type: ignore[attr-defined]
    assert any(path.endswith(f"ctl-0-{run['run_id']}.iso") for path in paths)
    assert nodes["ctl-1"]["outcome"] == "interrupted"
    assert nodes["ctl-2"]["outcome"] == "skipped"
    assert lab.is_cluster_healthy()


def test_rear_error_line_is_the_reason(lab: Lab, policy: Path) -> None:
    """ReaR failing on its NFS mount: the recorded reason is its `ERROR:` line, not its last."""
    lab.inject("ctl-0", ["rear", "-v"], sleep=2)
    process = start_barctl(policy, "run", "controlplane")
    try:
        wait_for(lambda: called(lab, "ctl-0", "mkbackup"))
        lab.stop_sshd("backup-0")  # the backup node is down by the time ReaR mounts it
        process.wait(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 1
    run = history(policy)[0]
    reason = str(nodes_of(run)["ctl-0"]["reason"])
    assert reason.startswith("ctl-0: rear_mkbackup: exit 1: ERROR: Mount command")
    assert "Connection timed out" not in reason
    lab.restore("backup-0")
    assert lab.is_cluster_healthy()


def test_galera_node_without_accounts_refuses_with_zero_changes(lab: Lab, policy: Path) -> None:
    """A galera cluster listing no accounts refuses the run before anything changes, naming the
    one node asked (ctl-0, the first galera node: galera replicates accounts, issue 12)."""
    for host in ("ctl-0", "ctl-1", "ctl-2"):
        lab.set_node(host, mysql_accounts=[])
    result = barctl(policy, "run", "controlplane")
    assert result.exit_code == 3, result.stdout
    assert "ctl-0: galera lists no database accounts" in result.stdout
    assert "ctl-1: galera lists no database accounts" not in result.stdout
    assert changes(lab) == []


def test_grants_dump_holds_every_account_it_listed(lab: Lab, policy: Path) -> None:
    """The grants file of a controller has one replayable statement set per listed account."""
    lab.set_node("ctl-0", mysql_accounts=[["root", "localhost"], ["nova", "%"]])
    assert barctl(policy, "run", "controlplane").exit_code == 0
    run_id = str(history(policy)[0]["run_id"])
    grants = lab.host_directory("ctl-0", "var-lib-barctl") / run_id
    text = (grants / "openstack-backup-mysql-grants.sql").read_text()
    assert text.splitlines() == [
        "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION;",
        "GRANT USAGE ON *.* TO `nova`@`%` IDENTIFIED BY PASSWORD"
        " '*E5DABA832CD4DFBB3BC3A365CE5D12AB091686AF';",
        "GRANT ALL PRIVILEGES ON `nova`.* TO `nova`@`%`;",
    ]
