"""Backups against the lab: commands per host, outcomes, exit codes, and a healthy cluster after."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from lab import Lab, rear_iso
from tests.conftest import LabFactory
from tests.engine.helpers import (
    barctl,
    called,
    change_calls,
    changes,
    history,
    policy_for,
    set_up,
    start_barctl,
    terminate_during_rear,
    wait_for,
)

pytestmark = pytest.mark.lab

ROLLING_NODE = [
    "desync ON",
    "mysqldump",
    "desync OFF",
    "pcs config backup",
    "pcs cluster cib",
    "ceph stop",
    "pcs cluster stop",
    "rear mkbackup",
    "pcs cluster start",
    "ceph start",
]


@pytest.fixture
def policy(lab: Lab, tmp_path: Path) -> Path:
    """The lab's policy with its own state directory for this test."""
    return policy_for(lab, tmp_path)


def kill_during_rear(lab: Lab, policy: Path, host: str) -> None:
    """Start a controlplane run and SIGKILL it while ReaR runs on `host` (pcs already stopped)."""
    lab.inject(host, ["rear", "-v"], sleep=2)
    process = start_barctl(policy, "run", "controlplane")
    try:
        wait_for(lambda: called(lab, host, "mkbackup"))
        process.kill()
    finally:
        process.wait()
    lab.clear_faults()


def test_undercloud_backup_dumps_then_runs_rear(lab: Lab, policy: Path) -> None:
    """The undercloud run dumps the databases, runs ReaR, and leaves a matched ISO and archive."""
    result = barctl(policy, "run", "undercloud")
    assert result.exit_code == 0, result.stderr
    assert changes(lab, "undercloud") == ["mysqldump", "rear mkbackup"]
    run = history(policy)[0]
    assert run["outcome"] == "success"
    run_id = run["run_id"]
    files = sorted(path.name for path in (lab.export_directory / "undercloud" / run_id).iterdir())
    assert f"undercloud-{run_id}.iso" in files and "backup.tar.gz" in files


def test_rolling_backup_takes_controllers_out_one_at_a_time(lab: Lab, policy: Path) -> None:
    """Rolling: each controller in turn is desynced, dumped, stopped, backed up and restarted."""
    result = barctl(policy, "run", "controlplane")
    assert result.exit_code == 0, result.stderr
    for host in ("ctl-0", "ctl-1", "ctl-2"):
        assert changes(lab, host) == ["ceph auth export", *ROLLING_NODE]
    stops = [call for call in change_calls(lab) if call.argv[:3] == ("pcs", "cluster", "stop")]
    starts = [call for call in change_calls(lab) if call.argv[:3] == ("pcs", "cluster", "start")]
    assert len(stops) == len(starts)
    for stop, start, next_stop in zip(stops, starts, [*stops[1:], None]):
        assert stop.time < start.time
        assert next_stop is None or start.time < next_stop.time
    assert lab.is_cluster_healthy()
    assert history(policy)[0]["outcome"] == "success"


def test_offline_backup_quiesces_the_whole_control_plane(lab: Lab, tmp_path: Path) -> None:
    """Offline: containers paused, one dump, pcs stop --all, ReaR everywhere, then resumed."""
    policy = policy_for(
        lab,
        tmp_path,
        plans={"controlplane": {"mode": "offline"}},
    )
    result = barctl(policy, "run", "controlplane")
    assert result.exit_code == 0, result.stderr
    first = changes(lab, "ctl-0")
    assert first[:2] == ["ceph auth export", "podman pause"]
    assert first[2:5] == ["mysqldump", "pcs config backup", "pcs cluster cib"]
    assert "pcs cluster stop --all" in first and "pcs cluster start --all" in first
    assert first.index("pcs cluster stop --all") < first.index("rear mkbackup")
    assert first[-1] in ("podman unpause", "ceph start")
    for host in ("ctl-1", "ctl-2"):
        assert changes(lab, host) == [
            "ceph auth export",
            "podman pause",
            "ceph stop",
            "rear mkbackup",
            "ceph start",
            "podman unpause",
        ]
    assert lab.is_cluster_healthy()


