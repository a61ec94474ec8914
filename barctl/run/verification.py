"""What the checks on the backup target found: every command's output interpreted here (issue 11).

Pure. The shell (`verifier.py`) runs the commands of `commands_target.py` on the target node
and hands their output to these functions; each returns facts or a problem in operator words
("" = none).

Why these checks, and why with these tools: the target node is any NFS/SFTP server (on RHEL a
minimal install), so only coreutils, gzip and tar are assumed. `isoinfo` (genisoimage) and
`xorriso` are not in a minimal RHEL 8/9, so the ISO is read as bytes: `dd bs=2048 skip=16 |
od -A n -v -t x1` gives the volume descriptors, parsed as ECMA-119 (ISO 9660) 8.4 (primary,
type 1: the root directory record at byte 156) and the El Torito 1.0 boot record volume
descriptor (type 0, "EL TORITO SPECIFICATION" at byte 7), which is what makes ReaR's ISO boot
(output/ISO/Linux-i386/820_create_iso_image.sh: `-b isolinux/isolinux.bin ... -no-emul-boot`).
For SFTP the archive is inside the ISO (`BACKUP_URL=iso:///backup`): the directory records
(ECMA-119 9.1) are read the same way, with the Rock Ridge `NM` entry (IEEE P1282 4.1.4) for the
real file name, since ReaR's `-iso-level 3` image keeps only an upper-case ISO name beside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SECTOR_BYTES = 2048
DESCRIPTOR_SECTOR = 16
# Primary, boot record, Joliet supplementary, terminator, with room to spare.
DESCRIPTOR_SECTORS = 8
# A directory of the ISO read at most this many sectors (ReaR's root holds a few dozen entries).
DIRECTORY_SECTORS_MAX = 64
EL_TORITO = b"EL TORITO SPECIFICATION"
DUMP_TRAILER = "-- Dump completed"
# mysqldump's footer (client/mysqldump.c write_footer) is its last line: 4 KiB of tail holds it.
DUMP_TAIL_BYTES = 4096
_HEX_PAIR = re.compile(r"[0-9a-f]{2}")


def octal_dump_bytes(text: str) -> bytes:
    """The bytes `od -A n -v -t x1` printed (whitespace-separated hex pairs)."""
    return bytes(int(pair, 16) for pair in text.split() if _HEX_PAIR.fullmatch(pair))


@dataclass(frozen=True)
class IsoFacts:
    """What the volume descriptors say: where the root directory is."""

    root_sector: int
    root_bytes: int


def _both_endian(data: bytes, offset: int) -> int:
    """An ECMA-119 7.3.3 number: little-endian first, big-endian after (the first is read)."""
    return int.from_bytes(data[offset : offset + 4], "little")


def iso_facts(descriptors: bytes) -> IsoFacts | str:
    """The root directory of an ISO 9660 image with an El Torito boot record, from the sectors
    read at 16; a problem when it is not one."""
    if descriptors[1:6] != b"CD001":
        return "not an ISO 9660 image (no CD001 volume descriptor at sector 16)"
    root: IsoFacts | None = None
    boot_record = False
    for index in range(len(descriptors) // SECTOR_BYTES):
        descriptor = descriptors[index * SECTOR_BYTES : (index + 1) * SECTOR_BYTES]
        if descriptor[1:6] != b"CD001" or descriptor[0] == 255:
            break
        if descriptor[0] == 1 and root is None:
            record = descriptor[156:190]
            root = IsoFacts(_both_endian(record, 2), _both_endian(record, 10))
        if descriptor[0] == 0 and descriptor[7:39].rstrip(b"\0 ") == EL_TORITO:
            boot_record = True
    if root is None:
        return "ISO 9660 image without a primary volume descriptor"
    if not boot_record:
        return "ISO without an El Torito boot record: it cannot boot the rescue system"
    return root


@dataclass(frozen=True)
class DirectoryEntry:
    """One directory record: its name (Rock Ridge when present), first sector and size."""

    name: str
    sector: int
    size_bytes: int
    directory: bool
    # ECMA-119 9.1.6 bit 7: the file goes on in the next record (a file over 4 GiB).
    more_extents: bool


def _rock_ridge_name(system_use: bytes) -> str | None:
    """The `NM` entries of a record's system use area joined (P1282 4.1.4), None without one."""
    parts, index = [], 0
    while index + 4 <= len(system_use):
        signature, length = system_use[index : index + 2], system_use[index + 2]
        if length < 4:
            break
        if signature == b"NM" and length >= 5:
            parts.append(system_use[index + 5 : index + length])
        index += length
    return b"".join(parts).decode("utf-8", "replace") if parts else None


