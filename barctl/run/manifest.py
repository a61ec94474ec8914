"""The manifest of one node's run on the backup target: `barctl-manifest.json` (issue 11).

Pure: frozen dataclasses and `render(manifest) -> str`; `manifest_parse.parse(text, source)`
reads one back.

Layout on the target, `<dir>` being the policy's target directory (NFS export or SFTP path):

    <dir>/<node>/<run_id>/<node>-<run_id>.iso      ReaR's ISO (ISO_PREFIX)
    <dir>/<node>/<run_id>/backup.tar.gz            ReaR's archive (NFS only: SFTP has it in the ISO)
    <dir>/<node>/<run_id>/restore/<file>           restore material copied by barctl
    <dir>/<node>/<run_id>/barctl-manifest.json     this manifest, written last

A manifest is written only after verification (passed or not): a run directory without one is
incomplete (crashed or still going) and never counts as a verified run. Retention deletes what a
manifest lists, so `manifest_parse.parse` refuses any file path that could leave the run directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

# Python 3.9 has no datetime.UTC (issue 13 moves the floor there).
UTC_ZONE = timezone.utc
SCHEMA = 1
MANIFEST_NAME = "barctl-manifest.json"
RESTORE_DIRECTORY = "restore"

FileKind = Literal[
    "iso", "archive", "database_dump", "grants", "cib", "pacemaker_config", "ceph_auth"
]
FILE_KINDS: tuple[str, ...] = (
    "iso",
    "archive",
    "database_dump",
    "grants",
    "cib",
    "pacemaker_config",
    "ceph_auth",
)
# The restore material a node may produce in /var/lib/barctl/<run_id> (plan.py), by kind: the
# files the guide's 4.4 (galera) and 4.5 (pacemaker, ceph) manual restores start from.
RESTORE_MATERIAL: tuple[tuple[str, FileKind], ...] = (
    ("openstack-backup-mysql.sql", "database_dump"),
    ("openstack-backup-mysql-grants.sql", "grants"),
    ("cib.xml", "cib"),
    ("pacemaker_backup.tar.bz2", "pacemaker_config"),
    ("ceph_auth_export.bak", "ceph_auth"),
)
Scheme = Literal["nfs", "sftp"]
VerifyMode = Literal["full", "quick"]


@dataclass(frozen=True)
class ManifestFile:
    """One file of the run, `path` relative to `<dir>/<node>/<run_id>`, checksummed on the
    target."""

    path: str
    kind: FileKind
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class Target:
    """Where the run was written: the scheme and the policy's target directory."""

    scheme: Scheme
    directory: str


@dataclass(frozen=True)
class Verification:
    """The verdict of the checks on the target; `reason` is None when they passed."""

    mode: VerifyMode
    passed: bool
    reason: str | None
    checked_at: datetime


@dataclass(frozen=True)
class Manifest:
    """What one node's run left on the target, and whether it was proven restorable."""

    node: str
    run_id: str
    plan: str
    started_at: datetime
    finished_at: datetime
    rear_version: str
    uefi: bool
    barctl_version: str
    policy_sha256: str
    target: Target
    files: tuple[ManifestFile, ...]
    verification: Verification
    schema: int = SCHEMA

    @property
    def run_directory(self) -> str:
        """`<node>/<run_id>`, relative to the target directory."""
        return run_directory(self.node, self.run_id)

    def files_of(self, kind: FileKind) -> tuple[ManifestFile, ...]:
        """The files of one kind, in manifest order."""
        return tuple(item for item in self.files if item.kind == kind)

    @property
    def size_bytes(self) -> int:
        """Bytes of every file listed."""
        return sum(item.size_bytes for item in self.files)


def run_directory(node: str, run_id: str) -> str:
    """`<node>/<run_id>`: a run's directory relative to the target directory."""
    return f"{node}/{run_id}"


def manifest_path(directory: str, node: str, run_id: str) -> str:
    """Absolute path of a run's manifest under the target directory `directory`."""
    return f"{directory.rstrip('/')}/{run_directory(node, run_id)}/{MANIFEST_NAME}"


def restore_path(name: str) -> str:
    """Path of restore material `name`, relative to the run directory."""
    return f"{RESTORE_DIRECTORY}/{name}"


def restore_kind(name: str) -> FileKind | None:
    """The kind of restore material file `name`, None for a file that is not restore material."""
    return dict(RESTORE_MATERIAL).get(name)


def rfc3339(moment: datetime) -> str:
    """`2026-11-30T14:12:28Z`: an aware datetime in UTC, to the second."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime in a manifest: {moment.isoformat()}")
    return moment.astimezone(UTC_ZONE).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- render -----------------------------------------------------------------------------------


def render(manifest: Manifest) -> str:
    """The manifest as JSON text (two-space indent, keys in contract order, final newline)."""
    verification = manifest.verification
    document = {
        "schema": manifest.schema,
        "node": manifest.node,
        "run_id": manifest.run_id,
        "plan": manifest.plan,
        "started_at": rfc3339(manifest.started_at),
        "finished_at": rfc3339(manifest.finished_at),
        "rear_version": manifest.rear_version,
        "uefi": manifest.uefi,
        "barctl_version": manifest.barctl_version,
        "policy_sha256": manifest.policy_sha256,
        "target": {"scheme": manifest.target.scheme, "directory": manifest.target.directory},
        "files": [
            {
                "path": item.path,
                "kind": item.kind,
                "size_bytes": item.size_bytes,
                "sha256": item.sha256,
            }
            for item in manifest.files
        ],
        "verification": {
            "mode": verification.mode,
            "passed": verification.passed,
            "reason": verification.reason,
            "checked_at": rfc3339(verification.checked_at),
        },
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