def test_composable_roles_list_is_backed_up(lab_factory: LabFactory, tmp_path: Path) -> None:
    """ControllerOpenstack, Database and Messaging groups are one rolling plan, in that order."""
    lab = lab_factory(composable=True)
    policy = lab.write_policy(tmp_path / "policy.yaml")
    set_up(policy, "controlplane")
    result = barctl(policy, "run", "controlplane")
    assert result.exit_code == 0, result.stderr
    mkbackups = [call.host for call in change_calls(lab) if "mkbackup" in call.argv]
    assert mkbackups == ["ctlos-0", "db-0", "db-1", "db-2", "msg-0"]
    assert "mysqldump" in changes(lab, "db-1")
    assert "mysqldump" not in changes(lab, "msg-0")
    assert lab.is_cluster_healthy()


@pytest.mark.parametrize(
    ("fault", "host", "reason"),
    [
        ("link_down", "ctl-2", "connect timeout"),
        ("banner_hang", "ctl-1", "ssh banner timeout"),
        ("change_host_key", "ctl-0", "host key changed"),
        ("stop_sshd", "backup-0", "connection refused"),
    ],
)
def test_unreachable_node_refuses_the_run_with_zero_changes(
    lab: Lab, policy: Path, fault: str, host: str, reason: str
) -> None:
    """An unreachable node or backup target refuses the run: exit 3, nothing changed."""
    getattr(lab, fault)(host)
    result = barctl(policy, "run", "controlplane")
    assert result.exit_code == 3, result.stdout + result.stderr
    assert f"{host}: {reason}" in result.stdout
    assert change_calls(lab) == []
    # 5 s connect timeout in the lab policy: the whole refusal stays within a few timeouts.
    assert result.seconds < 20
    run = history(policy)[0]
    assert run["outcome"] == "refused"
    assert lab.is_cluster_healthy()


def test_offline_controller_in_pacemaker_refuses_the_run(lab: Lab, policy: Path) -> None:
    """A controller out of the cluster refuses the run before any other is touched."""
    lab.set_pacemaker("ctl-2", online=False)
    result = barctl(policy, "run", "controlplane")
    assert result.exit_code == 3
    assert "ctl-2" in result.stdout
    assert change_calls(lab) == []


def test_rear_failure_on_second_controller_stops_before_the_third(lab: Lab, policy: Path) -> None:
    """rear fails on ctl-1: its undos run, ctl-2 is never stopped, exit 1."""
    lab.inject("ctl-1", ["rear", "-v"], exit_code=1)
    result = barctl(policy, "run", "controlplane")
    assert result.exit_code == 1, result.stderr
    assert changes(lab, "ctl-0") == ["ceph auth export", *ROLLING_NODE]
    # rear failed after pcs stop: the registered pcs start and ceph start still ran, in order.
    assert changes(lab, "ctl-1") == ["ceph auth export", *ROLLING_NODE]
    assert changes(lab, "ctl-2") == ["ceph auth export"]
    run = history(policy)[0]
    assert run["outcome"] == "failed"
    assert "ctl-1: rear_mkbackup" in str(run["summary"])
    assert lab.is_cluster_healthy()


def test_rear_hanging_past_its_timeout_is_killed_and_undone(lab: Lab, tmp_path: Path) -> None:
    """rear hangs: the node's `timeout` kills it, pcs start and ceph start run, exit 1."""
    policy = policy_for(
        lab,
        tmp_path,
        plans={"controlplane": {"timeouts": {"rear_seconds": 2}}},
    )
    lab.inject("ctl-0", ["rear", "-v"], hang=True)
    result = barctl(policy, "run", "controlplane")
    assert result.exit_code == 1, result.stderr
    assert changes(lab, "ctl-0")[-3:] == ["rear mkbackup", "pcs cluster start", "ceph start"]
    assert changes(lab, "ctl-1") == ["ceph auth export"]
    assert "timed out" in str(history(policy)[0]["summary"])
    wait_for(lambda: not _process_running(lab, "ctl-0", "mkbackup"), timeout=40)
    assert lab.is_cluster_healthy()


