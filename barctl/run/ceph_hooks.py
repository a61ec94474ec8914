"""The guide's 4.1 ReaR hooks for controllers with colocated ceph monitors, rendered purely.

Guide 4.1 ("Preparing a control plane with colocated Ceph monitors for the restore process")
has the operator write two scripts by hand into ReaR's tree; the vendor role's `setup_rear`
writes them on nodes where /var/lib/ceph exists (tripleo.md §7, 288233da):

- `setup/default/011_backup_ceph.sh` runs in the rescue system before the disk layout is
  recreated: it mounts the old root, saves the *current* monitor store to /tmp (a ramdisk);
- `wrapup/default/501_restore_ceph.sh` puts it back after the archive was restored, so the
  monitor store is not rolled back to backup time.

Device and file system type are the node's own, taken from `findmnt` (the guide: "normally xfs
and /dev/vda2"); when /var is its own mount (LVM layouts, rhbz 2118397, role fix 3804820b) the
tar paths are relative to that mount: `lib/ceph`, not `var/lib/ceph`. The guide writes
`--xattrs-include='.'`, which matches no attribute name; the role's `'*.*'` is used.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass

from barctl.run.setup_state import ManagedFile

CEPH_DIRECTORY = "/var/lib/ceph"
BACKUP_HOOK = "/usr/share/rear/setup/default/011_backup_ceph.sh"
RESTORE_HOOK = "/usr/share/rear/wrapup/default/501_restore_ceph.sh"
HEADER = "# Managed by barctl: guide 4.1, the ceph monitor store survives `rear recover`."
# The rescue system mounts the restored system here (ReaR's TARGET_FS_ROOT).
RESCUE_ROOT = "/mnt/local"


class MountUnreadable(ValueError):
    """findmnt's answer does not name one device, file system type and mount point."""


@dataclass(frozen=True)
class CephMount:
    """The file system holding /var/lib/ceph: device, type, and where it is mounted."""

    device: str
    fstype: str
    target: str

    @property
    def relative(self) -> str:
        """/var/lib/ceph relative to its mount point: `var/lib/ceph`, or `lib/ceph` when /var
        is its own mount."""
        return posixpath.relpath(CEPH_DIRECTORY, self.target)


def parse_findmnt(text: str) -> CephMount:
    """The answer of `findmnt -r -n -o SOURCE,FSTYPE,TARGET -T /var/lib/ceph` (raw output:
    one line, blanks inside a field escaped as \\x20, util-linux findmnt(8))."""
    lines = [line for line in text.splitlines() if line.strip()]
    words = lines[0].split() if len(lines) == 1 else []
    if len(words) != 3 or not words[0].startswith("/dev/") or not words[2].startswith("/"):
        raise MountUnreadable(f"findmnt gave {text.strip()[:80]!r}")
    device, fstype, target = words
    if "[" in device or "\\" in device:
        raise MountUnreadable(f"{device} is a subvolume or an escaped name")
    if target != "/" and not CEPH_DIRECTORY.startswith(target.rstrip("/") + "/"):
        raise MountUnreadable(f"{CEPH_DIRECTORY} is not under {target}")
    return CephMount(device, fstype, target)


def _backup_script(mount: CephMount) -> str:
    device, relative = shlex.quote(mount.device), shlex.quote(mount.relative)
    return "\n".join(
        [
            HEADER,
            f"mount -t {shlex.quote(mount.fstype)} {device} {RESCUE_ROOT}",
            f"cd {RESCUE_ROOT}",
            f"[ -d {relative} ] && tar cvfz /tmp/ceph.tar.gz {relative} --xattrs"
            " --xattrs-include='*.*' --acls",
            "cd /",
            f"umount {device}",
            "",
        ]
    )


def _restore_script(mount: CephMount) -> str:
    # After the restore, the node's own /var (if separate) is mounted at /mnt/local/var.
    root = posixpath.normpath(RESCUE_ROOT + mount.target)
    return "\n".join(
        [
            HEADER,
            'if [ -f "/tmp/ceph.tar.gz" ]; then',
            f"  rm -rf {RESCUE_ROOT}{CEPH_DIRECTORY}/*",
            f"  tar xvC {shlex.quote(root)} -f /tmp/ceph.tar.gz {shlex.quote(mount.relative)}"
            " --xattrs --xattrs-include='*.*'",
            "fi",
            "",
        ]
    )


def hook_files(mount: CephMount) -> tuple[ManagedFile, ManagedFile]:
    """Both hooks, 0644 as the rear package's own scripts (ReaR sources them as root)."""
    return (
        ManagedFile(BACKUP_HOOK, "0644", _backup_script(mount)),
        ManagedFile(RESTORE_HOOK, "0644", _restore_script(mount)),
    )
