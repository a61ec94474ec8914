"""The restore drill over real files: a run directory under tmp_path read by the real tools
(sha256sum, tar, dd, od, gzip, cpio) through `tests.fakes.LocalRunner`, as on the backup node."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from barctl.model import Node
from barctl.run import drill, manifest, rear_config, target_listing
from barctl.run.manifest import Manifest
from barctl.run.plan import BackupTarget
from barctl.run.rear_config import RearSettings, RearTarget
from tests.fakes import FakeRunner, LocalRunner
from tests.target_runs import run_id, sample

pytestmark = pytest.mark.skipif(not shutil.which("xorriso"), reason="xorriso: ./dev installs it")

BACKUP = Node("backup-0", "198.18.0.14", "root")
OLDER = run_id(datetime(2026, 11, 28, 2, 30, tzinfo=timezone.utc))
NEWER = run_id(datetime(2026, 11, 29, 2, 30, tzinfo=timezone.utc))
DUMP = "restore/openstack-backup-mysql.sql"


def archive() -> bytes:
    """A gzip'd tar of two members, as ReaR's backup.tar.gz."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("etc/hostname", "var/lib/barctl/run/openstack-backup-mysql.sql"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
    return buffer.getvalue()


def rescue_iso(path: Path, target: RearTarget, prefix: str, inside: bytes | None = None) -> None:
    """An ISO 9660 image holding isolinux/initrd.cgz (gzip'd newc cpio) whose etc/rear has
    barctl's local.conf and a rescue.conf naming NETFS_PREFIX, as ReaR builds it; with
    `inside`, the archive at backup/backup.tar.gz (SFTP: BACKUP_URL=iso:///backup)."""
    stage = path.parent / "stage"
    rear = stage / "rootfs" / "etc" / "rear"
    rear.mkdir(parents=True)
    (rear / "local.conf").write_text(rear_config.render_local_conf(target, RearSettings()))
    (rear / "rescue.conf").write_text(f'CONFIG_DIR="/etc/rear"\nNETFS_PREFIX={prefix}\n')
    (stage / "iso" / "isolinux").mkdir(parents=True)
    pack = 'find . ! -name "*~" | cpio -H newc --create --quiet | gzip'
    initrd = subprocess.run(
        ["sh", "-c", pack], cwd=stage / "rootfs", check=True, capture_output=True
    )
    (stage / "iso" / "isolinux" / "initrd.cgz").write_bytes(initrd.stdout)
    if inside is not None:
        (stage / "iso" / "backup").mkdir()
        (stage / "iso" / "backup" / "backup.tar.gz").write_bytes(inside)
    # A boot image placeholder: verification reads only ISOs with an El Torito boot record
    # (output/ISO/Linux-i386/820_create_iso_image.sh's -b/-c arguments).
    (stage / "iso" / "isolinux" / "isolinux.bin").write_bytes(bytes(2048))
    boot = ["-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot"]
    subprocess.run(
        ["xorriso", "-as", "mkisofs", "-quiet", *boot, "-boot-load-size", "4", "-R", "-J",
         "-o", str(path), str(stage / "iso")],
        check=True,
        capture_output=True,
    )  # fmt: skip
    shutil.rmtree(stage)


def written(directory: Path, node: str, run: str, *, passed: bool = True) -> Manifest:
    """`<directory>/<node>/<run>` with a real ISO, archive and dump; its manifest."""
    where = directory / node / run
    (where / "restore").mkdir(parents=True)
    target = RearTarget("nfs", "198.18.0.14", str(directory))
    rescue_iso(where / f"{node}-{run}.iso", target, f"{node}/{run}")
    (where / "backup.tar.gz").write_bytes(archive())
    (where / DUMP).write_text("-- Dump completed on 2026-11-28\n")
    files = {
        name: (where / name).read_bytes() for name in (f"{node}-{run}.iso", "backup.tar.gz", DUMP)
    }
    found = sample(node, run, passed=passed, files=files)
    (where / manifest.MANIFEST_NAME).write_text(manifest.render(found))
    return found


def scope(directory: Path) -> drill.Scope:
    """A drill of ctl-0 on a target whose directory is `directory`."""
    rear = RearTarget("nfs", "198.18.0.14", str(directory))
    target = BackupTarget(BACKUP, str(directory), rear)
    return drill.Scope((Node("ctl-0", "198.18.0.11", "root"),), target, 60, 600)


def listed(directory: Path) -> target_listing.Listing:
    """What the target holds for ctl-0."""
    return target_listing.read_target(LocalRunner(), BACKUP, str(directory), ("ctl-0",), 30)


