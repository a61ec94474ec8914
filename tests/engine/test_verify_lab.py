"""Verification on the backup server (issue 11): a broken result fails the node with its reason.

The lab's ReaR writes a real ISO 9660 image with El Torito and a real tar.gz (lab/README.md, "The
lab ISO"); `lab.set_rear(corrupt=...)` spoils one of them as a failing disk, a cut transfer or a
misbuilt image would, and the real `dd`, `od`, `gzip`, `tar` and `sha256sum` on the backup node
find it.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from barctl.run import manifest, manifest_parse
from barctl.run.manifest import Manifest
from lab import Lab
from tests.engine.helpers import barctl, history, policy_for
from tests.engine.test_restore_lab import sftp_policy

pytestmark = pytest.mark.lab


def assert_manifest(lab: Lab, node: str, run_id: str, kinds: set[str]) -> Manifest:
    """The run's manifest on the export parses, says verified, and each file's size and sha256
    are those of the file beside it (recomputed here)."""
    directory = lab.export_directory / node / run_id
    text = (directory / manifest.MANIFEST_NAME).read_text()
    found = manifest_parse.parse(text, str(directory / manifest.MANIFEST_NAME))
    assert (found.node, found.run_id, found.verification.passed) == (node, run_id, True)
    assert found.rear_version == lab.rear_version(node)
    assert {item.kind for item in found.files} == kinds
    for item in found.files:
        data = (directory / item.path).read_bytes()
        assert (item.size_bytes, item.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert not list(directory.glob(".*.tmp"))
    return found


def step_commands(directory: Path, run_id: str) -> list[str]:
    """The recorded command lines of run `run_id` (the history's steps table)."""
    with sqlite3.connect(directory / "state" / "history.db") as connection:
        rows = connection.execute("SELECT command FROM steps WHERE run_id = ?", (run_id,))
        return [str(row[0]) for row in rows]


def policy_path(directory: Path) -> Path:
    """The policy file policy_for and sftp_policy wrote in `directory`."""
    return directory / "policy.yaml"


def node_row(policy: Path, node: str) -> dict[str, object]:
    """The newest run's row of `node`."""
    rows = history(policy)[0]["nodes"]
    assert isinstance(rows, list)
    (row,) = [item for item in rows if item["node"] == node]
    return dict(row)


def failed_with(policy: Path, plan: str, node: str) -> str:
    """Run `plan`; assert exit 1 and `node` failed; its reason."""
    result = barctl(policy, "run", plan, timeout=300)
    assert result.exit_code == 1, result.stdout + result.stderr
    row = node_row(policy, node)
    assert row["outcome"] == "failed"
    assert history(policy)[0]["outcome"] == "failed"
    return str(row["reason"])


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("truncated_archive", "backup.tar.gz: gzip -t failed: exit 1: gzip: "),
        ("corrupt_gzip", "crc error"),
        ("truncated_tar", "tar --list failed: exit 2: tar: Error is not recoverable"),
        ("no_boot_record", "ISO without an El Torito boot record"),
    ],
)
def test_a_broken_nfs_result_fails_the_node(
    lab: Lab, tmp_path: Path, fault: str, reason: str
) -> None:
    """A truncated archive, a corrupt gzip, a cut tar, an ISO that cannot boot: failed, exit 1."""
    lab.set_rear(corrupt=fault, host="undercloud")
    found = failed_with(policy_for(lab, tmp_path), "undercloud", "undercloud")
    assert found.startswith("undercloud: verify_artifacts: ")
    assert reason in found


def test_a_dump_without_its_trailer_fails_the_node(lab: Lab, tmp_path: Path) -> None:
    """mysqldump output without `-- Dump completed` is a failed backup, not a success."""
    lab.set_node("undercloud", mysqldump_trailer=False)
    found = failed_with(policy_for(lab, tmp_path), "undercloud", "undercloud")
    assert "database dump has no '-- Dump completed' trailer: it was cut short" in found


