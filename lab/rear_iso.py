"""The lab's ReaR rescue image and `rear recover` in it (stdlib only).

The image is a real ISO 9660 file system with an El Torito boot record, made by `xorriso -as
mkisofs` with the arguments of ReaR's `output/ISO/Linux-i386/820_create_iso_image.sh` (see
lab/README.md, "The lab ISO"); its boot image is a placeholder. It carries what a real ReaR ISO
carries for recovery:

- `LAB-REAR-ISO`, the first member: a marker naming the format, the host and the ReaR version;
- `rootfs/etc/rear/`: the configuration directory, copied as `build/GNU/Linux/100_copy_as_is.sh`
  does (`cp -r -L $CONFIG_DIR/. $ROOTFS_DIR/etc/rear/`, every file, secrets included), with the
  `BACKUP_PROG_CRYPT_KEY` value removed from each `*.conf` line naming it
  (`build/default/960_remove_encryption_keys.sh`, 2.4-2.8: the only secret ReaR strips);
- `rootfs/etc/rear/rescue.conf`: the lines `prep/default/100_init_workflow_conf.sh` writes, then
  the `set | grep '^NETFS_'` block of `rescue/NETFS/default/600_store_NETFS_variables.sh` (the
  same in 2.4, 2.6, 2.7 and 2.8: of the mkbackup-time configuration only `NETFS_*` survive);
- with `BACKUP_URL=iso:///PATH`, the archive at `PATH/` inside the image (`backup_path iso` in
  `lib/global-functions.sh`: `$TMP_DIR/isofs$path` when it is made).

`recover` boots such an image: it sources default.conf, `local.conf` and `rescue.conf` from the
image's `/etc/rear` with no `-C` (`skel/default/etc/scripts/system-setup` runs plain
`rear recover`), then finds the archive as `prep/NETFS/default/070_set_backup_archive.sh` does
(linked as `verify/NETFS/default/070_set_backup_archive.sh`).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lab import rear_shell

MARKER = "LAB-REAR-ISO"
MARKER_FORMAT = "barctl lab ReaR rescue image, format 2"
ISO_VOLID = "RELAXRECOVER"  # conf/default.conf ISO_VOLID
BOOT_IMAGE = "isolinux/isolinux.bin"
BOOT_CATALOG = "isolinux/boot.cat"
INITRD = "isolinux/initrd.cgz"  # REAR_INITRD_FILENAME with the default gzip compression
# What a lab fault leaves out of the image (lab.set_rear(corrupt=...)).
NO_BOOT_RECORD = "no_boot_record"
NO_ARCHIVE_IN_ISO = "no_archive_in_iso"
BUILD_DIR = "/tmp/rear.lab"  # ReaR's mktemp -d /tmp/rear.XXXXXXXXXXXXXXX, fixed for the lab

# prep/default/100_init_workflow_conf.sh (2.4-2.8): the first lines of every rescue.conf.
RESCUE_CONF_HEAD = """\
# initialize our /etc/rear/rescue.conf file sourced by the rear command in recover mode
# also the configuration is sourced by system-setup script during booting our recovery image

SHARE_DIR="/usr/share/rear"
CONFIG_DIR="/etc/rear"
VAR_DIR="/var/lib/rear"
LOG_DIR="/var/log/rear"

"""
NETFS_HEADER = (
    "# All set NETFS_* variables (cf. rescue/NETFS/default/600_store_NETFS_variables.sh):\n"
)


class RearError(Exception):
    """ReaR's `Error "..."`: printed as `ERROR: ...`, exit 1."""


@dataclass(frozen=True)
class LabTarget:
    """The lab's backup node as an NFS/SFTP server sees it."""

    address: str | None
    down: bool
    export_path: str  # the directory URLs name (/ctl_plane_backups)
    export_directory: Path  # where it is in the lab


@dataclass(frozen=True)
class RecoverResult:
    """What `rear recover` resolved in the booted image."""

    ok: bool
    backup_url: str
    archive: Path | None  # the lab file it would restore
    shown: str  # the archive as ReaR names it (`Using backup archive '...'`)
    message: str  # ReaR's ERROR line when it fails


def split_url(url: str) -> tuple[str, str, str]:
    """(scheme, authority, path) as url_scheme, url_host and url_path (lib/global-functions.sh)."""
    scheme = url.split("://", 1)[0]
    rest = url.split("//", 1)[1] if "//" in url else ""
    authority = rest.split("/", 1)[0]
    path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return scheme, authority, path


