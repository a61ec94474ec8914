"""Each node's ReaR configuration, rendered purely from the policy and the node's facts.

Pure: frozen inputs in, file contents out. `barctl setup` writes `local.conf` (the gate refuses a
node whose local.conf differs); every run writes the per-run file and runs
`rear -C barctl-run mkbackup` (plan_steps.rear_steps); `barctl setup --render` shows both files.

Why two files, and what goes where (read in ReaR 2.4, 2.6, 2.7 and 2.8, `/usr/share/rear`):

- `usr/sbin/rear` sources `site.conf`, `local.conf`, `rescue.conf`, then each `-C` file. The
  rescue system boots into `rear recover` **without** `-C` (`skel/default/etc/scripts/
  system-setup`; the guide's manual path too). The config directory is copied into the ISO
  (`build/GNU/Linux/100_copy_as_is.sh`, `cp -r $CONFIG_DIR/.`), so the per-run file is there but
  nothing reads it at recover time.
- Only `NETFS_*` survive from the mkbackup-time configuration: `rescue/NETFS/default/
  600_store_NETFS_variables.sh` appends `set | grep '^NETFS_'` to the ISO's `rescue.conf`, which
  is sourced after `local.conf` (same in 2.4-2.8).
- At recover the archive is `outputfs/$NETFS_PREFIX/$BACKUP_PROG_ARCHIVE$BACKUP_PROG_SUFFIX
  $BACKUP_PROG_COMPRESS_SUFFIX` (`prep/NETFS/default/070_set_backup_archive.sh`, `backup_path`
  in `lib/global-functions.sh`) with `BACKUP_URL` mounted on `outputfs`.

So everything that must be the same at backup and at recover time (`BACKUP`, `BACKUP_URL`,
`BACKUP_PROG_ARCHIVE`, compression, excludes, boot settings) lives in `local.conf`, which is a
function of the policy only; the run's identity is `NETFS_PREFIX=<node>/<run id>` in the per-run
file, which ReaR itself carries into the ISO. `OUTPUT_PREFIX` (where the ISO goes,
`output_path`) follows it, and `ISO_PREFIX=<node>-<run id>` names the ISO; neither is needed to
recover. `BACKUP_PROG_ARCHIVE` is never per run: it is not persisted, so recover would look for
another name.

SFTP (`OUTPUT_URL=sftp://`): lftp uploads the ISO straight into the URL's path, ignoring
`OUTPUT_PREFIX` (`output/default/950_copy_result_files.sh`), so the archive goes inside the ISO
(`BACKUP_URL=iso:///backup`, read back from the booted medium by `backup_path iso`) and the ISO
name carries node and run. `OUTPUT_LFTP_USERNAME`/`PASSWORD` exist only from 2.8 (commit
498915c9) and even there the password goes into lftp's argv, and any config file is copied into
the ISO: so no password is ever rendered. The user is in the URL (`sftp://user@host/path`, read
by every version's `lftp -c "open $OUTPUT_URL"`) and lftp logs in with root's SSH key.
`OUTPUT_LFTP_OPTIONS` makes ssh fail instead of prompting: a one-element array, which 2.6/2.7
read as a string (`"$OUTPUT_LFTP_OPTIONS; open ..."` is the first element) and 2.8 as the array
it declares; 2.4 has no such variable and ignores it.

Every value is shell-quoted: ReaR `source`s these files as root (issue 8 finding 1).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Literal

from barctl.model import Firmware

REAR_CONFIG_DIRECTORY = "/etc/rear"
LOCAL_CONF = f"{REAR_CONFIG_DIRECTORY}/local.conf"
# Where the first local.conf barctl replaces is kept (a vendor or hand-written one), never
# overwritten afterwards: the operator's original stays recoverable.
LOCAL_CONF_ORIGINAL = f"{LOCAL_CONF}.before-barctl"
MANAGED_HEADER = "# Managed by barctl: written by `barctl setup` from the barctl policy."
# What marks a file barctl wrote, whatever its header's wording (older barctl said "rewritten
# before every run"): such a file is never kept as the operator's original.
MANAGED_MARK = "# Managed by barctl"
RUN_CONFIG_NAME = "barctl-run"
RUN_CONF = f"{REAR_CONFIG_DIRECTORY}/{RUN_CONFIG_NAME}.conf"
# ReaR's own default, written out so that a site.conf or an old vendor value cannot change it.
BACKUP_ARCHIVE = "backup"
ISO_BACKUP_URL = "iso:///backup"
# tar's suffix is ReaR's BACKUP_PROG_SUFFIX default (conf/default.conf, 2.4-2.8).
TAR_SUFFIX = ".tar"
COMPRESSION: dict[str, tuple[tuple[str, ...], str]] = {
    "gzip": (("--gzip",), ".gz"),
    "bzip2": (("--bzip2",), ".bz2"),
    "xz": (("--xz",), ".xz"),
    "none": ((), ""),
}
LFTP_OPTIONS = 'set sftp:connect-program "ssh -a -x -o BatchMode=yes"'


def compression_of(archive_name: str) -> str:
    """The COMPRESSION key of an archive as written, by its name's suffix after `.tar` (the
    drill reads old runs: rear.compress may have changed since); `none` for any other."""
    suffix = archive_name.rpartition(TAR_SUFFIX)[2]
    found = [name for name, (_, known) in COMPRESSION.items() if known == suffix]
    return found[0] if found else "none"


@dataclass(frozen=True)
class RearTarget:
    """Where ReaR writes: an NFS export, or an SFTP directory (the archive inside the ISO)."""

    scheme: Literal["nfs", "sftp"]
    host: str
    path: str
    user: str = ""

    @property
    def output_url(self) -> str:
        """OUTPUT_URL: where the ISO goes."""
        if self.scheme == "sftp":
            return f"sftp://{self.user}@{self.host}{self.path}"
        return f"nfs://{self.host}{self.path}"

    @property
    def backup_url(self) -> str:
        """BACKUP_URL: where the archive goes, also read by `rear recover`."""
        return ISO_BACKUP_URL if self.scheme == "sftp" else self.output_url


@dataclass(frozen=True)
class RearSettings:
    """The policy's `rear` section as it applies to one node (group overrides resolved)."""

    iso_default: str = "boothd"
    compress: str = "gzip"
    exclude: tuple[str, ...] = ("/data/*", "/tmp/*", "/ctl_plane_backups/*")
    networking_preparation_commands: tuple[str, ...] = ()
    exclude_recreate_volume_groups: tuple[str, ...] = ()
    iso_file_size_limit_bytes: int | None = None

    @property
    def archive_name(self) -> str:
        """The archive's file name, the same at backup and at recover time."""
        return BACKUP_ARCHIVE + TAR_SUFFIX + COMPRESSION[self.compress][1]


