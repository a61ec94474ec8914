"""The ISO of a run restores that run: boot each node's ISO in the lab, plain `rear recover`.

The lab's rear stand-in builds the ISO as ReaR 2.4-2.8 do (the config directory copied, only
`NETFS_*` persisted into rescue.conf) and `lab.boot_and_recover` resolves the archive as
070_set_backup_archive.sh does, without `-C` (lab/README.md, "ReaR in the lab").
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lab import Lab, rear_iso
from tests.engine.helpers import history, policy_for, run_backup

pytestmark = pytest.mark.lab

CONTROLLERS = ("ctl-0", "ctl-1", "ctl-2")
# A vendor-role local.conf (tripleo.md §4a): its own archive name and URL. The rescue system
# reads local.conf, so a run that left it in place restored this, not the run's archive.
VENDOR_LOCAL_CONF = (
    'OUTPUT=ISO\nBACKUP=NETFS\nBACKUP_PROG_ARCHIVE="$(hostname)-vendor"\n'
    "BACKUP_URL=nfs://198.18.0.254/elsewhere\n"
)


def artifacts(policy: Path, run_id: str) -> dict[str, list[str]]:
    """Each node's recorded artifact paths for run `run_id`."""
    (run,) = [row for row in history(policy) if row["run_id"] == run_id]
    rows = run["nodes"]
    assert isinstance(rows, list)
    return {row["node"]: [str(item) for item in row["artifacts"]] for row in rows}


def nfs_iso(lab: Lab, node: str, run_id: str) -> Path:
    """The ISO of `node`'s run on the lab export."""
    return lab.export_directory / node / run_id / f"{node}-{run_id}.iso"


def assert_nfs_restores(lab: Lab, policy: Path, nodes: tuple[str, ...], run_id: str) -> None:
    """Each node's ISO of `run_id` resolves exactly that run's archive at the policy's target,
    and it is the archive barctl recorded for the node."""
    recorded = artifacts(policy, run_id)
    for node in nodes:
        result = lab.boot_and_recover(node, nfs_iso(lab, node, run_id))
        assert result.ok, result.message
        assert result.backup_url == f"nfs://{lab.address('backup-0')}/ctl_plane_backups"
        assert result.archive == lab.export_directory / node / run_id / "backup.tar.gz"
        assert f"/ctl_plane_backups/{node}/{run_id}/backup.tar.gz" in recorded[node]


def test_each_controller_iso_recovers_its_own_runs_archive(lab: Lab, tmp_path: Path) -> None:
    """Rolling backup twice: every controller's ISO of run 1 finds run 1's archive, of run 2
    run 2's, also after run 2; a vendor local.conf is replaced by setup and kept once beside it."""
    (lab.host_directory("ctl-0", "etc-rear") / "local.conf").write_text(VENDOR_LOCAL_CONF)
    policy = policy_for(lab, tmp_path)
    first = run_backup(policy, "controlplane")
    assert_nfs_restores(lab, policy, CONTROLLERS, first)
    second = run_backup(policy, "controlplane")
    assert second != first
    assert_nfs_restores(lab, policy, CONTROLLERS, second)
    assert_nfs_restores(lab, policy, CONTROLLERS, first)
    etc_rear = lab.host_directory("ctl-0", "etc-rear")
    assert (etc_rear / "local.conf.before-barctl").read_text() == VENDOR_LOCAL_CONF
    assert (etc_rear / "local.conf").read_text().startswith("# Managed by barctl")
    assert (etc_rear / "local.conf").stat().st_mode & 0o777 == 0o600
    assert lab.is_cluster_healthy()


def test_undercloud_iso_recovers_its_own_runs_archive(lab: Lab, tmp_path: Path) -> None:
    """Undercloud twice: each run's ISO finds that run's archive, the first still after the
    second."""
    policy = policy_for(lab, tmp_path)
    first = run_backup(policy, "undercloud")
    second = run_backup(policy, "undercloud")
    assert_nfs_restores(lab, policy, ("undercloud",), second)
    assert_nfs_restores(lab, policy, ("undercloud",), first)


def iso_rescue_prefix(iso: Path) -> str:
    """NETFS_PREFIX as the ISO's rescue.conf carries it into the rescue system."""
    text = rear_iso.iso_members(iso)["rootfs/etc/rear/rescue.conf"].decode()
    lines = [line for line in text.splitlines() if line.startswith("NETFS_PREFIX=")]
    return lines[-1].split("=", 1)[1].strip("'\"")


def sftp_policy(lab: Lab, tmp_path: Path, nodes: tuple[str, ...]) -> Path:
    """An SFTP target on the backup node; lftp logs in with root's own key on every node."""
    keys = [lab.root_ssh_key(node) for node in nodes]
    lab.set_sftp_account("backup", public_keys=keys)
    sftp = {"host": lab.address("backup-0"), "user": "backup", "path": "/ctl_plane_backups"}
    return policy_for(lab, tmp_path, backup_target={"nfs": None, "sftp": sftp})


def assert_sftp_restores(lab: Lab, node: str, run_id: str) -> str:
    """The node's ISO of `run_id` carries its archive and recovers from it; the ISO's sha256."""
    iso = nfs_iso(lab, node, run_id)  # lftp's upload, moved into the run directory by barctl
    result = lab.boot_and_recover(node, iso)
    assert result.ok, result.message
    assert result.backup_url == "iso:///backup"
    assert result.shown.endswith("/outputfs/backup/backup.tar.gz")
    assert iso_rescue_prefix(iso) == f"{node}/{run_id}"
    return hashlib.sha256(iso.read_bytes()).hexdigest()


@pytest.mark.parametrize("version", ["2.4", "2.8"])
def test_sftp_iso_carries_and_recovers_its_own_runs_archive(
    lab: Lab, tmp_path: Path, version: str
) -> None:
    """SFTP on ReaR 2.4 and 2.8, no password: each run's ISO holds its archive and recovers from
    it; the first run's ISO is untouched by the second."""
    lab.set_rear(version)
    policy = sftp_policy(lab, tmp_path, ("undercloud",))
    first = run_backup(policy, "undercloud")
    first_hash = assert_sftp_restores(lab, "undercloud", first)
    second = run_backup(policy, "undercloud")
    assert_sftp_restores(lab, "undercloud", second)
    assert assert_sftp_restores(lab, "undercloud", first) == first_hash
