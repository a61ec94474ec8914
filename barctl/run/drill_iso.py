"""The drill's reading of a run's ISO on the target: its rescue system's ReaR configuration.

Read-only and without an ISO tool on the target (verification's reasoning: a minimal RHEL has
neither xorriso nor isoinfo): the volume descriptors and directories are read with `dd | od`
and parsed by `verification` (ECMA-119), which gives where `isolinux/initrd.cgz` lies in the
image; `commands_target.initrd_member` streams it through `gzip -dc | cpio --to-stdout` for
one file.
"""

from __future__ import annotations

from dataclasses import dataclass

from barctl.model import Node
from barctl.run import commands_target, verdicts, verification
from barctl.run.runner import Runner

LOCAL_CONF = "etc/rear/local.conf"
RESCUE_CONF = "etc/rear/rescue.conf"


class _Unreadable(Exception):
    """The ISO, or the file wanted inside it, cannot be read; the message says why."""


@dataclass(frozen=True)
class IsoReader:
    """Reads parts of one ISO on the target node."""

    runner: Runner
    target: Node
    iso: str
    timeout: int

    def sectors(self, first: int, count: int) -> bytes:
        """`count` sectors from `first`, as bytes."""
        command = commands_target.iso_sectors(self.iso, first, count, self.timeout)
        result = self.runner.run(self.target, command)
        if not result.ok:
            raise _Unreadable(f"dd: {verdicts.command_problem(result)}")
        return verification.octal_dump_bytes(result.stdout)

    def directory(self, sector: int, size: int) -> tuple[verification.DirectoryEntry, ...]:
        """The records of the directory at `sector`."""
        return verification.directory_entries(self.sectors(sector, verification.sectors_for(size)))

    def span(self, folder_name: str, name: str) -> tuple[int, int]:
        """(byte offset, size) of `folder_name/name` in the image (a top-level folder)."""
        first, count = verification.DESCRIPTOR_SECTOR, verification.DESCRIPTOR_SECTORS
        facts = verification.iso_facts(self.sectors(first, count))
        if isinstance(facts, str):
            raise _Unreadable(facts)
        root = self.directory(facts.root_sector, facts.root_bytes)
        folder = verification.find_directory(root, folder_name)
        if folder is None:
            raise _Unreadable(f"no {folder_name}/ directory")
        span = verification.file_span(self.directory(folder.sector, folder.size_bytes), name)
        if isinstance(span, str):
            raise _Unreadable(f"{folder_name}/{name}: {span}")
        return span

    def member(self, span: tuple[int, int], member: str) -> str:
        """One file of the rescue system; empty when the initrd has no such file."""
        command = commands_target.initrd_member(self.iso, *span, member, self.timeout)
        result = self.runner.run(self.target, command)
        if not result.ok:
            raise _Unreadable(f"{member}: {verdicts.command_problem(result)}")
        return result.stdout


def rescue_configuration(
    runner: Runner, target: Node, iso: str, timeout: int
) -> tuple[str, str] | str:
    """(local.conf, rescue.conf) of the rescue system in `iso`, or why they cannot be read."""
    reader = IsoReader(runner, target, iso, timeout)
    try:
        span = reader.span(*commands_target.ISO_INITRD)
        return reader.member(span, LOCAL_CONF), reader.member(span, RESCUE_CONF)
    except _Unreadable as error:
        return str(error)


def archive_listing(
    runner: Runner, target: Node, iso: str, archive: tuple[str, str, str], timeout: int
) -> str:
    """List the archive stored inside `iso` (SFTP: `BACKUP_URL=iso:///backup`) fully, streamed
    on the target; `archive` is (folder, file name, compression). Empty when it lists."""
    folder, name, compress = archive
    reader = IsoReader(runner, target, iso, timeout)
    try:
        span = reader.span(folder, name)
    except _Unreadable as error:
        return str(error)
    result = runner.run(target, commands_target.iso_file_listing(iso, *span, compress, timeout))
    problem = verdicts.command_problem(result)
    return f"{folder}/{name} inside the ISO: tar --list failed: {problem}" if problem else ""
