"""`barctl setup` against the lab: drift found, applied once, idempotent, and a run after it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lab import Lab
from tests.engine.helpers import barctl, called

pytestmark = pytest.mark.lab

CONTROLLERS = ("ctl-0", "ctl-1", "ctl-2")
RPM_CRON = "30 1 * * * root /usr/sbin/rear checklayout || /usr/sbin/rear mkrescue\n"


def policy(lab: Lab, tmp_path: Path, **overrides: Any) -> Path:
    """The lab's policy with this test's own state and runtime directories."""
    return lab.write_policy(
        tmp_path / "policy.yaml",
        state_directory=str(tmp_path / "state"),
        runtime_directory=str(tmp_path / "run"),
        **overrides,
    )


def local_conf(lab: Lab, host: str) -> Path:
    """The host's /etc/rear/local.conf, as the lab keeps it."""
    return lab.host_directory(host, "etc-rear") / "local.conf"


def test_fresh_lab_drift_setup_check_edit_fix_then_run(lab: Lab, tmp_path: Path) -> None:
    """--check lists drift (1); setup applies (0); --check clean (0); an edited line on ctl-1 is
    named (1) and fixed; a second setup changes nothing; the next run succeeds."""
    path = policy(lab, tmp_path)
    check = barctl(path, "setup", "controlplane", "--check")
    assert check.exit_code == 1, check.stdout + check.stderr
    assert "DRIFT  ctl-0: /etc/rear/local.conf: missing" in check.stdout
    assert "DRIFT  backup-0: /etc/exports.d/barctl.exports: missing" in check.stdout
    assert not local_conf(lab, "ctl-0").exists()
    assert not called(lab, "ctl-0", "dnf")

    applied = barctl(path, "setup", "controlplane")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert "lftp" in lab.installed_packages("ctl-2")
    assert oct(local_conf(lab, "ctl-0").stat().st_mode & 0o777) == "0o600"
    clean = barctl(path, "setup", "controlplane", "--check")
    assert clean.exit_code == 0, clean.stdout
    assert "no drift on 4 nodes" in clean.stdout

    edited = local_conf(lab, "ctl-1").read_text().replace('OUTPUT="ISO"', 'OUTPUT="USB"')
    local_conf(lab, "ctl-1").write_text(edited)
    drift = barctl(path, "setup", "controlplane", "--check")
    assert drift.exit_code == 1
    assert (
        "DRIFT  ctl-1: /etc/rear/local.conf: line 3 is 'OUTPUT=\"USB\"', barctl's is"
        " 'OUTPUT=\"ISO\"'" in drift.stdout
    )
    assert "ctl-0" not in drift.stdout and "ctl-2" not in drift.stdout

    lab.clear_invocations()
    assert barctl(path, "setup", "controlplane").exit_code == 0
    assert 'OUTPUT="ISO"' in local_conf(lab, "ctl-1").read_text()
    assert not called(lab, "ctl-1", "dnf")  # only the difference is applied
    again = barctl(path, "setup", "controlplane")
    assert (again.exit_code, again.stdout.strip()) == (0, "no drift on 4 nodes")

    run = barctl(path, "run", "controlplane")
    assert run.exit_code == 0, run.stdout + run.stderr


def test_setup_removes_the_cron_file_and_keeps_a_vendor_local_conf(
    lab: Lab, tmp_path: Path
) -> None:
    """The RPM's cron file goes; a vendor local.conf is kept once as local.conf.before-barctl."""
    (lab.host_directory("undercloud", "etc-cron.d") / "rear").write_text(RPM_CRON)
    local_conf(lab, "undercloud").write_text("BACKUP=NETFS\nBACKUP_URL=nfs://192.168.24.1/x\n")
    result = barctl(policy(lab, tmp_path), "setup", "undercloud")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "FIXED  undercloud: /etc/cron.d/rear" in result.stdout
    assert not (lab.host_directory("undercloud", "etc-cron.d") / "rear").exists()
    kept = lab.host_directory("undercloud", "etc-rear") / "local.conf.before-barctl"
    assert kept.read_text().startswith("BACKUP=NETFS\n")
    assert local_conf(lab, "undercloud").read_text().startswith("# Managed by barctl")


