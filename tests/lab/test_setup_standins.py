"""The lab's stand-ins for `barctl setup` and the gate's reachability probes answer as the real
tools do (lab/setup_standins.py: rpm(8), dnf(8), exportfs(8), showmount(8), findmnt(8), ssh(1))."""

from __future__ import annotations

import pytest

from lab import Lab

pytestmark = pytest.mark.lab


def test_rpm_query_prints_names_and_counts_the_missing(lab: Lab) -> None:
    """`rpm -q --queryformat` prints installed names, "package X is not installed" for the
    others, and exits with the number missing."""
    shown = lab.ssh("ctl-0", "rpm -q --queryformat '%{NAME}\\n' rear lftp syslinux")
    assert shown.returncode == 2
    assert shown.stdout == (
        "rear\npackage lftp is not installed\npackage syslinux is not installed\n"
    )


def test_dnf_installs_only_with_yes_and_known_names(lab: Lab) -> None:
    """Without -y dnf aborts at its prompt; an unknown name is no match; -y installs."""
    assert lab.ssh("ctl-1", "dnf install lftp").returncode == 1
    assert "lftp" not in lab.installed_packages("ctl-1")
    unknown = lab.ssh("ctl-1", "dnf -y install lftp nosuchpackage")
    assert unknown.returncode == 1
    assert "Error: Unable to find a match: nosuchpackage" in unknown.stderr
    assert lab.ssh("ctl-1", "dnf -y install lftp").returncode == 0
    assert "lftp" in lab.installed_packages("ctl-1")


def test_showmount_lists_what_exportfs_made_live(lab: Lab) -> None:
    """Before exportfs -ra the server answers an RPC error; after, its export file's table in
    showmount's layout; a down server is an RPC error again."""
    server = lab.address("backup-0")
    assert lab.ssh("ctl-0", f"showmount -e {server}").returncode == 1
    exports = lab.host_directory("backup-0", "etc-exports.d") / "t.exports"
    exports.write_text(f"# comment\n/ctl_plane_backups {lab.address('ctl-0')}(rw) 198.18.0.9(ro)\n")
    assert lab.ssh("backup-0", "exportfs -ra").returncode == 0
    shown = lab.ssh("ctl-0", f"showmount -e {server}")
    assert shown.stdout == (
        f"Export list for {server}:\n/ctl_plane_backups {lab.address('ctl-0')},198.18.0.9\n"
    )


def test_findmnt_answers_the_ceph_mount_and_ssh_the_sftp_login(lab: Lab) -> None:
    """findmnt gives a monitor node's /var/lib/ceph mount; ssh to the backup node logs in with
    root's key only when the account lists it (exit 255 and ssh's message otherwise)."""
    found = lab.ssh("ctl-2", "findmnt -r -n -o SOURCE,FSTYPE,TARGET -T /var/lib/ceph")
    assert found.stdout == "/dev/vda2 xfs /\n"
    server = lab.address("backup-0")
    login = f"ssh -n -o BatchMode=yes -l backup -s -- {server} sftp"
    lab.set_sftp_account("backup", public_keys=[lab.root_ssh_key("ctl-0")])
    assert lab.ssh("ctl-0", login).returncode == 0
    denied = lab.ssh("ctl-1", login)
    assert denied.returncode == 255
    assert denied.stderr == f"backup@{server}: Permission denied (publickey).\n"
