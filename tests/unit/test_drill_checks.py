"""The restore drill's judgements: checksums, archive listing and the ISO's ReaR configuration."""

from __future__ import annotations

from datetime import datetime, timezone

from barctl.run import commands, commands_target, drill_checks, rear_config
from barctl.run.manifest import Manifest, ManifestFile, Target, Verification
from barctl.run.rear_config import RearSettings, RearTarget

NFS = RearTarget("nfs", "198.18.0.14", "/ctl_plane_backups")
SFTP = RearTarget("sftp", "198.18.0.14", "/ctl_plane_backups", "backup")
RUN = "20261130T023000Z-controlplane-3f2a"
DIRECTORY = f"/ctl_plane_backups/ctl-0/{RUN}"
WHEN = datetime(2026, 11, 30, 2, 40, tzinfo=timezone.utc)


def manifest(*files: ManifestFile) -> Manifest:
    """A verified manifest of ctl-0's run with `files`."""
    return Manifest(
        "ctl-0", RUN, "controlplane", WHEN, WHEN, "2.6", False, "1.0", "0" * 64,
        Target("nfs", "/ctl_plane_backups"), files, Verification("full", True, None, WHEN),
    )  # fmt: skip


ISO = ManifestFile(f"ctl-0-{RUN}.iso", "iso", 4096, "a" * 64)
ARCHIVE = ManifestFile("backup.tar.gz", "archive", 8192, "b" * 64)
DUMP = ManifestFile("restore/openstack-backup-mysql.sql", "database_dump", 10, "c" * 64)


def iso_config(local_conf: str, netfs_prefix: str) -> tuple[str, str]:
    """(local.conf, rescue.conf) of a rescue system with this local.conf and NETFS_PREFIX,
    rescue.conf as ReaR writes it (prep/default/100_init_workflow_conf.sh, then `set | grep
    '^NETFS_'`, which quotes only values that need it)."""
    rescue = f'SHARE_DIR="/usr/share/rear"\nCONFIG_DIR="/etc/rear"\nNETFS_PREFIX={netfs_prefix}\n'
    return local_conf, rescue


def test_matching_checksums_pass_and_a_changed_file_is_named() -> None:
    """sha256sum's output equal to the manifest passes; a changed dump and a file sha256sum
    could not read are each named with the run-relative path."""
    found = manifest(ISO, ARCHIVE, DUMP)
    good = "".join(f"{item.sha256}  {DIRECTORY}/{item.path}\n" for item in found.files)
    assert drill_checks.checksum_problems(found, DIRECTORY, good) == ()
    tampered = good.replace("c" * 64, "d" * 64).replace(f"{'b' * 64}  {DIRECTORY}/backup", "x")
    problems = [str(item) for item in drill_checks.checksum_problems(found, DIRECTORY, tampered)]
    assert problems == [
        "backup.tar.gz: unreadable or missing on the target",
        f"restore/openstack-backup-mysql.sql: sha256 {'d' * 64} on the target,"
        f" {'c' * 64} in the manifest",
    ]


def test_iso_rendered_by_barctl_resolves_its_own_archive() -> None:
    """The local.conf barctl renders plus the run's NETFS_PREFIX resolve this run's archive."""
    local = rear_config.render_local_conf(NFS, RearSettings(), "bios")
    output = iso_config(local, f"ctl-0/{RUN}")
    archive = f"{DIRECTORY}/backup.tar.gz"
    assert drill_checks.resolution_problems(manifest(ISO, ARCHIVE), NFS, archive, *output) == ()


def test_iso_of_another_run_or_target_is_refused() -> None:
    """An ISO whose rescue.conf names another run, or whose local.conf names another target,
    would restore something else: each is a problem naming the ISO."""
    local = rear_config.render_local_conf(NFS, RearSettings(), "bios")
    archive = f"{DIRECTORY}/backup.tar.gz"
    other_run = iso_config(local, "ctl-0/20261129T023000Z-controlplane-0000")
    problems = drill_checks.resolution_problems(manifest(ISO, ARCHIVE), NFS, archive, *other_run)
    assert [item.file for item in problems] == [ISO.path, ISO.path]
    assert "NETFS_PREFIX is 'ctl-0/20261129T023000Z-controlplane-0000'" in problems[0].message
    assert "recover would open /ctl_plane_backups/ctl-0/2026112" in problems[1].message
    elsewhere = rear_config.render_local_conf(RearTarget("nfs", "192.0.2.9", "/x"), RearSettings())
    problems = drill_checks.resolution_problems(
        manifest(ISO, ARCHIVE), NFS, archive, *iso_config(elsewhere, f"ctl-0/{RUN}")
    )
    assert "BACKUP_URL is 'nfs://192.0.2.9/x'" in problems[0].message


def test_sftp_iso_must_read_its_own_medium() -> None:
    """SFTP: the ISO's BACKUP_URL must be iso:///backup; there is no archive path to match."""
    local = rear_config.render_local_conf(SFTP, RearSettings(), "uefi")
    output = iso_config(local, f"ctl-0/{RUN}")
    assert drill_checks.resolution_problems(manifest(ISO), SFTP, None, *output) == ()
    nfs_local = rear_config.render_local_conf(NFS, RearSettings())
    problems = drill_checks.resolution_problems(
        manifest(ISO), SFTP, None, *iso_config(nfs_local, f"ctl-0/{RUN}")
    )
    assert "the target is iso:///backup" in problems[0].message


def test_rescue_system_without_its_configuration_fails() -> None:
    """No rescue.conf in the ISO's initrd is a problem, not a pass."""
    local = "BACKUP_URL=nfs://198.18.0.14/ctl_plane_backups\n"
    problems = drill_checks.resolution_problems(manifest(ISO, ARCHIVE), NFS, None, local, "")
    assert [str(item) for item in problems] == [f"{ISO.path}: no rescue.conf in the rescue system"]


def test_listing_judgement() -> None:
    """tar listing every member passes; a failed tar or an empty archive fails, tar's last
    error line kept."""
    assert drill_checks.listing_problem("backup.tar.gz", 0, "1234\n", "") is None
    failed = drill_checks.listing_problem(
        "backup.tar.gz",
        2,
        "17\n",
        "gzip: stdin: unexpected end of file\ntar: Error is not recoverable: exiting now\n",
    )
    assert str(failed) == (
        "backup.tar.gz: tar -t failed: tar: Error is not recoverable: exiting now"
    )
    assert str(drill_checks.listing_problem("b.tar", 0, "0\n", "")) == (
        "b.tar: the archive lists no member"
    )


def test_drill_commands_only_read_and_quote_every_word() -> None:
    """The drill's commands change nothing, and the listing streams through `wc -l`."""
    listing = commands_target.archive_listing(f"{DIRECTORY}/backup.tar.gz", "gzip", 600)
    assert listing.argv == ("tar", "--list", "--gzip", "--file", f"{DIRECTORY}/backup.tar.gz")
    assert "set -o pipefail; tar --list --gzip --file" in commands.render(listing, "root")
    assert commands.render(listing, "root").endswith("| wc -l'")
    config = commands_target.initrd_member(
        f"{DIRECTORY}/x.iso", 4096, 100, "etc/rear/rescue.conf", 60
    )
    assert config.argv[-4:] == (f"{DIRECTORY}/x.iso", "4096", "100", "etc/rear/rescue.conf")
    checks = commands_target.checksums((f"{DIRECTORY}/a b",), 60)
    assert "'/ctl_plane_backups/ctl-0/" in commands.render(checks, "heat-admin")
    for command in (listing, config, checks):
        assert not command.changes_state
