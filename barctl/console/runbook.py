"""`barctl restore-runbook NODE [RUN_ID]`: the vendor guide's chapter 4 for one node and one run.

Pure: a `Subject` (the node, the run, where its files are on the backup target, read from the
run's manifest) in, a `Runbook` out, printed as text or as JSON by `runbook_output` (schema in
docs/restore.md, "Runbook for one node and run"). Every path, address and name is filled in, so
an operator under pressure copies commands instead of composing them from docs/restore.md's
placeholders. The sections follow the guide (4.1 ceph monitors, 4.2
undercloud, 4.3 control plane, 4.4 galera, 4.5 undercloud database); their content is in
`runbook_recover` and `runbook_database`.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from barctl.run import rear_config
from barctl.run.manifest import Manifest, rfc3339, run_directory
from barctl.run.plan import BackupTarget
from barctl.run.rear_config import RearTarget

UNDERCLOUD_PLAN = "undercloud"
# Where the runbook's commands mount an NFS target on the node being restored (read-only).
TARGET_MOUNT = "/mnt/barctl-target"

# The restore material's kinds and names (contract: docs/design.md, the manifest's `files`).
RESTORE_FILES = {
    "database_dump": "openstack-backup-mysql.sql",
    "grants": "openstack-backup-mysql-grants.sql",
    "cib": "cib.xml",
    "pacemaker_config": "pacemaker_backup.tar.bz2",
    "ceph_auth": "ceph_auth_export.bak",
}


@dataclass(frozen=True)
class RunFile:
    """One file of the run on the backup target: its absolute path there, size and sha256."""

    kind: str
    path: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class Subject:
    """What the runbook is about: one node's one run, as its manifest on the target says."""

    node: str
    address: str
    plan: str
    run_id: str
    target: RearTarget
    backup_node: str
    backup_address: str
    archive_name: str
    files: tuple[RunFile, ...]
    uefi: bool | None = None
    verification: str = ""
    # Every node the same run backed up (restore all controllers from one run id).
    run_nodes: tuple[str, ...] = ()

    @property
    def run_directory(self) -> str:
        """`<dir>/<node>/<run id>` on the backup node."""
        return f"{self.target.path}/{rear_config.run_prefix(self.node, self.run_id)}"

    @property
    def undercloud(self) -> bool:
        """The undercloud is restored by guide 4.2 and 4.5; every other node by 4.3 and 4.4."""
        return self.plan == UNDERCLOUD_PLAN

    @property
    def ceph_monitor(self) -> bool:
        """The run exported ceph auth only on a node running a ceph monitor (plan_steps.py)."""
        return self.file("ceph_auth") is not None

    @property
    def sudo(self) -> str:
        """The guide runs 4.5 as root on the undercloud, 4.4 as heat-admin with sudo."""
        return "" if self.undercloud else "sudo "

    def file(self, kind: str) -> RunFile | None:
        """The run's file of `kind`, when the run produced one."""
        return next((item for item in self.files if item.kind == kind), None)

    def iso_path(self) -> str:
        """The ISO on the backup node: the manifest's, else where ReaR puts it (rear_config)."""
        found = self.file("iso")
        if found is not None:
            return found.path
        settings = rear_config.RearSettings()
        return rear_config.artifact_paths(self.target, settings, self.node, self.run_id)[0]

    def archive_path(self) -> str | None:
        """The archive `rear recover` opens on an NFS target; None when it is inside the ISO."""
        if self.target.scheme == "sftp":
            return None
        found = self.file("archive")
        return found.path if found is not None else f"{self.run_directory}/{self.archive_name}"

    def mounted(self, path: str) -> str:
        """Where `path` of the backup node is seen under TARGET_MOUNT (an NFS mount) or, for
        SFTP, in the current directory after `sftp` fetched it."""
        if self.target.scheme == "sftp":
            return posixpath.basename(path)
        return TARGET_MOUNT + path[len(self.target.path) :]


@dataclass(frozen=True)
class Step:
    """One instruction and the commands it runs, in order."""

    text: str
    commands: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    """One part of the procedure; `guide` names the vendor guide's section it follows."""

    key: str
    title: str
    guide: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Runbook:
    """The whole procedure for one node and run."""

    subject: Subject
    sections: tuple[Section, ...]


def fetch_commands(subject: Subject, paths: tuple[str, ...]) -> tuple[str, ...]:
    """Commands that make `paths` of the backup node readable on the node being restored."""
    target = subject.target
    if target.scheme == "sftp":
        account = f"{target.user}@{target.host}"
        return tuple(f"{subject.sudo}sftp {account}:{path} ." for path in paths)
    return (
        f"{subject.sudo}mkdir -p {TARGET_MOUNT}",
        f"{subject.sudo}mount -t nfs -o ro {target.host}:{target.path} {TARGET_MOUNT}",
    )


def checksum_commands(subject: Subject, kinds: tuple[str, ...]) -> tuple[str, ...]:
    """`sha256sum -c` of each fetched file against the manifest's sha256."""
    found = [subject.file(kind) for kind in kinds]
    return tuple(
        f"echo '{item.sha256}  {subject.mounted(item.path)}' | {subject.sudo}sha256sum -c -"
        for item in found
        if item is not None
    )


def subject_of(
    found: Manifest, address: str, target: BackupTarget, run_nodes: tuple[str, ...] = ()
) -> Subject:
    """The runbook's subject from a run's manifest and the policy's target: the manifest's
    relative paths made absolute under `<dir>/<node>/<run id>` on the backup node."""
    directory = f"{target.directory.rstrip('/')}/{run_directory(found.node, found.run_id)}"
    files = tuple(
        RunFile(item.kind, f"{directory}/{item.path}", item.size_bytes, item.sha256)
        for item in found.files
    )
    archives = found.files_of("archive")
    archive_name = posixpath.basename(archives[0].path) if archives else ""
    check = found.verification
    verdict = "passed" if check.passed else f"FAILED: {check.reason}"
    return Subject(
        node=found.node,
        address=address,
        plan=found.plan,
        run_id=found.run_id,
        target=target.rear,
        backup_node=target.node.name,
        backup_address=target.node.address,
        archive_name=archive_name or target.settings_for(found.node).archive_name,
        files=files,
        uefi=found.uefi,
        verification=f"{check.mode} verification {verdict} at {rfc3339(check.checked_at)}",
        run_nodes=run_nodes,
    )
