"""Verification on the backup target (issue 11): each command's output judged, checks in order.

The ISO sectors are real `dd | od` output of real xorriso images (tests/data/iso/README.md).
"""

from __future__ import annotations

import threading
from pathlib import Path

from barctl.model import CommandResult, Node
from barctl.run import commands, commands_target, plan, verification, verifier
from barctl.run.commands import RemoteCommand
from barctl.run.rear_config import RearTarget
from tests.fakes import ISO_DATA, Answer, FakeRunner, failed, healthy_target, iso_sectors, ok

TARGET_NODE = Node("backup-0", "198.18.0.9", "root")
NODE = Node("ctl-0", "198.18.0.10", "root")
NFS = plan.BackupTarget(TARGET_NODE, "/backups", RearTarget("nfs", "198.18.0.9", "/backups"))
SFTP = plan.BackupTarget(
    TARGET_NODE, "/backups", RearTarget("sftp", "198.18.0.9", "/backups", "backup")
)
RUN = "20261130T023000Z-controlplane-3f2a"


def _sectors(name: str) -> bytes:
    return verification.octal_dump_bytes((ISO_DATA / name).read_text())


class Steps:
    """The verifier's step runner over a FakeRunner (records nothing)."""

    def __init__(self, fake: FakeRunner) -> None:
        self.fake = fake

    def run(self, node: Node, command: RemoteCommand) -> CommandResult:
        """Run through the fake."""
        return self.fake.run(node, command, abort=threading.Event())

    read = run

    def pipe(
        self, source: Node, read: RemoteCommand, destination: Node, write: RemoteCommand
    ) -> CommandResult:
        """Both sides through the fake; the reader's failure first."""
        reader, writer = self.fake.pipe(source, read, destination, write)
        return writer if reader.ok else reader


def _verify(
    target: plan.BackupTarget = NFS,
    material: tuple[str, ...] = ("openstack-backup-mysql.sql",),
    **answers: Answer,
) -> tuple[verifier.Verified, FakeRunner]:
    script = healthy_target()
    for key, answer in answers.items():  # `node__name` answers on that node only
        node, _, name = key.rpartition("__")
        script[(node, name) if node else name] = answer
    fake = FakeRunner(script)
    subject = verifier.subject(target, "ctl-0", RUN, material)
    return verifier.verify(Steps(fake), TARGET_NODE, NODE, subject, (300, 14400)), fake


def test_real_iso_descriptors_give_the_root_directory() -> None:
    """An ISO made as ReaR makes it reads as ISO 9660 with El Torito; its root is found."""
    facts = verification.iso_facts(_sectors("descriptors.od"))
    assert facts == verification.IsoFacts(root_sector=20, root_bytes=2048)


def test_an_iso_without_a_boot_record_or_not_an_iso_is_a_problem() -> None:
    """No El Torito boot record, or no CD001 at sector 16, is named as the problem."""
    problem = verification.iso_facts(_sectors("descriptors-no-boot-record.od"))
    assert problem == "ISO without an El Torito boot record: it cannot boot the rescue system"
    assert "not an ISO 9660 image" in str(verification.iso_facts(b"ustar" + bytes(20000)))


def test_the_archive_is_found_inside_the_iso_by_its_rock_ridge_name() -> None:
    """The directories of a real image give backup/backup.tar.gz at sector 40, 118 bytes."""
    root = verification.directory_entries(_sectors("root-directory.od"))
    assert [entry.name for entry in root] == ["backup", "isolinux", "rootfs"]
    backup = verification.find_directory(root, "backup")
    assert backup is not None
    inner = verification.directory_entries(_sectors("backup-directory.od"))
    assert verification.file_span(inner, "backup.tar.gz") == (40 * 2048, 118)
    assert verification.file_span(inner, "other.tar.gz") == "missing"


def test_dump_trailer_sizes_and_checksums_are_read_as_the_tools_print_them() -> None:
    """mysqldump's footer, `stat -c '%s %n'` and `sha256sum` lines are interpreted exactly."""
    assert verification.dump_problem("x\n-- Dump completed on 2026-11-30  2:31:07\n") == ""
    assert "cut short" in verification.dump_problem("INSERT INTO `t` VALUES (1),(2")
    assert verification.file_sizes("10 /a\n0 /b\n") == {"/a": 10, "/b": 0}
    assert verification.size_problem(("/a", "/b"), {"/a": 10, "/b": 0}) == (
        "empty on the backup target: /b"
    )
    assert verification.checksums(f"{'a' * 64}  /a\n") == {"/a": "a" * 64}


