"""The commands run on the backup target: its runs listed, read and pruned, the restore drill's
read-only checks, verification (issue 11) and the run directory's placement and manifest.

Pure: argv tuples; their output is read by `target_listing`, `drill_checks` and `verification`.
"""

from __future__ import annotations

from barctl.run import rear_config
from barctl.run.commands import RemoteCommand

# --- the backup target's runs (retention, `barctl backups`) ----------------------------------

MANIFEST_READ_LIMIT_BYTES = 1 << 20  # a manifest is a few KiB: bounds what a damaged one costs


def target_entries(directory: str, timeout_seconds: int) -> RemoteCommand:
    """`TYPE SIZE PATH` of every entry two to four levels down (`<node>/<run id>[/file]`,
    `.../restore/file`), NUL-ended (GNU find -printf %y %s %P): no name can forge a record."""
    argv = ("find", directory, "-mindepth", "2", "-maxdepth", "4", "-printf", "%y %s %P\\0")
    return RemoteCommand("target_entries", argv, timeout_seconds)


# Each named file's first bytes, then a NUL (JSON never holds one): one command for every
# manifest of a listing; an unreadable file gives an empty record and head's error on stderr.
_READ_EACH = 'for file; do head -c "$0" -- "$file"; printf "\\0"; done'


def read_manifests(paths: tuple[str, ...], timeout_seconds: int) -> RemoteCommand:
    """The manifests at `paths` on the target, NUL-ended, at most MANIFEST_READ_LIMIT_BYTES each."""
    argv = ("bash", "-c", _READ_EACH, str(MANIFEST_READ_LIMIT_BYTES), *paths)
    return RemoteCommand("read_manifests", argv, timeout_seconds)


def remove_run_directory(path: str, timeout_seconds: int) -> RemoteCommand:
    """Delete one run's directory (retention; `path` from a checked node and run id only).
    --one-file-system: a mount under it is refused, not emptied."""
    argv = ("rm", "-rf", "--one-file-system", "--", path)
    return RemoteCommand("remove_run_directory", argv, timeout_seconds, True)


# --- the restore drill, read-only on the target (barctl.run.drill) ---------------------------

# ReaR's rescue system in its ISO: pack/GNU/Linux/900_create_initramfs.sh packs the rootfs
# (`find . | cpio -H newc --create | gzip`, REAR_INITRD_COMPRESSION's default) into
# initrd.cgz, which output/ISO/Linux-i386/800_create_isofs.sh copies to isolinux/; its
# etc/rear holds local.conf and rescue.conf (build/GNU/Linux/100_copy_as_is.sh,
# rescue/NETFS/default/600_store_NETFS_variables.sh). The initrd is found in the ISO's
# directories as verification finds the SFTP archive (iso_sectors, verification.file_span) and
# streamed out with dd: nothing is written on the target, and no ISO tool is assumed there.
ISO_INITRD = ("isolinux", "initrd.cgz")
_INITRD_MEMBER = (
    'set -o pipefail; dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=1M'
    ' status=none | gzip -dc | cpio -i --quiet --to-stdout -- "$4"'
)


def checksums(paths: tuple[str, ...], timeout_seconds: int) -> RemoteCommand:
    """sha256 of each file on the target, `HEX  PATH` per line (coreutils sha256sum)."""
    return RemoteCommand("checksums", ("sha256sum", "--", *paths), timeout_seconds)


def initrd_member(
    iso: str, offset: int, size: int, member: str, timeout_seconds: int
) -> RemoteCommand:
    """One file of the rescue system (`etc/rear/rescue.conf`), out of the initrd stored in the
    ISO at `offset` (gzip'd newc cpio)."""
    argv = ("bash", "-c", _INITRD_MEMBER, "barctl-initrd-member", iso, str(offset), str(size))
    return RemoteCommand("initrd_member", (*argv, member), timeout_seconds)


# --- verification on the backup target (issue 11; output read by verification.py) ----------
# Read-only, and only coreutils, gzip/bzip2/xz and tar: the target node may be any NFS or SFTP
# server. Archive checks stream the file through the tool and print nothing, to /dev/null or
# counted by `wc -l`: a multi-GB listing never reaches barctl.

HEX_DUMP = ("od", "-A", "n", "-v", "-t", "x1")
COMPRESSION_TESTERS = {"gzip": "gzip", "bzip2": "bzip2", "xz": "xz"}


def iso_sectors(iso: str, first: int, count: int, timeout_seconds: int) -> RemoteCommand:
    """`count` 2048-byte sectors of `iso` from sector `first`, in hex: the volume descriptors
    (from 16) or a directory (ECMA-119)."""
    argv = ("dd", f"if={iso}", "bs=2048", f"skip={first}", f"count={count}", "status=none")
    return RemoteCommand("iso_sectors", argv, timeout_seconds, stdout_filter=HEX_DUMP)


def file_checksums(paths: tuple[str, ...], timeout_seconds: int) -> RemoteCommand:
    """sha256 of each file, computed on the target (`sha256sum`: `<hex>  <path>` lines)."""
    return RemoteCommand("file_checksums", ("sha256sum", "--", *paths), timeout_seconds)


