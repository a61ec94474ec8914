"""Each archive holds only its own run's dump directory, proven with Debian's real `rear` (2.7)
and GNU tar.

`rear -c DIR -C barctl-run dump` shows BACKUP_PROG_EXCLUDE as mkbackup sees it (local.conf, then
the per-run file). ReaR writes that array one pattern a line into backup-exclude.txt
(backup/NETFS/default/400_create_include_exclude_files.sh) and runs
`tar --sparse --block-number --totals --verbose --no-wildcards-match-slash --one-file-system
--ignore-failed-read ... -X backup-exclude.txt -C / -c -f - <mount points>`
(backup/NETFS/default/500_make_backup.sh): the test runs that tar over a /var/lib/barctl holding
three runs' directories and a /mnt holding the config-drive image (guide 2.5 step 1), in a private
mount namespace with a tmpfs over /var/lib and /mnt, so the host's own files are never read or
touched.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from barctl.model import NodeFacts
from barctl.run import plan_steps, rear_config
from barctl.run.rear_config import RearSettings, RearTarget
from tests.real_rear import NEEDS_REAR, in_private_mounts, rear_dump

NFS = RearTarget("nfs", "198.18.0.10", "/ctl_plane_backups")
RUN = "20261125T023000Z-controlplane-d4"
OLDER = ("20261121T023000Z-controlplane-a1", "20261124T023000Z-controlplane-c3")
# The options 500_make_backup.sh gives tar (2.7; the same in 2.4 and 2.6), without compression.
REAR_TAR = (
    "tar --sparse --block-number --totals --verbose --no-wildcards-match-slash"
    " --one-file-system --ignore-failed-read -X {exclude} -C / -c -f - /var/lib/barctl /mnt"
)

pytestmark = NEEDS_REAR


def _dumped_excludes(config: Path, scratch: Path) -> tuple[str, ...]:
    """BACKUP_PROG_EXCLUDE's patterns as real `rear -c config -C barctl-run dump` prints them."""
    output = rear_dump(config, scratch, "-C", "barctl-run")
    (line,) = [line for line in output.splitlines() if "BACKUP_PROG_EXCLUDE=" in line]
    value = line.split("=", 1)[1].strip()
    assert value.startswith("(") and value.endswith(")"), value
    return tuple(shlex.split(value[1:-1]))


@pytest.fixture(scope="module")
def excludes(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    """The excludes of run RUN's mkbackup on a node still holding OLDER's directories."""
    root = tmp_path_factory.mktemp("rear-excludes")
    config = root / "etc-rear"
    config.mkdir()
    settings = RearSettings()
    (config / "local.conf").write_text(rear_config.render_local_conf(NFS, settings, "bios"))
    others = tuple(f"/var/lib/barctl/{name}" for name in OLDER)
    (config / "barctl-run.conf").write_text(rear_config.render_run_conf("ctl-0", RUN, others))
    scratch = root / "scratch"
    scratch.mkdir()
    return _dumped_excludes(config, scratch)


def test_real_rear_excludes_other_runs_but_not_this_one(excludes: tuple[str, ...]) -> None:
    """mkbackup's BACKUP_PROG_EXCLUDE keeps ReaR's defaults and the policy's, and adds every
    other run's directory, never this run's."""
    for pattern in ("/tmp/*", "/var/lib/rear/output/*", "/data/*"):
        assert pattern in excludes
    for name in OLDER:
        assert f"/var/lib/barctl/{name}" in excludes
    assert not [pattern for pattern in excludes if RUN in pattern or "barctl/*" in pattern]


def test_rear_tar_archives_only_this_runs_directory(
    excludes: tuple[str, ...], tmp_path: Path
) -> None:
    """GNU tar run as 500_make_backup.sh runs it, with those excludes, archives this run's
    dumps and the config-drive image, and none of the other runs' files."""
    exclude_file = tmp_path / "backup-exclude.txt"
    exclude_file.write_text("".join(f"{pattern}\n" for pattern in excludes))
    make = "; ".join(
        f"mkdir -p /var/lib/barctl/{name} && echo dump > /var/lib/barctl/{name}/dump.sql"
        for name in (*OLDER, RUN)
    )
    tar = REAR_TAR.format(exclude=shlex.quote(str(exclude_file)))
    image = "echo image > /mnt/config-drive"
    shield = "mount -t tmpfs barctl-test /var/lib; mount -t tmpfs barctl-test /mnt"
    script = f"{shield}; {make}; {image}; {tar} 2>/dev/null | tar -tf -"
    listed = in_private_mounts(script, tmp_path).splitlines()
    assert f"var/lib/barctl/{RUN}/dump.sql" in listed
    assert "mnt/config-drive" in listed
    assert not [member for member in listed if any(name in member for name in OLDER)]


def test_plan_gives_the_per_run_file_the_gates_run_directories() -> None:
    """The paths rendered here are the ones the plan derives from the gate's listing."""
    facts = NodeFacts(run_directories=(*OLDER, RUN))
    paths = plan_steps.other_run_directories(facts, RUN)
    assert paths == tuple(f"/var/lib/barctl/{name}" for name in OLDER)