def test_full_verification_of_an_nfs_run_passes_with_sha256_per_file() -> None:
    """A healthy target: every check runs on it, sha256 measured there; the node's dump is
    streamed beside the artifacts, checksummed on both ends, its trailer read on the copy."""
    verified, fake = _verify()
    assert verified.problem == ""
    iso = f"/backups/ctl-0/{RUN}/ctl-0-{RUN}.iso"
    dump = f"/backups/ctl-0/{RUN}/restore/openstack-backup-mysql.sql"
    assert [artifact.path for artifact in verified.artifacts] == [
        iso,
        f"/backups/ctl-0/{RUN}/backup.tar.gz",
        dump,
    ]
    assert len(verified.digest(iso)) == 64 and len(verified.digest(dump)) == 64
    assert fake.ran("backup-0") == [
        "file_sizes", "iso_sectors", "file_checksums", "compression_test", "archive_listing",
        "copy_restore_material", "file_checksums", "file_sizes", "file_tail",
    ]  # fmt: skip
    assert fake.ran("ctl-0") == ["read_restore_material", "file_checksums"]
    (copy,) = [call for call in fake.calls if call.name == "copy_restore_material"]
    assert copy.argv[-2:] == (f"/backups/ctl-0/{RUN}/restore", "openstack-backup-mysql.sql")


def test_each_failing_check_fails_with_its_reason() -> None:
    """gzip -t, tar --list, the ISO header and the dump trailer each fail the node, named."""
    gzip = failed(1, "gzip: backup.tar.gz: invalid compressed data--crc error")
    assert "gzip -t failed: exit 1: gzip: backup.tar.gz: invalid compressed data--crc error" in (
        _verify(compression_test=gzip)[0].problem
    )
    tar = failed(2, "tar: Unexpected EOF in archive")
    assert "tar --list failed" in _verify(archive_listing=tar)[0].problem

    def no_boot(node: Node, command: RemoteCommand) -> CommandResult:
        return iso_sectors(node, command, "descriptors-no-boot-record.od")

    assert "El Torito" in _verify(iso_sectors=no_boot)[0].problem
    assert "cut short" in _verify(file_tail=ok("INSERT INTO `t` VALUES (1),("))[0].problem
    assert "missing on the backup target" in _verify(file_sizes=ok(""))[0].problem


def test_a_copy_whose_checksum_differs_fails() -> None:
    """The copy's sha256 on the target must be the node's file's: a difference fails, named."""

    def node_differs(node: Node, command: RemoteCommand) -> CommandResult:
        paths = [word for word in command.argv if word.startswith("/")]
        return ok("".join(f"{'0' * 64}  {path}\n" for path in paths))

    verified, _ = _verify(**{"ctl-0__file_checksums": node_differs})
    assert verified.problem == (
        "copy differs from the node's file (sha256): "
        f"/backups/ctl-0/{RUN}/restore/openstack-backup-mysql.sql"
    )


def test_quick_mode_skips_the_two_decompressing_passes() -> None:
    """verify: quick checks presence, size, ISO header and sha256, not gzip -t or tar --list."""
    quick = plan.BackupTarget(TARGET_NODE, "/backups", NFS.rear, verify="quick")
    verified, fake = _verify(quick)
    assert verified.problem == ""
    assert "compression_test" not in fake.ran() and "archive_listing" not in fake.ran()


def test_sftp_reads_the_archive_out_of_the_iso() -> None:
    """SFTP: the ISO lftp left in the target path is moved into the run directory first; the
    archive is found in its backup directory and streamed out of it by dd."""
    verified, fake = _verify(SFTP, material=())
    assert verified.problem == ""
    iso = f"/backups/ctl-0/{RUN}/ctl-0-{RUN}.iso"
    assert fake.calls[0].argv[-2:] == (f"/backups/ctl-0-{RUN}.iso", f"/backups/ctl-0/{RUN}")
    streamed = [call.argv for call in fake.calls if call.name == "compression_test"]
    assert streamed == [commands_target._iso_span(iso, 40 * 2048, 118)]
    assert [artifact.path for artifact in verified.artifacts] == [iso]


def test_sftp_iso_without_the_archive_fails() -> None:
    """An SFTP ISO whose backup directory lacks the archive fails, naming it."""

    def empty_backup(node: Node, command: RemoteCommand) -> CommandResult:
        if "skip=22" in command.argv:  # a backup directory holding other entries only
            return ok((ISO_DATA / "root-directory.od").read_text())
        return iso_sectors(node, command)

    verified, _ = _verify(SFTP, material=(), iso_sectors=empty_backup)
    iso = f"/backups/ctl-0/{RUN}/ctl-0-{RUN}.iso"
    assert verified.problem == f"archive backup/backup.tar.gz inside {iso}: missing"


def test_archive_checks_stream_on_the_target_and_print_nothing() -> None:
    """gzip -t reads the file itself; tar's listing never reaches barctl: only its member
    count (`wc -l`), or nothing (to /dev/null) for the archive inside an ISO."""
    listing = commands_target.archive_listing("/b/backup.tar.gz", "gzip", 60)
    assert commands.render(listing, "u").endswith("| wc -l'")
    rendered = commands.render(
        commands_target.iso_file_listing("/b/x.iso", 4096, 10, "gzip", 60), "u"
    )
    assert "set -o pipefail; dd if=/b/x.iso iflag=skip_bytes,count_bytes skip=4096 count=10" in (
        rendered
    )
    assert rendered.endswith("| tar --list --gzip --file - > /dev/null'")
    assert Path(ISO_DATA / "README.md").is_file()
