"""The gate refuses a ReaR set-up barctl cannot run (issue 10 item 4), changing nothing anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import Lab
from tests.engine.helpers import barctl, called, changes, history, policy_for

pytestmark = pytest.mark.lab

# What RHEL 8's rear RPM installs (issue 10): the same minute as the example undercloud schedule.
RPM_CRON = "30 1 * * * root /usr/sbin/rear checklayout || /usr/sbin/rear mkrescue\n"
GIB = 1 << 30


def refused(lab: Lab, path: Path, plan: str = "controlplane") -> str:
    """Run `plan`; assert the gate refused it with zero changes on any node; return stdout."""
    result = barctl(path, "run", plan)
    assert result.exit_code == 3, result.stdout + result.stderr
    assert changes(lab) == []
    assert history(path)[0]["outcome"] == "refused"
    return result.stdout


def test_rear_cron_file_on_a_controller_refuses(lab: Lab, tmp_path: Path) -> None:
    """ctl-1 has the rear package's /etc/cron.d/rear: refused naming it; the real one untouched."""
    path = policy_for(lab, tmp_path)  # setup removes the file: it comes back afterwards
    (lab.host_directory("ctl-1", "etc-cron.d") / "rear").write_text(RPM_CRON)
    stdout = refused(lab, path)
    assert (
        "REFUSED  ctl-1: /etc/cron.d/rear exists (the rear package's nightly mkrescue collides"
        " with barctl's runs): remove it"
    ) in stdout
    assert "REFUSED  ctl-0" not in stdout and "REFUSED  ctl-2" not in stdout
    assert lab.ssh("ctl-0", "test ! -e /etc/cron.d/rear").returncode == 0
    assert not Path("/etc/cron.d/rear").exists()


def test_rear_cron_file_on_the_undercloud_refuses(lab: Lab, tmp_path: Path) -> None:
    """The undercloud plan is refused the same way, before its database dump."""
    path = policy_for(lab, tmp_path)
    (lab.host_directory("undercloud", "etc-cron.d") / "rear").write_text(RPM_CRON)
    stdout = refused(lab, path, "undercloud")
    assert "REFUSED  undercloud: /etc/cron.d/rear exists" in stdout


def test_iso_size_limit_on_rear_2_6_refuses(lab: Lab, tmp_path: Path) -> None:
    """rear.iso_file_size_limit_bytes set, ReaR 2.6 (RHEL 8's) on the nodes: each is refused."""
    path = policy_for(lab, tmp_path, rear={"iso_file_size_limit_bytes": 4 * GIB})
    stdout = refused(lab, path)
    for host in ("ctl-0", "ctl-1", "ctl-2"):
        assert (
            f"REFUSED  {host}: ReaR 2.6 has no ISO_FILE_SIZE_LIMIT (from 2.7), which the policy"
            " sets (rear.iso_file_size_limit_bytes)"
        ) in stdout


def test_iso_size_limit_on_rear_2_7_passes_the_gate(lab: Lab, tmp_path: Path) -> None:
    """The same policy on ReaR 2.7 nodes passes the gate: the probe reads the version."""
    lab.set_rear("2.7")
    path = policy_for(lab, tmp_path, rear={"iso_file_size_limit_bytes": 4 * GIB})
    result = barctl(path, "precheck", "controlplane")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert changes(lab) == []


def test_target_below_the_free_space_floor_refuses(lab: Lab, tmp_path: Path) -> None:
    """backup-0 has 1.2 GiB free under the export, the floor is 10 GiB: refused, both named."""
    lab.set_free_space("backup-0", int(1.2 * GIB))
    path = policy_for(lab, tmp_path, backup_target={"min_free_bytes": 10 * GIB})
    stdout = refused(lab, path)
    assert (
        "REFUSED  backup-0: 1.2 GiB free under /ctl_plane_backups, below the floor of 10 GiB"
        " (backup_target.min_free_bytes)"
    ) in stdout


