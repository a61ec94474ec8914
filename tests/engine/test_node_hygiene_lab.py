"""Node hygiene in the lab (issue 10 item 7): /var/lib/barctl keeps the last N run directories,
each run's ReaR excludes the others, and nothing barctl writes on a node is world-readable."""

from __future__ import annotations

import stat
import tarfile
from pathlib import Path

import pytest

from lab import Lab
from tests.engine.helpers import policy_for, run_backup

pytestmark = pytest.mark.lab

CONTROLLERS = ("ctl-0", "ctl-1", "ctl-2")


def run_directories(lab: Lab, host: str) -> list[str]:
    """The run directories under the host's /var/lib/barctl, oldest first."""
    return sorted(path.name for path in lab.host_directory(host, "var-lib-barctl").iterdir())


def excluded_runs(lab: Lab, host: str) -> str:
    """The BACKUP_PROG_EXCLUDE line of the host's last per-run ReaR file ("" when none)."""
    text = (lab.host_directory(host, "etc-rear") / "barctl-run.conf").read_text()
    lines = [line for line in text.splitlines() if line.startswith("BACKUP_PROG_EXCLUDE+=")]
    return lines[0] if lines else ""


def test_undercloud_keeps_the_last_runs_and_excludes_the_others(lab: Lab, tmp_path: Path) -> None:
    """keep_run_directories 2, three runs: after each, the newest two directories remain; each
    run's ReaR file excludes exactly the earlier directories present, never its own."""
    policy = policy_for(lab, tmp_path, node_hygiene={"keep_run_directories": 2})
    first = run_backup(policy, "undercloud")
    assert run_directories(lab, "undercloud") == [first]
    assert excluded_runs(lab, "undercloud") == ""
    second = run_backup(policy, "undercloud")
    assert run_directories(lab, "undercloud") == [first, second]
    assert excluded_runs(lab, "undercloud") == f"BACKUP_PROG_EXCLUDE+=( /var/lib/barctl/{first} )"
    third = run_backup(policy, "undercloud")
    assert run_directories(lab, "undercloud") == [second, third]
    line = excluded_runs(lab, "undercloud")
    assert line == f"BACKUP_PROG_EXCLUDE+=( /var/lib/barctl/{first} /var/lib/barctl/{second} )"


def archived_runs(lab: Lab, host: str, run_id: str) -> set[str]:
    """The run directories under var/lib/barctl in the archive of `host`'s run `run_id`."""
    archive = lab.export_directory / host / run_id / "backup.tar.gz"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    prefix = "var/lib/barctl/"
    return {name[len(prefix) :].split("/")[0] for name in names if name.startswith(prefix)}


def test_each_archive_holds_only_its_own_run_directory(lab: Lab, tmp_path: Path) -> None:
    """Three undercloud runs: each run's archive (ReaR's tar with the run's excludes) holds
    its own run directory and dump, never an earlier run's."""
    policy = policy_for(lab, tmp_path)
    runs = [run_backup(policy, "undercloud") for _ in range(3)]
    assert run_directories(lab, "undercloud") == runs
    for run_id in runs:
        assert archived_runs(lab, "undercloud", run_id) == {run_id}
    archive = lab.export_directory / "undercloud" / runs[2] / "backup.tar.gz"
    with tarfile.open(archive) as tar:
        assert f"var/lib/barctl/{runs[2]}/openstack-backup-mysql.sql" in tar.getnames()


def test_a_stray_entry_in_var_lib_barctl_is_never_removed(lab: Lab, tmp_path: Path) -> None:
    """Files and directories that are not run directories stay (barctl's own history database
    lives there on the undercloud)."""
    state = lab.host_directory("undercloud", "var-lib-barctl")
    (state / "history.db").write_text("not a run")
    (state / "keep-me").mkdir()
    policy = policy_for(lab, tmp_path, node_hygiene={"keep_run_directories": 1})
    run_backup(policy, "undercloud")
    latest = run_backup(policy, "undercloud")
    assert run_directories(lab, "undercloud") == sorted([latest, "history.db", "keep-me"])


def world_readable(root: Path) -> list[str]:
    """Every path under `root` (root included) with a permission bit for others."""
    paths = [root, *root.rglob("*")]
    return [str(path) for path in paths if path.stat().st_mode & stat.S_IRWXO]


def test_nothing_barctl_writes_on_a_controller_is_world_readable(lab: Lab, tmp_path: Path) -> None:
    """After a rolling run: each run directory is 0700 and every dump, grants file, CIB, pcs
    backup and ceph export in it 0600; local.conf and the per-run ReaR file are 0600, also
    where a world-readable per-run file was there before."""
    stale = lab.host_directory("ctl-0", "etc-rear") / "barctl-run.conf"
    stale.write_text("# left by hand\n")
    stale.chmod(0o644)
    run_id = run_backup(policy_for(lab, tmp_path), "controlplane")
    for host in CONTROLLERS:
        directory = lab.host_directory(host, "var-lib-barctl") / run_id
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        files = sorted(path.name for path in directory.iterdir())
        assert "pacemaker_backup.tar.bz2" in files
        assert "cib.xml" in files
        for path in directory.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        etc_rear = lab.host_directory(host, "etc-rear")
        for name in ("local.conf", "barctl-run.conf"):
            assert stat.S_IMODE((etc_rear / name).stat().st_mode) == 0o600, name
        assert world_readable(lab.host_directory(host, "var-lib-barctl") / run_id) == []