def compression_test(path: str, compress: str, timeout_seconds: int) -> RemoteCommand:
    """`gzip -t` (or bzip2/xz): the archive's compressed stream is whole and its CRC right."""
    tester = COMPRESSION_TESTERS[compress]
    return RemoteCommand("compression_test", (tester, "-t", "--", path), timeout_seconds)


def archive_listing(path: str, compress: str, timeout_seconds: int) -> RemoteCommand:
    """A full `tar --list` of the archive, every header read to the end; only the member count
    comes back (`wc -l`: verification judges tar's exit, the drill also wants members). A
    truncated or corrupt archive makes tar exit non-zero (pipefail)."""
    flags = rear_config.COMPRESSION[compress][0]
    argv = ("tar", "--list", *flags, "--file", path)
    return RemoteCommand("archive_listing", argv, timeout_seconds, stdout_filter=("wc", "-l"))


def _iso_span(iso: str, offset: int, size: int) -> tuple[str, ...]:
    # GNU dd's byte-addressed skip and count (coreutils 8.16+, RHEL 7+).
    flags = "iflag=skip_bytes,count_bytes"
    return ("dd", f"if={iso}", flags, f"skip={offset}", f"count={size}", "bs=1M", "status=none")


def iso_file_compression_test(
    iso: str, offset: int, size: int, compress: str, timeout_seconds: int
) -> RemoteCommand:
    """`gzip -t` of a file stored inside the ISO at `offset` (SFTP: the archive in the ISO)."""
    tester = (COMPRESSION_TESTERS[compress], "-t")
    argv = _iso_span(iso, offset, size)
    return RemoteCommand("compression_test", argv, timeout_seconds, stdout_filter=tester)


def iso_file_listing(
    iso: str, offset: int, size: int, compress: str, timeout_seconds: int
) -> RemoteCommand:
    """A full `tar --list` of an archive stored inside the ISO, to /dev/null."""
    lister = ("tar", "--list", *rear_config.COMPRESSION[compress][0], "--file", "-")
    return RemoteCommand(
        "archive_listing",
        _iso_span(iso, offset, size),
        timeout_seconds,
        stdout_path="/dev/null",
        stdout_filter=lister,
    )


def file_tail(path: str, size_bytes: int, timeout_seconds: int) -> RemoteCommand:
    """The last `size_bytes` of a file (the database dump's trailer)."""
    return RemoteCommand("file_tail", ("tail", "-c", str(size_bytes), "--", path), timeout_seconds)


# --- the run directory on the backup target (issue 11) -------------------------------------

# mkdir -p, then move $1 into $2: lftp puts an SFTP run's ISO straight into the target path
# (rear_config), barctl moves it beside the run's manifest, as NFS has it.
_PLACE = 'set -e; mkdir -p -m 0750 -- "$2"; mv -f -- "$1" "$2/"'
# Atomic: the manifest appears whole or not at all (a reader never sees half a JSON document).
_WRITE_MANIFEST = (
    'set -e; umask 022; mkdir -p -m 0750 -- "$1"; cat > "$1/.$2.tmp"; mv -f -- "$1/.$2.tmp" "$1/$2"'
)


def place_in_run_directory(path: str, directory: str, timeout_seconds: int) -> RemoteCommand:
    """Move the file `path` into the run directory `directory` on the target."""
    argv = ("bash", "-c", _PLACE, "barctl-place", path, directory)
    return RemoteCommand("place_in_run_directory", argv, timeout_seconds, True)


def write_manifest(directory: str, name: str, content: str, timeout_seconds: int) -> RemoteCommand:
    """Write `content` (stdin) as `directory/name` on the target: a temporary file, renamed."""
    argv = ("bash", "-c", _WRITE_MANIFEST, "barctl-write-manifest", directory, name)
    return RemoteCommand("write_manifest", argv, timeout_seconds, True, stdin=content)


# --- restore material, node -> barctl -> target (issue 11; piping.py streams between them) ----

# umask 077: the dump and grants hold every credential. Written under a dot name and renamed,
# so a copy cut short never looks complete; the partial file is removed on failure.
_WRITE_RESTORE = (
    'set -e; umask 077; mkdir -p -m 0700 -- "$1"; trap \'rm -f -- "$1/.$2.part"\' ERR; '
    'cat > "$1/.$2.part"; mv -f -- "$1/.$2.part" "$1/$2"'
)


def read_file(path: str, timeout_seconds: int) -> RemoteCommand:
    """A file's bytes on stdout (the run's restore material on a node, root's 0600 file)."""
    return RemoteCommand("read_restore_material", ("cat", "--", path), timeout_seconds)


def write_restore_file(directory: str, name: str, timeout_seconds: int) -> RemoteCommand:
    """stdin as `directory/name` on the target (0600), complete or not at all."""
    argv = ("bash", "-c", _WRITE_RESTORE, "barctl-write-restore", directory, name)
    return RemoteCommand("copy_restore_material", argv, timeout_seconds, True)