def test_healthy_lab_passes_the_gate_with_every_new_probe(lab: Lab, tmp_path: Path) -> None:
    """No cron file, ReaR 2.6, 11 GiB free over a 10 GiB floor: passes, having run each probe."""
    lab.set_free_space("backup-0", 11 * GIB)
    path = policy_for(lab, tmp_path, backup_target={"min_free_bytes": 10 * GIB})
    result = barctl(path, "precheck", "controlplane")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert called(lab, "backup-0", "df -B1 --output=avail /ctl_plane_backups")
    assert all(called(lab, host, "rear -V") for host in ("ctl-0", "ctl-1", "ctl-2"))
    assert changes(lab) == []


def test_local_conf_edited_on_one_controller_refuses(lab: Lab, tmp_path: Path) -> None:
    """ctl-2's local.conf edited after setup: refused naming ctl-2, the line and `barctl setup`;
    the file is left as it is (a run never writes local.conf)."""
    path = policy_for(lab, tmp_path)
    local = lab.host_directory("ctl-2", "etc-rear") / "local.conf"
    edited = local.read_text().replace('BACKUP="NETFS"', 'BACKUP="REQUESTRESTORE"')
    local.write_text(edited)
    stdout = refused(lab, path)
    assert (
        "REFUSED  ctl-2: /etc/rear/local.conf differs from barctl's at line 4"
        " ('BACKUP=\"REQUESTRESTORE\"', barctl's 'BACKUP=\"NETFS\"'): run `barctl setup`"
    ) in stdout
    assert "REFUSED  ctl-0" not in stdout and "REFUSED  ctl-1" not in stdout
    assert local.read_text() == edited


def test_missing_local_conf_on_the_undercloud_refuses(lab: Lab, tmp_path: Path) -> None:
    """A node never set up (no local.conf) is refused before its database dump."""
    path = policy_for(lab, tmp_path)
    (lab.host_directory("undercloud", "etc-rear") / "local.conf").unlink()
    stdout = refused(lab, path, "undercloud")
    assert "REFUSED  undercloud: /etc/rear/local.conf is missing: run `barctl setup`" in stdout


def test_export_not_offered_to_a_controller_refuses(lab: Lab, tmp_path: Path) -> None:
    """backup-0 re-exported without ctl-1 (a hand edit, then exportfs -ra): ctl-1 is refused
    from its own showmount, naming whom it is exported to; the others pass that check."""
    path = policy_for(lab, tmp_path)
    exports = lab.host_directory("backup-0", "etc-exports.d") / "barctl.exports"
    exports.write_text(exports.read_text().replace(f" {lab.address('ctl-1')}(", " 198.18.0.1("))
    assert lab.ssh("backup-0", "exportfs -ra").returncode == 0
    lab.clear_invocations()
    stdout = refused(lab, path)
    server = lab.address("backup-0")
    assert f"REFUSED  ctl-1: {server}:/ctl_plane_backups is not exported to" in stdout
    assert f"{lab.address('ctl-1')} (only to " in stdout and "run `barctl setup`" in stdout
    assert "REFUSED  ctl-0" not in stdout and "REFUSED  ctl-2" not in stdout
    assert called(lab, "ctl-1", f"showmount -e {server}")


def test_sftp_login_refused_for_roots_key_refuses(lab: Lab, tmp_path: Path) -> None:
    """SFTP target whose account lists ctl-0's root key only: ctl-1 and ctl-2 cannot log in
    without a prompt and are refused before anything changes; ctl-0 passes."""
    sftp = {"host": lab.address("backup-0"), "user": "backup", "path": "/ctl_plane_backups"}
    path = policy_for(lab, tmp_path, backup_target={"nfs": None, "sftp": sftp})
    keys = {host: lab.root_ssh_key(host) for host in ("ctl-0", "ctl-1", "ctl-2")}
    lab.set_sftp_account("backup", public_keys=[keys["ctl-0"]])
    lab.set_sftp_host_key_check(True)
    stdout = refused(lab, path)
    for host in ("ctl-1", "ctl-2"):
        assert (
            f"REFUSED  {host}: cannot log in to the SFTP target as backup@{sftp['host']} without"
            f" a prompt (backup@{sftp['host']}: Permission denied (publickey).)"
        ) in stdout
    assert "REFUSED  ctl-0" not in stdout
    assert called(lab, "ctl-0", "BatchMode=yes")