def nfs_directory(url: str, target: LabTarget) -> Path:
    """The lab directory an `nfs://` URL mounts on `$BUILD_DIR/outputfs` (060_mount_NETFS_path)."""
    _scheme, authority, path = split_url(url)
    server = authority.rsplit("@", 1)[-1]
    mount = f"mount -v -t nfs -o rw,noatime {server}:{path} {BUILD_DIR}/outputfs"
    if server != target.address or target.down:
        raise RearError(f"Mount command '{mount}' failed.\n  mount.nfs: Connection timed out")
    relative = under_export(path, target.export_path)
    if relative is None:
        raise RearError(
            f"Mount command '{mount}' failed.\n"
            f"  mount.nfs: access denied by server while mounting {server}:{path}"
        )
    return target.export_directory / relative


def under_export(path: str, export: str) -> str | None:
    clean, root = path.rstrip("/") or "/", export.rstrip("/") or "/"
    if clean == root:
        return "."
    if clean.startswith(root + "/") and "/../" not in clean + "/":
        return clean[len(root) + 1 :]
    return None


def archive_name(config: rear_shell.RearConfig) -> str:
    """`$BACKUP_PROG_ARCHIVE$BACKUP_PROG_SUFFIX$BACKUP_PROG_COMPRESS_SUFFIX`.

    As prep/NETFS/default/070_set_backup_archive.sh names it, at backup and at recover time.
    """
    return (
        config.get("BACKUP_PROG_ARCHIVE")
        + config.get("BACKUP_PROG_SUFFIX")
        + config.get("BACKUP_PROG_COMPRESS_SUFFIX")
    )


def rescue_conf(config: rear_shell.RearConfig) -> str:
    """The image's rescue.conf: 100_init_workflow_conf.sh, then 600_store_NETFS_variables.sh."""
    return RESCUE_CONF_HEAD + NETFS_HEADER + config.netfs_lines + "\n"


def _strip_crypt_key(text: str, key: str) -> str:
    # 960_remove_encryption_keys.sh: sed -i "/BACKUP_PROG_CRYPT_KEY=/s/$escaped_regexp//g"
    if not key or not re.search("BACKUP_PROG_CRYPT_KEY=.*" + re.escape(key), text):
        return text
    lines = text.split("\n")
    return "\n".join(
        line.replace(key, "") if "BACKUP_PROG_CRYPT_KEY=" in line else line for line in lines
    )


def _stage(stage: Path, name: str, data: bytes, mode: int = 0o644) -> None:
    path = stage / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def mkisofs_argv(destination: Path, stage: Path, *, boot_record: bool = True) -> list[str]:
    """`xorriso -as mkisofs` as output/ISO/Linux-i386/820_create_iso_image.sh calls mkisofs
    (2.4-2.8: `-b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4
    -boot-info-table -R -J -volid "$ISO_VOLID" ... -iso-level 3 .`); without the boot record
    for the lab fault `no_boot_record`."""
    boot = ["-b", BOOT_IMAGE, "-c", BOOT_CATALOG, "-no-emul-boot", "-boot-load-size", "4"]
    boot += ["-boot-info-table"]
    argv = ["xorriso", "-as", "mkisofs", "-quiet", "-o", str(destination)]
    argv += [*(boot if boot_record else []), "-R", "-J", "-volid", ISO_VOLID, "-iso-level", "3"]
    return [*argv, str(stage)]


def build_iso(
    destination: Path,
    *,
    host: str,
    version: str,
    config: rear_shell.RearConfig,
    config_dir: Path,
    archive: tuple[str, bytes] | None,
    fault: str = "",
) -> None:
    """Write the image: marker, copied config dir, rescue.conf, and an iso:// archive."""
    key = config.get("BACKUP_PROG_CRYPT_KEY")
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lab-iso-") as scratch:
        stage = Path(scratch) / "isofs"
        marker = f"{MARKER_FORMAT}\nhost={host}\nversion={version}\n"
        _stage(stage, MARKER, marker.encode())
        # A placeholder of isolinux.bin's size class: -boot-info-table patches bytes 8-63.
        _stage(stage, BOOT_IMAGE, bytes(2048))
        for path in sorted(config_dir.rglob("*")):
            if not path.is_file() or path.name == "rescue.conf":
                continue
            data = path.read_bytes()
            if path.suffix == ".conf":
                data = _strip_crypt_key(data.decode(errors="surrogateescape"), key).encode(
                    errors="surrogateescape"
                )
            relative = path.relative_to(config_dir).as_posix()
            _stage(stage, f"rootfs/etc/rear/{relative}", data, path.stat().st_mode & 0o777)
        _stage(stage, "rootfs/etc/rear/rescue.conf", rescue_conf(config).encode())
        _stage(stage, INITRD, _initrd(stage / "rootfs"))
        if archive is not None and fault != NO_ARCHIVE_IN_ISO:
            _stage(stage, archive[0].lstrip("/"), archive[1])
        argv = mkisofs_argv(destination, stage, boot_record=fault != NO_BOOT_RECORD)
        subprocess.run(argv, check=True, capture_output=True)