def test_export_lists_every_plans_nodes_and_is_offered(lab: Lab, tmp_path: Path) -> None:
    """Setting up one plan exports to every plan's nodes (never `*`), live after exportfs -ra."""
    assert barctl(policy(lab, tmp_path), "setup", "undercloud").exit_code == 0
    exports = lab.host_directory("backup-0", "etc-exports.d") / "barctl.exports"
    line = exports.read_text().splitlines()[1]
    for host in ("undercloud", *CONTROLLERS):
        assert f"{lab.address(host)}(rw,sync,no_root_squash,no_subtree_check)" in line
    assert "*" not in line
    assert called(lab, "backup-0", "exportfs -ra")
    shown = lab.ssh("ctl-0", f"showmount -e {lab.address('backup-0')}")
    assert lab.address("ctl-0") in shown.stdout
    # The file put back by hand without exportfs -ra: --check sees the stale table, setup
    # re-exports without rewriting the file.
    right = exports.read_text()
    exports.write_text(right.replace(lab.address("ctl-2"), "198.18.0.1"))
    assert lab.ssh("backup-0", "exportfs -ra").returncode == 0
    exports.write_text(right)
    stale = barctl(policy(lab, tmp_path), "setup", "undercloud", "--check")
    assert stale.exit_code == 1
    assert (
        f"DRIFT  backup-0: live NFS exports (showmount -e): /ctl_plane_backups not offered to"
        f" {lab.address('ctl-2')}"
    ) in stale.stdout
    assert barctl(policy(lab, tmp_path), "setup", "undercloud").exit_code == 0
    assert (
        lab.address("ctl-2") in lab.ssh("ctl-2", f"showmount -e {lab.address('backup-0')}").stdout
    )


def test_ceph_hooks_follow_the_nodes_own_var_mount(lab: Lab, tmp_path: Path) -> None:
    """ctl-0 has /var on its own LV: its hooks use that device and lib/ceph; ctl-1 the guide's."""
    lab.set_ceph_mount("ctl-0", "/dev/mapper/vg-var", "xfs", "/var")
    result = barctl(policy(lab, tmp_path), "setup", "controlplane", "--no-packages")
    assert result.exit_code == 0, result.stdout + result.stderr
    hooks = lab.host_directory("ctl-0", "usr-share-rear")
    backup = (hooks / "setup/default/011_backup_ceph.sh").read_text()
    assert "mount -t xfs /dev/mapper/vg-var /mnt/local\n" in backup
    assert "tar cvfz /tmp/ceph.tar.gz lib/ceph " in backup
    other = lab.host_directory("ctl-1", "usr-share-rear") / "setup/default/011_backup_ceph.sh"
    assert "mount -t xfs /dev/vda2 /mnt/local\n" in other.read_text()
    assert not called(lab, "ctl-0", "rpm") and not called(lab, "ctl-0", "dnf")


def test_sftp_setup_seeds_roots_known_hosts(lab: Lab, tmp_path: Path) -> None:
    """With an SFTP target, root's known_hosts on each node gets the server's key from barctl's
    known_hosts; no export is written."""
    sftp = {"host": lab.address("backup-0"), "user": "backup", "path": "/ctl_plane_backups"}
    path = policy(lab, tmp_path, backup_target={"nfs": None, "sftp": sftp})
    result = barctl(path, "setup", "undercloud", "--no-packages")
    assert result.exit_code == 0, result.stdout + result.stderr
    known = (lab.host_directory("undercloud", "home") / ".ssh" / "known_hosts").read_text()
    key = (lab.host_directory("backup-0") / "ssh_host_ed25519_key.orig.pub").read_text().split()
    assert f"{lab.address('backup-0')} {key[0]} {key[1]}\n" == known
    assert not (lab.host_directory("backup-0", "etc-exports.d") / "barctl.exports").exists()
    assert barctl(path, "setup", "undercloud", "--no-packages", "--check").exit_code == 0