def _record(record: bytes) -> DirectoryEntry | None:
    name_length = record[32]
    raw = record[33 : 33 + name_length]
    if raw in (b"\0", b"\1"):  # `.` and `..`
        return None
    padding = 1 if name_length % 2 == 0 else 0
    name = _rock_ridge_name(record[33 + name_length + padding :])
    if name is None:
        name = raw.decode("ascii", "replace").split(";")[0].rstrip(".").lower()
    flags = record[25]
    return DirectoryEntry(
        name, _both_endian(record, 2), _both_endian(record, 10), bool(flags & 2), bool(flags & 128)
    )


def directory_entries(data: bytes) -> tuple[DirectoryEntry, ...]:
    """Every record of a directory's sectors, in order (a zero length pads to the next sector)."""
    entries, offset = [], 0
    while offset < len(data):
        length = data[offset]
        if length == 0:
            offset = (offset // SECTOR_BYTES + 1) * SECTOR_BYTES
            continue
        record = data[offset : offset + length]
        if len(record) < 34 or len(record) < 33 + record[32]:
            break
        entry = _record(record)
        if entry is not None:
            entries.append(entry)
        offset += length
    return tuple(entries)


def sectors_for(size_bytes: int) -> int:
    """Sectors holding `size_bytes` (a directory is read whole, capped)."""
    return min(DIRECTORY_SECTORS_MAX, max(1, -(-size_bytes // SECTOR_BYTES)))


def find_directory(entries: tuple[DirectoryEntry, ...], name: str) -> DirectoryEntry | None:
    """The subdirectory `name`, None when there is none."""
    return next((item for item in entries if item.directory and item.name == name), None)


def file_span(entries: tuple[DirectoryEntry, ...], name: str) -> tuple[int, int] | str:
    """(byte offset, size) of file `name` in the image, or why it cannot be read in one piece.

    A file over 4 GiB is several records of one name (multi-extent); xorriso writes their
    extents one after the other, which is the only shape `dd` can stream as one file."""
    parts = [item for item in entries if item.name == name and not item.directory]
    if not parts:
        return "missing"
    for index in range(1, len(parts)):
        before, after = parts[index - 1], parts[index]
        if after.sector != before.sector + -(-before.size_bytes // SECTOR_BYTES):
            return "stored in pieces that do not follow each other; cannot be streamed"
    return parts[0].sector * SECTOR_BYTES, sum(item.size_bytes for item in parts)


def file_sizes(stdout: str) -> dict[str, int]:
    """`stat -c '%s %n' PATHS` output as {path: bytes}."""
    sizes = {}
    for line in stdout.splitlines():
        size, _, path = line.partition(" ")
        if size.isdigit() and path:
            sizes[path] = int(size)
    return sizes


def size_problem(paths: tuple[str, ...], sizes: dict[str, int]) -> str:
    """Missing and empty files among `paths`, named; "" when every one has bytes."""
    missing = [path for path in paths if path not in sizes]
    if missing:
        return "missing on the backup target: " + ", ".join(missing)
    empty = [path for path in paths if sizes[path] == 0]
    return "empty on the backup target: " + ", ".join(empty) if empty else ""


def checksums(stdout: str) -> dict[str, str]:
    """`sha256sum PATHS` output as {path: lowercase hex}."""
    found = {}
    for line in stdout.splitlines():
        digest, _, path = line.partition("  ")
        if re.fullmatch(r"[0-9a-f]{64}", digest) and path:
            found[path] = digest
    return found


def dump_problem(tail: str) -> str:
    """ "" when the dump's last line is mysqldump's `-- Dump completed` footer, else why not: a
    dump without it was cut short (client/mysqldump.c writes it only after the last table)."""
    lines = [line for line in tail.splitlines() if line.strip()]
    if lines and lines[-1].startswith(DUMP_TRAILER):
        return ""
    return f"database dump has no '{DUMP_TRAILER}' trailer: it was cut short"


def copy_problem(
    pairs: list[tuple[str, str]], on_node: dict[str, str], on_target: dict[str, str]
) -> str:
    """ "" when each copy's sha256 on the target is its source's on the node, else which is not."""
    differ = [copy for source, copy in pairs if on_node.get(source) != on_target.get(copy)]
    if differ:
        return "copy differs from the node's file (sha256): " + ", ".join(differ)
    return ""