def test_an_sftp_iso_without_the_archive_fails_the_node(lab: Lab, tmp_path: Path) -> None:
    """SFTP: an ISO whose /backup lacks the archive fails, naming what is missing."""
    lab.set_rear(corrupt="no_archive_in_iso", host="undercloud")
    found = failed_with(sftp_policy(lab, tmp_path, ("undercloud",)), "undercloud", "undercloud")
    assert "archive backup/backup.tar.gz inside /ctl_plane_backups/undercloud/" in found
    assert found.endswith(".iso: missing")
    run_id = str(history(policy_path(tmp_path))[0]["run_id"])
    written = (lab.export_directory / "undercloud" / run_id / manifest.MANIFEST_NAME).read_text()
    verdict = manifest_parse.parse(written, "manifest").verification
    assert not verdict.passed and str(verdict.reason).endswith(".iso: missing")


def test_a_good_sftp_run_streams_the_archive_out_of_the_iso(lab: Lab, tmp_path: Path) -> None:
    """SFTP, full: the archive inside the ISO passes gzip -t and tar --list; the run succeeds."""
    policy = sftp_policy(lab, tmp_path, ("undercloud",))
    result = barctl(policy, "run", "undercloud", timeout=300)
    assert result.exit_code == 0, result.stdout + result.stderr
    run_id = str(history(policy)[0]["run_id"])
    assert_manifest(lab, "undercloud", run_id, {"iso", "database_dump"})
    commands = step_commands(tmp_path, run_id)
    assert any(line.startswith(f"dd if=/ctl_plane_backups/undercloud/{run_id}/undercloud-") and
               line.endswith("| gzip -t") for line in commands)  # fmt: skip
    assert any(line.endswith("| tar --list --gzip --file - > /dev/null") for line in commands)


def test_a_good_run_records_what_the_target_holds(lab: Lab, tmp_path: Path) -> None:
    """A healthy run passes every check, each run on the target; the verified files recorded."""
    policy = policy_for(lab, tmp_path)
    result = barctl(policy, "run", "undercloud", timeout=300)
    assert result.exit_code == 0, result.stdout + result.stderr
    run = history(policy)[0]
    recorded = node_row(policy, "undercloud")["artifacts"]
    assert isinstance(recorded, list)
    assert [Path(str(path)).name for path in recorded] == [
        f"undercloud-{run['run_id']}.iso",
        "backup.tar.gz",
        "openstack-backup-mysql.sql",
    ]
    for path in recorded:
        assert (lab.export_directory / Path(str(path)).relative_to("/ctl_plane_backups")).is_file()
    found = assert_manifest(
        lab, "undercloud", str(run["run_id"]), {"iso", "archive", "database_dump"}
    )
    # The dump was streamed node -> barctl -> target: the copy is the node's file, byte for byte.
    (dump,) = found.files_of("database_dump")
    assert dump.path == "restore/openstack-backup-mysql.sql"
    source = (
        lab.host_directory("undercloud", "var-lib-barctl")
        / str(run["run_id"])
        / Path(dump.path).name
    )
    copy = lab.export_directory / "undercloud" / str(run["run_id"]) / dump.path
    assert copy.read_bytes() == source.read_bytes()
    assert copy.stat().st_mode & 0o777 == 0o600
    commands = " ; ".join(step_commands(tmp_path, str(run["run_id"])))
    for command in ("sha256sum -- ", "gzip -t -- ", "tar --list --gzip --file ", "tail -c 4096"):
        assert command in commands


def test_a_rolling_run_puts_each_controllers_restore_material_beside_its_iso(
    lab: Lab, tmp_path: Path
) -> None:
    """Rolling: each controller's dump, grants, CIB, `pcs config backup` and ceph auth export
    are copied to `restore/` on the target, listed in its manifest with the sha256 of the
    bytes there, each the node's own file."""
    policy = policy_for(lab, tmp_path)
    result = barctl(policy, "run", "controlplane", timeout=600)
    assert result.exit_code == 0, result.stdout + result.stderr
    run_id = str(history(policy)[0]["run_id"])
    kinds = {"iso", "archive", "database_dump", "grants", "cib", "pacemaker_config", "ceph_auth"}
    for node in ("ctl-0", "ctl-1", "ctl-2"):
        found = assert_manifest(lab, node, run_id, kinds)
        node_directory = lab.host_directory(node, "var-lib-barctl") / run_id
        for item in found.files:
            if item.path.startswith("restore/"):
                source = node_directory / Path(item.path).name
                assert hashlib.sha256(source.read_bytes()).hexdigest() == item.sha256