def _initrd(rootfs: Path) -> bytes:
    """The rescue system packed as ReaR packs it (pack/GNU/Linux/900_create_initramfs.sh:
    `find . ! -name "*~" | cpio -H newc --create --quiet | gzip`): what a drill reads the
    ISO's configuration from (output/ISO/Linux-i386/800_create_isofs.sh puts it in isolinux/)."""
    script = 'find . ! -name "*~" | cpio -H newc --create --quiet | gzip'
    done = subprocess.run(["sh", "-c", script], cwd=rootfs, check=True, capture_output=True)
    return done.stdout


def extract_iso(iso: Path, directory: Path) -> None:
    """Unpack every file of `iso` into `directory` (osirrox, xorriso's extraction mode)."""
    argv = ["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(directory)]
    subprocess.run(argv, check=True, capture_output=True)
    for path in [directory, *directory.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o700)  # osirrox keeps read-only modes


def iso_members(iso: Path) -> dict[str, bytes]:
    """Every file of the image by its path inside it (`rootfs/etc/rear/rescue.conf`)."""
    with tempfile.TemporaryDirectory(prefix="lab-iso-read-") as scratch:
        root = Path(scratch) / "medium"
        extract_iso(iso, root)
        return {
            path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }


def is_lab_iso(path: Path) -> bool:
    """True when `path` is an ISO 9660 image this lab wrote (it holds the marker)."""
    try:
        with path.open("rb") as handle:
            handle.seek(16 * 2048)
            if handle.read(6) != b"\x01CD001":
                return False
        return iso_members(path).get(MARKER, b"").startswith(MARKER_FORMAT.encode())
    except (OSError, subprocess.CalledProcessError):
        return False


def recover(iso: Path, *, host: str, version: str, target: LabTarget) -> RecoverResult:
    """Boot `iso` and resolve the archive `rear recover` would restore (no `-C`)."""
    if not is_lab_iso(iso):
        return RecoverResult(False, "", None, "", f"{iso} is not a lab ReaR image")
    with tempfile.TemporaryDirectory(prefix="lab-rescue-") as scratch:
        medium = Path(scratch) / "medium"  # the booted medium, mounted on outputfs for iso://
        extract_iso(iso, medium)
        config = rear_shell.read_config(
            host=host, version=version, workflow="recover", config_dir=medium / "rootfs/etc/rear"
        )
        if config.error:
            return RecoverResult(False, "", None, "", config.error)
        return _resolve(config, medium, target)


def _resolve(config: rear_shell.RearConfig, medium: Path, target: LabTarget) -> RecoverResult:
    url = config.get("BACKUP_URL")
    if config.get("BACKUP") != "NETFS":
        message = f"BACKUP={config.get('BACKUP')}: this image holds no way to the archive"
        return RecoverResult(False, url, None, "", message)
    scheme, _authority, path = split_url(url)
    name = archive_name(config)
    if scheme == "iso":
        # backup_path iso in recover: "${BUILD_DIR}/outputfs${path}", the booted medium.
        shown = f"{BUILD_DIR}/outputfs{path.rstrip('/')}/{name}"
        found: Path | None = medium / path.strip("/") / name
    elif scheme == "nfs":
        prefix = config.get("NETFS_PREFIX")
        shown = f"{BUILD_DIR}/outputfs/{prefix}/{name}"
        try:
            found = nfs_directory(url, target) / prefix / name
        except RearError as error:
            return RecoverResult(False, url, None, shown, str(error))
    else:
        return RecoverResult(False, url, None, "", f"Invalid scheme '{scheme}' in BACKUP_URL")
    if found is None or not found.is_file():
        # 070_set_backup_archive.sh: Error "Backup archive '$backuparchive' not readable."
        return RecoverResult(False, url, None, shown, f"Backup archive '{shown}' not readable.")
    if scheme == "iso":
        return RecoverResult(True, url, None, shown, "")
    return RecoverResult(True, url, found, shown, "")
