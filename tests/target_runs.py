"""Runs on a backup target as the manifest contract lays them out (barctl.run.manifest), for
tests of retention and `barctl backups`: a manifest's text, and a run directory written on disk
(the lab's export directory is the backup node's `/ctl_plane_backups`)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

from barctl.history.records import run_id_parts
from barctl.run import manifest
from barctl.run.manifest import Manifest, ManifestFile, Target, Verification

DUMP_TRAILER = "-- Dump completed on 2026-11-30  2:31:00\n"


def run_id(started: datetime, plan: str = "controlplane", suffix: str = "a1") -> str:
    """A run id as `new_run_id` makes it."""
    return f"{started:%Y%m%dT%H%M%SZ}-{plan}-{suffix}"


def sample(
    node: str, run: str, *, passed: bool = True, files: dict[str, bytes] | None = None
) -> Manifest:
    """The manifest of `node`'s run `run` listing `files` (relative path: content)."""
    parts = run_id_parts(run)
    assert parts is not None, run
    started, plan = parts
    listed = tuple(
        ManifestFile(path, _kind(path), len(content), hashlib.sha256(content).hexdigest())
        for path, content in (files or {}).items()
    )
    reason = None if passed else "archive: gzip -t failed: unexpected end of file"
    checked = started + timedelta(minutes=5)
    return Manifest(
        node=node,
        run_id=run,
        plan=plan,
        started_at=started,
        finished_at=checked,
        rear_version="2.6",
        uefi=False,
        barctl_version="0.1.0",
        policy_sha256="d" * 64,
        target=Target("nfs", "/ctl_plane_backups"),
        files=listed,
        verification=Verification("full", passed, reason, checked),
    )


def _kind(path: str) -> manifest.FileKind:
    if path.endswith(".iso"):
        return "iso"
    if path.startswith(f"{manifest.RESTORE_DIRECTORY}/"):
        kind = manifest.restore_kind(path.split("/", 1)[1])
        assert kind is not None, path
        return kind
    return "archive"


def run_files(node: str, run: str) -> dict[str, bytes]:
    """ISO, archive and a database dump, as a verified NFS run leaves them."""
    return {
        f"{node}-{run}.iso": b"ISO " + run.encode(),
        "backup.tar.gz": b"ARCHIVE " + run.encode(),
        manifest.restore_path("openstack-backup-mysql.sql"): DUMP_TRAILER.encode(),
    }


def write_run(directory: Path, node: str, run: str, *, state: str = "verified") -> Path:
    """`<directory>/<node>/<run>` with its files and, unless `state` is "incomplete", the
    manifest written last (verified or failed)."""
    files = run_files(node, run)
    where = directory / node / run
    for path, content in files.items():
        (where / path).parent.mkdir(parents=True, exist_ok=True)
        (where / path).write_bytes(content)
    if state != "incomplete":
        text = manifest.render(sample(node, run, passed=state == "verified", files=files))
        (where / manifest.MANIFEST_NAME).write_text(text)
    return where