def run_prefix(node: str, run_id: str) -> str:
    """NETFS_PREFIX and OUTPUT_PREFIX of one node's run: its directory under the target."""
    return f"{node}/{run_id}"


def iso_name(node: str, run_id: str) -> str:
    """ISO_PREFIX of one node's run: the ISO's name carries node and run (lftp flattens)."""
    return f"{node}-{run_id}"


def _assign(name: str, value: str) -> str:
    return f"{name}={shlex.quote(value)}"


def _array(name: str, values: tuple[str, ...], *, append: bool = False) -> str:
    operator = "+=" if append else "="
    return f"{name}{operator}( {' '.join(shlex.quote(value) for value in values)} )"


def _target_lines(target: RearTarget) -> list[str]:
    lines = [
        _assign("BACKUP_URL", target.backup_url),
        _assign("OUTPUT_URL", target.output_url),
    ]
    if target.scheme == "sftp":
        lines.append(_array("OUTPUT_LFTP_OPTIONS", (LFTP_OPTIONS,)))
    return lines


def _boot_lines(settings: RearSettings, firmware: Firmware) -> list[str]:
    lines = [_assign("ISO_DEFAULT", settings.iso_default)]
    if firmware != "unknown":
        lines.append(_assign("USING_UEFI_BOOTLOADER", "1" if firmware == "uefi" else "0"))
    if settings.networking_preparation_commands:
        commands = settings.networking_preparation_commands
        lines.append(_array("NETWORKING_PREPARATION_COMMANDS", commands))
    if settings.iso_file_size_limit_bytes is not None:
        lines.append(_assign("ISO_FILE_SIZE_LIMIT", str(settings.iso_file_size_limit_bytes)))
    return lines