def test_a_sound_run_is_restorable_and_only_read_on_the_target(tmp_path: Path) -> None:
    """The newest *verified* run (not a newer failed one) is proven with the real tools, every
    command on the backup node and none changing anything; nothing on the target changes."""
    written(tmp_path, "ctl-0", OLDER)
    written(tmp_path, "ctl-0", NEWER, passed=False)
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    runner = LocalRunner()
    verdict = drill.drill_node(runner, scope(tmp_path), listed(tmp_path), "ctl-0")
    assert verdict.passed, verdict.reason
    assert verdict.reason == f"run {OLDER} restorable"
    assert {call.node for call in runner.calls} == {"backup-0"}
    assert {call.name for call in runner.calls} == {
        "checksums", "archive_listing", "iso_sectors", "initrd_member",
    }  # fmt: skip
    assert before == {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}


def test_a_tampered_file_fails_the_drill_naming_it(tmp_path: Path) -> None:
    """One byte appended to the dump on the target: ctl-0 fails with the file and its sha256."""
    written(tmp_path, "ctl-0", OLDER)
    with (tmp_path / "ctl-0" / OLDER / DUMP).open("a") as handle:
        handle.write("x")
    verdict = drill.drill_node(LocalRunner(), scope(tmp_path), listed(tmp_path), "ctl-0")
    assert not verdict.passed
    assert verdict.reason.startswith(f"run {OLDER}: {DUMP}: sha256 ")


def test_a_truncated_archive_and_an_iso_of_another_run_are_named(tmp_path: Path) -> None:
    """A truncated archive fails tar; an ISO whose rescue.conf names another run would restore
    that run: both named, with the sums re-recorded so only these checks can fail."""
    found = written(tmp_path, "ctl-0", OLDER)
    where = tmp_path / "ctl-0" / OLDER
    data = (where / "backup.tar.gz").read_bytes()
    (where / "backup.tar.gz").write_bytes(data[: len(data) // 2])
    iso = where / f"ctl-0-{OLDER}.iso"
    iso.unlink()
    rescue_iso(iso, RearTarget("nfs", "198.18.0.14", str(tmp_path)), f"ctl-0/{NEWER}")
    sums = {
        item.path: hashlib.sha256((where / item.path).read_bytes()).hexdigest()
        for item in found.files
    }
    files = tuple(
        manifest.ManifestFile(item.path, item.kind, item.size_bytes, sums[item.path])
        for item in found.files
    )
    (where / manifest.MANIFEST_NAME).write_text(manifest.render(sample_with(found, files)))
    verdict = drill.drill_node(LocalRunner(), scope(tmp_path), listed(tmp_path), "ctl-0")
    assert "backup.tar.gz: tar -t failed" in verdict.reason
    assert f"NETFS_PREFIX is 'ctl-0/{NEWER}', not ctl-0/{OLDER}" in verdict.reason


def sample_with(found: Manifest, files: tuple[manifest.ManifestFile, ...]) -> Manifest:
    """`found` listing `files` instead."""
    return Manifest(**{**vars(found), "files": files})


def test_a_node_without_a_verified_run_fails_without_reading_anything(tmp_path: Path) -> None:
    """Only a failed run: the drill fails the node and runs nothing on the target."""
    written(tmp_path, "ctl-0", NEWER, passed=False)
    runner = FakeRunner()
    verdict = drill.drill_node(runner, scope(tmp_path), listed(tmp_path), "ctl-0")
    assert (verdict.passed, verdict.reason) == (False, "no verified run on the target")
    assert runner.calls == []


def sftp_run(directory: Path, inside: bytes | None) -> None:
    """ctl-0's SFTP run: the ISO alone (the archive inside it, or not), and its manifest."""
    where = directory / "ctl-0" / OLDER
    where.mkdir(parents=True)
    target = RearTarget("sftp", "198.18.0.14", str(directory), "backup")
    rescue_iso(where / f"ctl-0-{OLDER}.iso", target, f"ctl-0/{OLDER}", inside)
    files = {f"ctl-0-{OLDER}.iso": (where / f"ctl-0-{OLDER}.iso").read_bytes()}
    (where / manifest.MANIFEST_NAME).write_text(
        manifest.render(sample("ctl-0", OLDER, files=files))
    )


def test_sftp_archive_inside_the_iso_is_listed(tmp_path: Path) -> None:
    """SFTP: the archive is read out of the ISO and listed; an ISO without it fails, named."""
    rear = RearTarget("sftp", "198.18.0.14", str(tmp_path), "backup")
    drilled = drill.Scope(
        (Node("ctl-0", "198.18.0.11", "root"),), BackupTarget(BACKUP, str(tmp_path), rear), 60, 600
    )
    sftp_run(tmp_path, archive())
    verdict = drill.drill_node(LocalRunner(), drilled, listed(tmp_path), "ctl-0")
    assert verdict.passed, verdict.reason
    shutil.rmtree(tmp_path / "ctl-0")
    sftp_run(tmp_path, None)
    verdict = drill.drill_node(LocalRunner(), drilled, listed(tmp_path), "ctl-0")
    assert verdict.reason == f"run {OLDER}: ctl-0-{OLDER}.iso: no backup/ directory"
