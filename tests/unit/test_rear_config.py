"""The pure rendering of each node's ReaR configuration (barctl/run/rear_config.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from barctl.run import rear_config
from barctl.run.rear_config import RearSettings, RearTarget

NFS = RearTarget("nfs", "198.18.0.10", "/ctl_plane_backups")
SFTP = RearTarget("sftp", "198.18.0.10", "/srv/backups", "backup")
HOSTILE = "$(touch {marker}); `touch {marker}` 'x\" ; touch {marker}"


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_local_conf_sets_method_target_and_fixed_archive_name() -> None:
    """local.conf names NETFS, ISO, the policy's target and ReaR's default archive explicitly."""
    lines = _lines(rear_config.render_local_conf(NFS, RearSettings()))
    assert 'BACKUP="NETFS"' in lines
    assert 'OUTPUT="ISO"' in lines
    assert "BACKUP_URL=nfs://198.18.0.10/ctl_plane_backups" in lines
    assert "OUTPUT_URL=nfs://198.18.0.10/ctl_plane_backups" in lines
    assert "BACKUP_PROG_ARCHIVE=backup" in lines


def test_local_conf_says_it_is_managed_by_barctl() -> None:
    """The header tells an operator editing the file that barctl owns it."""
    assert rear_config.render_local_conf(NFS, RearSettings()).startswith("# Managed by barctl")


def test_excludes_are_appended_never_assigned() -> None:
    """BACKUP_PROG_EXCLUDE keeps ReaR's defaults (`+=`); the vendor's `=` dropped them."""
    text = rear_config.render_local_conf(NFS, RearSettings())
    assert "BACKUP_PROG_EXCLUDE+=( '/data/*' '/tmp/*' '/ctl_plane_backups/*' )" in text
    assert "BACKUP_PROG_EXCLUDE=" not in text


def test_firmware_decides_the_uefi_line() -> None:
    """UEFI gives 1, BIOS 0, an unknown firmware leaves ReaR's own detection."""
    uefi = rear_config.render_local_conf(NFS, RearSettings(), "uefi")
    bios = rear_config.render_local_conf(NFS, RearSettings(), "bios")
    unknown = rear_config.render_local_conf(NFS, RearSettings())
    assert "USING_UEFI_BOOTLOADER=1" in uefi
    assert "USING_UEFI_BOOTLOADER=0" in bios
    assert "USING_UEFI_BOOTLOADER" not in unknown


def test_compression_sets_options_suffix_and_archive_name() -> None:
    """xz: tar gets --xz, the suffix and the verified archive name follow."""
    settings = RearSettings(compress="xz")
    text = rear_config.render_local_conf(NFS, settings)
    assert "BACKUP_PROG_COMPRESS_OPTIONS=( --xz )" in text
    assert "BACKUP_PROG_COMPRESS_SUFFIX=.xz" in text
    assert rear_config.artifact_paths(NFS, settings, "ctl-0", "R")[1].endswith("/backup.tar.xz")


def test_an_archive_name_gives_back_the_compression_it_was_written_with() -> None:
    """Each compression's archive name maps back to it; a plain or unknown suffix is `none`."""
    for compress in rear_config.COMPRESSION:
        name = rear_config.RearSettings(compress=compress).archive_name
        assert rear_config.compression_of(name) == compress
    assert rear_config.compression_of("backup.tar.zst") == "none"


def test_cinder_volume_group_is_not_recreated() -> None:
    """A configured LVM volume group is appended to EXCLUDE_RECREATE as its layout name."""
    settings = RearSettings(exclude_recreate_volume_groups=("cinder-volumes",))
    text = rear_config.render_local_conf(NFS, settings)
    assert "EXCLUDE_RECREATE+=( /dev/cinder-volumes )" in text


def test_run_file_carries_the_run_identity_only() -> None:
    """The per-run file sets the prefixes and ISO name, never the archive name or the URL."""
    text = rear_config.render_run_conf("ctl-0", "R1")
    assert "NETFS_PREFIX=ctl-0/R1" in text
    assert "OUTPUT_PREFIX=ctl-0/R1" in text
    assert "ISO_PREFIX=ctl-0-R1" in text
    assert "BACKUP_PROG_ARCHIVE" not in text
    assert "_URL" not in text


def test_sftp_puts_the_archive_in_the_iso_and_no_password_anywhere() -> None:
    """SFTP: iso:// archive, the user in the URL, ssh never prompts, no LFTP password line."""
    text = rear_config.render_local_conf(SFTP, RearSettings())
    assert "BACKUP_URL=iso:///backup" in text
    assert "OUTPUT_URL=sftp://backup@198.18.0.10/srv/backups" in text
    assert "BatchMode=yes" in text
    assert "PASSWORD" not in text


def test_artifacts_follow_the_rendered_names() -> None:
    """NFS: ISO and archive under <node>/<run>; SFTP: the ISO alone in the URL's path."""
    settings = RearSettings()
    assert rear_config.artifact_paths(NFS, settings, "ctl-0", "R1") == (
        "/ctl_plane_backups/ctl-0/R1/ctl-0-R1.iso",
        "/ctl_plane_backups/ctl-0/R1/backup.tar.gz",
    )
    assert rear_config.artifact_paths(SFTP, settings, "ctl-0", "R1") == (
        "/srv/backups/ctl-0-R1.iso",
    )


def test_hostile_values_stay_values_when_sourced(tmp_path: Path) -> None:
    """bash -n accepts both files and sourcing them as root runs nothing from a value."""
    marker = tmp_path / "ran"
    hostile = HOSTILE.format(marker=marker)
    settings = RearSettings(
        networking_preparation_commands=(hostile,), exclude=(hostile,), iso_default=hostile
    )
    local = tmp_path / "local.conf"
    local.write_text(rear_config.render_local_conf(NFS, settings))
    run = tmp_path / "run.conf"
    run.write_text(rear_config.render_run_conf("ctl-0", hostile))
    for path in (local, run):
        subprocess.run(["bash", "-n", str(path)], check=True)
    script = 'LOG_DIR=/l; source "$1"; source "$2"; printf "%s\\n" "$ISO_DEFAULT" "$NETFS_PREFIX"'
    shown = subprocess.run(
        ["bash", "-c", script, "bash", str(local), str(run)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert shown == [hostile, f"ctl-0/{hostile}"]
    assert not marker.exists()