def _archive_lines(settings: RearSettings) -> list[str]:
    options, suffix = COMPRESSION[settings.compress]
    # `+=`: ReaR's defaults ('/tmp/*' '/dev/shm/*' "$VAR_DIR/output/*") stay; the vendor's `=`
    # dropped the output directory, so every archive held every earlier ISO (tripleo.md §4a).
    # barctl's run directories are not excluded here: this run's dumps must be in the archive.
    # The other runs' directories are excluded by name in the per-run file (render_run_conf).
    lines = [
        _assign("BACKUP_PROG_ARCHIVE", BACKUP_ARCHIVE),
        _array("BACKUP_PROG_COMPRESS_OPTIONS", options),
        _assign("BACKUP_PROG_COMPRESS_SUFFIX", suffix),
        _array("BACKUP_PROG_EXCLUDE", settings.exclude, append=True),
    ]
    volume_groups = tuple(f"/dev/{name}" for name in settings.exclude_recreate_volume_groups)
    if volume_groups:
        # Cinder's LVM volume group is data, not system: not recreated (component names as in
        # layout/save's disklayout.conf, `lvmgrp /dev/<vg>`).
        lines.append(_array("EXCLUDE_RECREATE", volume_groups, append=True))
    return lines


def render_local_conf(
    target: RearTarget, settings: RearSettings, firmware: Firmware = "unknown"
) -> str:
    """`/etc/rear/local.conf` for one node: a function of the policy and the node's firmware
    ("unknown" leaves USING_UEFI_BOOTLOADER to ReaR's own detection)."""
    lines = [
        MANAGED_HEADER,
        "# An edit makes barctl refuse to run: change the policy, then run `barctl setup`.",
        'OUTPUT="ISO"',
        'BACKUP="NETFS"',
        *_target_lines(target),
        *_archive_lines(settings),
        *_boot_lines(settings, firmware),
    ]
    return "\n".join(lines) + "\n"


def render_run_conf(node: str, run_id: str, other_runs: tuple[str, ...] = ()) -> str:
    """The per-run file read by `rear -C barctl-run mkbackup` only.

    `NETFS_PREFIX` is persisted into the ISO's rescue.conf, so the ISO of this run recovers this
    run's archive. `$LOG_DIR` is left to ReaR's shell; the rest of the name is one quoted word.
    `other_runs` (absolute paths of earlier runs' dump directories still on the node) are
    appended to BACKUP_PROG_EXCLUDE: each archive holds only this run's dumps. ReaR writes the
    array one pattern a line into backup-exclude.txt for `tar -X` (backup/NETFS/default/
    400_create_include_exclude_files.sh, 500_make_backup.sh); here and not in local.conf, whose
    excludes stay the policy's (the rescue system reads local.conf, and it is the same each run).
    """
    prefix = run_prefix(node, run_id)
    lines = [
        "# Written by barctl for one run; read by `rear -C barctl-run` after local.conf.",
        _assign("NETFS_PREFIX", prefix),
        _assign("OUTPUT_PREFIX", prefix),
        _assign("ISO_PREFIX", iso_name(node, run_id)),
        f'LOGFILE="$LOG_DIR/"{shlex.quote(f"rear-{iso_name(node, run_id)}.log")}',
    ]
    if other_runs:
        lines.append(_array("BACKUP_PROG_EXCLUDE", other_runs, append=True))
    return "\n".join(lines) + "\n"


def artifact_paths(
    target: RearTarget, settings: RearSettings, node: str, run_id: str
) -> tuple[str, ...]:
    """The files one node's run leaves on the target, as seen on the target host."""
    iso = f"{iso_name(node, run_id)}.iso"
    if target.scheme == "sftp":
        return (f"{target.path}/{iso}",)
    directory = f"{target.path}/{run_prefix(node, run_id)}"
    return (f"{directory}/{iso}", f"{directory}/{settings.archive_name}")


def rear_argv() -> tuple[str, ...]:
    """The exact command each run executes on the node (after the per-run file is written)."""
    return ("rear", "-v", "-C", RUN_CONFIG_NAME, "mkbackup")


@dataclass(frozen=True)
class NodeFile:
    """One file barctl places on a node: absolute path, mode and content."""

    path: str
    mode: str
    content: str


def node_files(
    target: RearTarget,
    settings: RearSettings,
    node: str,
    run_id: str,
    firmware: Firmware = "unknown",
    *,
    other_runs: tuple[str, ...] = (),
) -> tuple[NodeFile, ...]:
    """Every ReaR file barctl writes on `node` for run `run_id` (0600: root reads them)."""
    return (
        NodeFile(LOCAL_CONF, "0600", render_local_conf(target, settings, firmware)),
        NodeFile(RUN_CONF, "0600", render_run_conf(node, run_id, other_runs)),
    )