def _process_running(lab: Lab, host: str, fragment: str) -> bool:
    pids = os.popen(f"ip netns pids {lab.namespace(host)}").read().split()
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if fragment.encode() in command:
            return True
    return False


def test_failed_dump_turns_desync_back_off(lab: Lab, policy: Path) -> None:
    """mysqldump fails on ctl-0: desync goes back OFF, pacemaker is never stopped, exit 1."""
    lab.inject("ctl-0", ["mysqldump"], exit_code=2)
    result = barctl(policy, "run", "controlplane")
    assert result.exit_code == 1
    assert changes(lab, "ctl-0") == ["ceph auth export", "desync ON", "mysqldump", "desync OFF"]
    assert lab.node_state("ctl-0")["wsrep_desync"] == "OFF"
    assert lab.is_cluster_healthy()


def test_failed_cluster_start_is_degraded_and_names_the_node(lab: Lab, policy: Path) -> None:
    """`pcs cluster start` fails on ctl-0: outcome degraded, exit 5, ctl-0 named."""
    lab.inject("ctl-0", ["pcs", "cluster", "start"], exit_code=1)
    result = barctl(policy, "run", "controlplane")
    assert result.exit_code == 5, result.stderr
    run = history(policy)[0]
    assert run["outcome"] == "degraded"
    assert "ctl-0: undo pcs_cluster_start failed" in str(run["summary"])
    nodes = {node["node"]: node for node in run["nodes"]}  # type: ignore[attr-defined]
    assert nodes["ctl-0"]["outcome"] == "degraded"
    assert changes(lab, "ctl-1") == ["ceph auth export"]
    assert not lab.is_cluster_healthy()


def test_sigterm_mid_run_runs_undos_and_is_interrupted(lab: Lab, policy: Path) -> None:
    """SIGTERM while rear runs on ctl-1: the run stops there, undos run, outcome interrupted."""
    assert terminate_during_rear(lab, policy, "ctl-1") == 1
    assert changes(lab, "ctl-1")[-3:] == ["rear mkbackup", "pcs cluster start", "ceph start"]
    assert changes(lab, "ctl-2") == ["ceph auth export"]
    assert history(policy)[0]["outcome"] == "interrupted"
    assert lab.is_cluster_healthy()


def test_sigkill_mid_run_is_recovered_at_the_next_start(lab: Lab, policy: Path) -> None:
    """SIGKILL with ctl-0 out of the cluster: the next start replays the journal first."""
    kill_during_rear(lab, policy, "ctl-0")
    assert not lab.is_cluster_healthy()
    lab.clear_invocations()
    result = barctl(policy, "run", "undercloud")
    assert result.exit_code == 0, result.stderr
    replayed = changes(lab, "ctl-0")
    assert replayed == ["pcs cluster start", "ceph start"]
    first_undercloud = min(call.time for call in lab.invocations("undercloud"))
    assert max(call.time for call in lab.invocations("ctl-0")) < first_undercloud
    assert lab.is_cluster_healthy()
    outcomes = [run["outcome"] for run in history(policy)]
    assert outcomes == ["success", "interrupted"]


