"""barctl's ReaR configuration read by Debian's real `rear` (2.7), as the rescue system reads it.

For run R, `rear -c DIR -C barctl-run dump` shows the mkbackup-time configuration; the rescue
system's view is the copied config directory (per-run file included, but nothing reads it) plus
the `NETFS_*` lines rescue/NETFS/default/600_store_NETFS_variables.sh appends to rescue.conf, read
by plain `rear -c RESCUE_DIR dump` (no -C), as `rear recover` does
(skel/default/etc/scripts/system-setup). `rear dump` is read-only apart from its log; each runs in
a private mount namespace with tmpfs over /etc/rear, /var/lib/rear and /var/log/rear, so the
host's ReaR state is never touched.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from barctl.run import rear_config
from barctl.run.rear_config import RearSettings, RearTarget
from tests.real_rear import NEEDS_REAR, rear_dump

NFS = RearTarget("nfs", "198.18.0.10", "/ctl_plane_backups")
SFTP = RearTarget("sftp", "198.18.0.10", "/srv/backups", "backup")
SETTINGS = RearSettings(networking_preparation_commands=("ip link set br-ex up",))

pytestmark = NEEDS_REAR


def _dump(config: Path, *extra: str) -> dict[str, str]:
    """Scalar variables of `rear -c config [extra] dump`, run behind a tmpfs shield."""
    private = config.parent / f"{config.name}.tmp"
    private.mkdir()
    values: dict[str, str] = {}
    for line in rear_dump(config, private, *extra).splitlines():
        # dump-workflow.sh prints BACKUP and OUTPUT as headings, the rest as assignments.
        for heading, name in (("# Backup with ", "BACKUP"), ("# Output to ", "OUTPUT")):
            if line.startswith(heading):
                values[name] = line.removeprefix(heading).rstrip(":")
        name, equals, value = line.strip().partition("=")
        if equals and name.isidentifier() and not value.startswith("("):
            values[name] = shlex.split(value)[0] if value else ""
        elif equals and name.isidentifier():
            values[name] = value
    return values


def _configuration(directory: Path, target: RearTarget, node: str, run_id: str) -> Path:
    """The node's /etc/rear at mkbackup time for run `run_id`."""
    directory.mkdir(parents=True)
    local = rear_config.render_local_conf(target, SETTINGS, "bios")
    (directory / "local.conf").write_text(local)
    (directory / "barctl-run.conf").write_text(rear_config.render_run_conf(node, run_id))
    return directory


def _rescue_view(mkbackup: Path, dumped: dict[str, str], rescue: Path) -> Path:
    """The ISO's /etc/rear: the copied directory and a rescue.conf as ReaR writes it."""
    shutil.copytree(mkbackup, rescue)
    netfs = [f"{name}={value}" for name, value in dumped.items() if name.startswith("NETFS_")]
    # prep/default/100_init_workflow_conf.sh writes the directories, 600_store_NETFS_variables.sh
    # appends `set | grep '^NETFS_'`; CONFIG_DIR is the copied directory, as /etc/rear is there.
    lines = [f'SHARE_DIR="/usr/share/rear"\nCONFIG_DIR="{rescue}"', *netfs]
    (rescue / "rescue.conf").write_text("\n".join(lines) + "\n")
    return rescue


Views = dict[tuple[str, str], tuple[dict[str, str], dict[str, str]]]


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Views]:
    """(mkbackup-time, recover-time) dumps for NFS runs R1 and R2 and an SFTP run R1."""
    root = tmp_path_factory.mktemp("rear")
    cases = (("nfs", "R1"), ("nfs", "R2"), ("sftp", "R1"))
    targets = {"nfs": NFS, "sftp": SFTP}
    made = {
        case: _configuration(root / "-".join(case), targets[case[0]], "ctl-0", case[1])
        for case in cases
    }
    with ThreadPoolExecutor(len(cases)) as pool:
        backups = pool.map(lambda case: _dump(made[case], "-C", "barctl-run"), cases)
        at_backup = dict(zip(cases, backups))
        rescues = {
            c: _rescue_view(made[c], at_backup[c], root / f"rescue-{'-'.join(c)}") for c in cases
        }
        at_recover = dict(zip(cases, pool.map(lambda case: _dump(rescues[case]), cases)))
    yield {case: (at_backup[case], at_recover[case]) for case in cases}


def _archive(dumped: dict[str, str], target: RearTarget) -> str:
    """The archive `rear recover` opens, as 070_set_backup_archive.sh builds it, on the target."""
    name = dumped["BACKUP_PROG_ARCHIVE"] + dumped["BACKUP_PROG_SUFFIX"]
    return f"{target.path}/{dumped['NETFS_PREFIX']}/{name}{dumped['BACKUP_PROG_COMPRESS_SUFFIX']}"


@pytest.mark.parametrize("run_id", ["R1", "R2"])
def test_nfs_rescue_system_recovers_this_runs_archive(views: Views, run_id: str) -> None:
    """Plain `rear recover` in run R's ISO reads the policy's NFS target and run R's archive."""
    at_backup, at_recover = views[("nfs", run_id)]
    expected_iso, expected_archive = rear_config.artifact_paths(NFS, SETTINGS, "ctl-0", run_id)
    assert at_recover["BACKUP"] == "NETFS"
    assert at_recover["BACKUP_URL"] == "nfs://198.18.0.10/ctl_plane_backups"
    assert _archive(at_recover, NFS) == expected_archive
    assert _archive(at_backup, NFS) == expected_archive
    iso = f"{NFS.path}/{at_backup['OUTPUT_PREFIX']}/{at_backup['ISO_PREFIX']}.iso"
    assert iso == expected_iso


def test_nfs_runs_do_not_share_an_archive(views: Views) -> None:
    """The second run's ISO finds the second archive, the first ISO still the first."""
    first = _archive(views[("nfs", "R1")][1], NFS)
    second = _archive(views[("nfs", "R2")][1], NFS)
    assert first != second
    assert first.endswith("/ctl-0/R1/backup.tar.gz")
    assert second.endswith("/ctl-0/R2/backup.tar.gz")


def test_sftp_rescue_system_reads_the_archive_inside_the_iso(views: Views) -> None:
    """SFTP: the ISO named after node and run holds the archive that recover reads."""
    at_backup, at_recover = views[("sftp", "R1")]
    (expected_iso,) = rear_config.artifact_paths(SFTP, SETTINGS, "ctl-0", "R1")
    assert at_recover["BACKUP"] == "NETFS"
    assert at_recover["OUTPUT"] == "ISO"
    assert at_recover["BACKUP_URL"] == "iso:///backup"
    archive = at_recover["BACKUP_PROG_ARCHIVE"] + at_recover["BACKUP_PROG_SUFFIX"]
    assert archive + at_recover["BACKUP_PROG_COMPRESS_SUFFIX"] == "backup.tar.gz"
    assert at_backup["OUTPUT_URL"] == "sftp://backup@198.18.0.10/srv/backups"
    assert f"{SFTP.path}/{at_backup['ISO_PREFIX']}.iso" == expected_iso
    assert at_recover["NETFS_PREFIX"] == "ctl-0/R1"


def test_excludes_keep_rears_defaults(views: Views) -> None:
    """The policy's excludes are appended: ReaR's own output directory stays excluded."""
    excludes = views[("nfs", "R1")][0]["BACKUP_PROG_EXCLUDE"]
    for pattern in ("/tmp/*", "/dev/shm/*", "/var/lib/rear/output/*", "/data/*"):
        assert f'"{pattern}"' in excludes
