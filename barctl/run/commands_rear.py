"""ReaR and the run's own files on a node: the run directory, the per-run ReaR file, mkbackup,
the local ISO, older runs' directories (hygiene) and the config drive image.

Pure: argv tuples and the readings of their answers.
"""

from __future__ import annotations

import re

from barctl.history import records
from barctl.model import CommandResult
from barctl.run import rear_config
from barctl.run.commands import RemoteCommand

NODE_RUN_DIRECTORY = "/var/lib/barctl"
REAR_OUTPUT_DIRECTORY = "/var/lib/rear/output"


def remove_local_iso(iso_prefix: str, timeout_seconds: int) -> RemoteCommand:
    """Delete the run's ISO from ReaR's output directory once the target's copy is verified:
    ReaR keeps every ISO in $VAR_DIR/output (default.conf ISO_DIR), so a node's disk fills."""
    path = f"{REAR_OUTPUT_DIRECTORY}/{iso_prefix}.iso"
    return RemoteCommand("remove_local_iso", ("rm", "-f", "--", path), timeout_seconds, True)


def make_run_directory(path: str, timeout_seconds: int) -> RemoteCommand:
    """Create the run-stamped directory for dumps and cluster configuration on the node."""
    return RemoteCommand(
        "make_run_directory", ("install", "-d", "-m", "0700", path), timeout_seconds, True
    )


# Write stdin into $1 as 0600: umask for a new file, chmod first for an existing one (`>` keeps
# its mode): nothing barctl writes on a node is world-readable.
_WRITE_PRIVATE = 'umask 077; if [ -e "$1" ]; then chmod 0600 -- "$1" || exit; fi; cat > "$1"'


def write_rear_config(content: str, timeout_seconds: int) -> RemoteCommand:
    """Write the per-run ReaR file (`rear_config.render_run_conf`: the run's identity and the
    other runs' excludes), 0600 from stdin."""
    argv = ("bash", "-c", _WRITE_PRIVATE, "barctl-write-run-conf", rear_config.RUN_CONF)
    return RemoteCommand("write_rear_config", argv, timeout_seconds, True, stdin=content)


MKBACKUP_STEP = "rear_mkbackup"


def rear_mkbackup(timeout_seconds: int) -> RemoteCommand:
    """Create the rescue ISO and the backup archive with the per-run file read after local.conf."""
    return RemoteCommand(MKBACKUP_STEP, rear_config.rear_argv(), timeout_seconds, True)


# --- node hygiene: run directories ------------------------------------------------------------

# A name read back from a node becomes part of a path, so only the shape history.records.
# new_run_id makes passes (records.RUN_ID: no `/`, `..`, glob character or leading `-`).
# barctl's own state (its history database on the undercloud) shares /var/lib/barctl and never
# matches.
RUN_DIRECTORY_NAME = records.RUN_ID


def list_run_directories(timeout_seconds: int) -> RemoteCommand:
    """Read-only: the name of each directory directly under /var/lib/barctl, one per line."""
    argv = ("find", NODE_RUN_DIRECTORY, "-mindepth", "1", "-maxdepth", "1", "-type", "d")
    return RemoteCommand("list_run_directories", (*argv, "-printf", "%f\\n"), timeout_seconds)


def run_directories_of(result: CommandResult) -> tuple[str, ...]:
    """The run-id-shaped names `list_run_directories` printed, sorted (oldest first); none when
    it failed (no /var/lib/barctl yet: find exits 1)."""
    if not result.ok:
        return ()
    names = (line.strip() for line in result.stdout.splitlines())
    return tuple(sorted({name for name in names if RUN_DIRECTORY_NAME.fullmatch(name)}))


def run_directory_path(name: str) -> str:
    """`/var/lib/barctl/<name>` for a run-id-shaped `name`; ValueError for anything else."""
    if not RUN_DIRECTORY_NAME.fullmatch(name):
        raise ValueError(f"not a run directory name: {name!r}")
    return f"{NODE_RUN_DIRECTORY}/{name}"


def remove_run_directories(names: tuple[str, ...], timeout_seconds: int) -> RemoteCommand:
    """Delete older runs' dump directories, each path checked to be a run's child of
    /var/lib/barctl; `--one-file-system` never follows a mount placed inside one."""
    paths = tuple(run_directory_path(name) for name in names)
    argv = ("rm", "-rf", "--one-file-system", "--", *paths)
    return RemoteCommand("remove_run_directories", argv, timeout_seconds, True)


# --- config drive (guide 2.5 step 1, restored by 4.3 step 5) ---------------------------------

CONFIG_DRIVE_LABEL = "config-2"  # the ISO 9660 label of an OpenStack config drive (nova/ironic)
# The guide's image path: 4.3 step 5 reads it back from the restored disk (/mnt/local/mnt/...).
CONFIG_DRIVE_IMAGE = "/mnt/config-drive"
# Absolute /dev paths only, every component starting with a letter or digit: no `..`, no option.
DEVICE_PATH = re.compile(r"/dev(/[A-Za-z0-9][A-Za-z0-9._+:-]*)+")
# umask and chmod first: a config drive carries the node's metadata and user data, and dd keeps
# the mode of an existing file. conv=fsync: the image is on disk before ReaR reads the disk.
# The guide's chapter 3 (3.5 step 1) runs `mkdir /mnt/config-drive` before the same dd, which
# then fails; such a directory is named and left untouched, never chmod'ed or written into.
_IMAGE_CONFIG_DRIVE = (
    'umask 077; if [ -d "$2" ]; then echo "barctl: $2 is a directory, not the image file of'
    ' guide 2.5 step 1: remove it" >&2; exit 1; fi; '
    'if [ -e "$2" ]; then chmod 0600 -- "$2" || exit; fi; '
    'exec dd if="$1" of="$2" bs=1M conv=fsync status=none'
)


def config_drive_device(timeout_seconds: int) -> RemoteCommand:
    """Read-only: the device of the partition labelled config-2; util-linux blkid exits 2 when
    no device has that label (misc-utils/blkid.c, BLKID_EXIT_NOTFOUND)."""
    argv = ("blkid", "-t", f"LABEL={CONFIG_DRIVE_LABEL}", "-o", "device")
    return RemoteCommand("config_drive_device", argv, timeout_seconds)


def config_drive_of(result: CommandResult) -> tuple[str, str]:
    """(device, "") for one config-2 partition, ("", "") for none, ("", why) otherwise."""
    if result.reason is None and result.exit_code == 2 and not result.stdout.strip():
        return "", ""
    if not result.ok:
        lines = result.stderr_tail().splitlines()[-1:] or [f"exit {result.exit_code}"]
        return "", f"cannot tell whether it has a config drive (blkid): {lines[0]}"
    devices = sorted({line.strip() for line in result.stdout.splitlines() if line.strip()})
    if not devices:
        return "", ""
    if len(devices) != 1 or not DEVICE_PATH.fullmatch(devices[0]):
        shown = ", ".join(devices)
        return "", f"blkid names {shown} as the config drive: not one device path to image"
    return devices[0], ""


def image_config_drive(device: str, timeout_seconds: int) -> RemoteCommand:
    """`dd if=<device> of=/mnt/config-drive`, the guide's 2.5 step 1, as a 0600 file."""
    if not DEVICE_PATH.fullmatch(device):
        raise ValueError(f"not a device path: {device!r}")
    argv = ("bash", "-c", _IMAGE_CONFIG_DRIVE, "barctl-image-config-drive", device)
    return RemoteCommand("image_config_drive", (*argv, CONFIG_DRIVE_IMAGE), timeout_seconds, True)