def test_second_concurrent_run_exits_4(lab: Lab, policy: Path) -> None:
    """While a controlplane run holds its lock, a second one exits 4 and touches nothing."""
    lab.inject("ctl-0", ["rear", "-v"], sleep=3)
    process = start_barctl(policy, "run", "controlplane")
    try:
        wait_for(lambda: called(lab, "ctl-0", "mkbackup"))
        before = len(change_calls(lab))
        second = barctl(policy, "run", "controlplane")
        assert second.exit_code == 4
        assert "plan controlplane is busy" in second.stderr
        assert len(change_calls(lab)) == before
        process.wait(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0
    assert lab.is_cluster_healthy()


def test_dry_run_changes_nothing(lab: Lab, policy: Path) -> None:
    """A dry run gates and prints the plan built from real facts, with no change anywhere."""
    result = barctl(policy, "run", "controlplane", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "rear -v -C barctl-run mkbackup" in result.stdout
    assert "galera-bundle-podman-1" in result.stdout
    assert change_calls(lab) == []
    assert history(policy) == []


def test_no_secret_reaches_argv_logs_or_history(lab: Lab, policy: Path) -> None:
    """The MySQL password is in no recorded argv, log line, history row or database page."""
    secret = lab.mysql_password
    result = barctl(policy, "--verbose", "run", "controlplane")
    verbose = barctl(policy, "--verbose", "run", "undercloud")
    assert result.exit_code == 0 and verbose.exit_code == 0
    for call in lab.invocations():
        assert all(secret not in word for word in call.argv)
    for text in (result.stdout, result.stderr, verbose.stdout, verbose.stderr):
        assert secret not in text
    database = Path(str(policy.parent / "state" / "history.db"))
    with sqlite3.connect(database) as connection:
        dump = "\n".join(connection.iterdump())
    assert secret not in dump
    assert secret not in barctl(policy, "history", "--json").stdout


def test_node_not_back_within_the_rejoin_timeout_fails_the_run(lab: Lab, tmp_path: Path) -> None:
    """A controller slower to rejoin than rejoin_seconds fails the run before the next one."""
    policy = policy_for(
        lab,
        tmp_path,
        plans={"controlplane": {"timeouts": {"rejoin_seconds": 1}}},
    )
    lab.set_rejoin_delay(8)
    result = barctl(policy, "run", "controlplane")
    assert result.exit_code == 1, result.stderr
    assert "ctl-0: wait_rejoin: not back within 1s" in str(history(policy)[0]["summary"])
    assert changes(lab, "ctl-1") == ["ceph auth export"]
    wait_for(lab.is_cluster_healthy, timeout=30)


def test_accept_new_records_unknown_keys_but_still_refuses_changed_ones(
    lab: Lab, tmp_path: Path
) -> None:
    """With accept-new and no known_hosts entries, keys are recorded; a changed key refuses."""
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    policy = policy_for(
        lab, tmp_path, ssh={"known_hosts": str(empty), "host_key_policy": "accept-new"}
    )
    assert barctl(policy, "run", "undercloud").exit_code == 0
    accepted = (tmp_path / "state" / "known_hosts.accepted").read_text()
    assert lab.address("undercloud") in accepted and lab.address("backup-0") in accepted
    assert empty.read_text() == ""
    lab.change_host_key("undercloud")
    result = barctl(policy, "run", "undercloud")
    assert result.exit_code == 3
    assert "undercloud: host key changed" in result.stdout


def test_strict_policy_refuses_unknown_host_keys(lab: Lab, tmp_path: Path) -> None:
    """By default a host missing from known_hosts is refused, never trusted on first use."""
    others = tmp_path / "known_hosts"
    lines = lab.known_hosts_path.read_text().splitlines(keepends=True)
    address = lab.address("undercloud")
    others.write_text("".join(line for line in lines if not line.startswith(f"{address} ")))
    assert others.read_text() and address not in others.read_text()
    # Not set up: setup itself cannot reach the undercloud (the gate refuses it first anyway).
    policy = lab.write_policy(
        tmp_path / "policy.yaml",
        state_directory=str(tmp_path / "state"),
        runtime_directory=str(tmp_path / "run"),
        ssh={"known_hosts": str(others)},
    )
    result = barctl(policy, "run", "undercloud")
    assert result.exit_code == 3
    assert "undercloud: unknown host key" in result.stdout
    assert change_calls(lab) == []


def test_precheck_runs_the_gate_alone(lab: Lab, policy: Path) -> None:
    """`barctl precheck` passes on a healthy lab, refuses with a node down, and changes nothing;
    `--json` says the same (barctl.precheck/1) with the same exit codes."""
    healthy = barctl(policy, "precheck", "controlplane")
    assert healthy.exit_code == 0, healthy.stdout
    assert "gate passed" in healthy.stdout
    document = json.loads(barctl(policy, "precheck", "controlplane", "--json").stdout)
    assert (document["schema"], document["passed"]) == ("barctl.precheck/1", True)
    assert all(node["ok"] for node in document["nodes"])
    lab.link_down("ctl-1")
    refused = barctl(policy, "precheck", "controlplane")
    assert refused.exit_code == 3
    assert "REFUSED  ctl-1: connect timeout" in refused.stdout
    refused_json = barctl(policy, "precheck", "controlplane", "--json")
    assert refused_json.exit_code == 3
    nodes = {node["node"]: node for node in json.loads(refused_json.stdout)["nodes"]}
    assert (nodes["ctl-1"]["ok"], nodes["ctl-1"]["reasons"]) == (False, ["connect timeout"])
    assert change_calls(lab) == []
    assert history(policy) == []


@pytest.mark.parametrize("version", ["2.4", "2.8"])
def test_sftp_target_gets_one_iso_with_its_archive_and_no_password(
    lab: Lab, tmp_path: Path, version: str
) -> None:
    """SFTP on ReaR 2.4 and 2.8: lftp logs in with root's key (the server takes only that key),
    the ISO lands in the URL path with the archive inside, barctl moves it into the run's
    directory beside its manifest, and no password is written."""
    lab.set_rear(version)
    lab.set_sftp_account("backup", public_keys=[lab.root_ssh_key("undercloud")])
    sftp = {"host": lab.address("backup-0"), "user": "backup", "path": "/ctl_plane_backups"}
    policy = policy_for(lab, tmp_path, backup_target={"nfs": None, "sftp": sftp})
    result = barctl(policy, "--verbose", "run", "undercloud")
    assert result.exit_code == 0, result.stdout + result.stderr
    run_id = history(policy)[0]["run_id"]
    iso = lab.export_directory / "undercloud" / str(run_id) / f"undercloud-{run_id}.iso"
    assert iso.stat().st_size > 0
    assert not (lab.export_directory / f"undercloud-{run_id}.iso").exists()
    assert "backup/backup.tar.gz" in rear_iso.iso_members(iso)
    etc_rear = lab.host_directory("undercloud", "etc-rear")
    for name in ("local.conf", "barctl-run.conf"):
        assert (etc_rear / name).stat().st_mode & 0o777 == 0o600
        assert "PASSWORD" not in (etc_rear / name).read_text()
    assert "BACKUP='NETFS'" in (etc_rear / "local.conf").read_text().replace('"', "'")


def test_failed_replay_after_a_crash_marks_the_run_and_node_degraded(
    lab: Lab, policy: Path
) -> None:
    """If the replayed `pcs cluster start` fails, the crashed run is degraded, naming ctl-0."""
    kill_during_rear(lab, policy, "ctl-0")
    lab.inject("ctl-0", ["pcs", "cluster", "start"], exit_code=1)
    result = barctl(policy, "run", "controlplane")
    assert result.exit_code == 3
    runs = history(policy)
    assert [run["outcome"] for run in runs] == ["refused", "degraded"]
    crashed = runs[1]
    assert "ctl-0: undo pcs_cluster_start failed" in str(crashed["summary"])
    nodes = {node["node"]: node["outcome"] for node in crashed["nodes"]}  # type: ignore[attr-defined]
    assert nodes["ctl-0"] == "degraded"


def test_verified_run_leaves_no_iso_in_rears_output_directory(lab: Lab, policy: Path) -> None:
    """Once the target's copy is verified, the node's own ISO in /var/lib/rear/output is gone."""
    output = lab.host_directory("undercloud", "var-lib-rear") / "output"
    assert barctl(policy, "run", "undercloud").exit_code == 0
    run_id = history(policy)[0]["run_id"]
    assert (lab.export_directory / "undercloud" / str(run_id)).is_dir()
    assert output.is_dir()
    assert list(output.glob("*.iso")) == []
