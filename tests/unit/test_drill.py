"""The restore drill over a runner: each node's newest verified run proven on the target."""

from __future__ import annotations

from datetime import datetime, timezone

from barctl.model import Node
from barctl.run import drill, rear_config, target_listing
from barctl.run.manifest import Manifest
from barctl.run.plan import BackupTarget
from barctl.run.rear_config import RearSettings, RearTarget
from barctl.run.retention import RunState
from tests.fakes import FakeRunner, failed, ok
from tests.target_runs import run_files, run_id, sample

BACKUP = Node("backup-0", "198.18.0.14", "heat-admin")
REAR = RearTarget("nfs", "198.18.0.14", "/ctl_plane_backups")
TARGET = BackupTarget(BACKUP, "/ctl_plane_backups", REAR)
SCOPE = drill.Scope((Node("ctl-0", "198.18.0.11", "heat-admin"),), TARGET, 60, 600)
OLDER = run_id(datetime(2026, 11, 28, 2, 30, tzinfo=timezone.utc))
NEWER = run_id(datetime(2026, 11, 29, 2, 30, tzinfo=timezone.utc))


def listed(found: Manifest, state: RunState) -> target_listing.ListedRun:
    """A run directory of the listing with its manifest."""
    directory = target_listing.RunDirectory(found.node, found.run_id, found.started_at, "x")
    return target_listing.ListedRun(directory, state, found)


def listing() -> tuple[target_listing.Listing, Manifest]:
    """ctl-0: a verified run, then a newer one whose verification failed."""
    good = sample("ctl-0", OLDER, files=run_files("ctl-0", OLDER))
    bad = sample("ctl-0", NEWER, passed=False, files=run_files("ctl-0", NEWER))
    runs = (listed(bad, RunState.FAILED), listed(good, RunState.VERIFIED))
    return target_listing.Listing("/ctl_plane_backups", runs), good


def answers(found: Manifest, *, tampered: str = "") -> dict[str, object]:
    """What the target prints for a sound run; `tampered` names a file whose sum changed."""
    directory = f"/ctl_plane_backups/ctl-0/{found.run_id}"
    sums = "".join(
        f"{'0' * 64 if item.path == tampered else item.sha256}  {directory}/{item.path}\n"
        for item in found.files
    )
    local = rear_config.render_local_conf(REAR, RearSettings(), "bios")
    rescue = f"NETFS_PREFIX=ctl-0/{found.run_id}\n"
    config = f"==> local.conf\n{local}==> rescue.conf\n{rescue}"
    return {
        "checksums": ok(sums),
        "archive_member_count": ok("1742\n"),
        "iso_rear_config": ok(config),
    }


def test_a_sound_run_is_restorable_and_only_read_on_the_target() -> None:
    """The newest *verified* run is drilled (not the newer failed one); every command runs on
    the backup node and none changes anything."""
    found, good = listing()
    runner = FakeRunner(answers(good))  # type: ignore[arg-type]
    verdict = drill.drill_node(runner, SCOPE, found, "ctl-0")
    assert verdict.passed, verdict.reason
    assert verdict.reason == f"run {OLDER} restorable"
    assert {node for node, _ in runner.ran_on()} == {"backup-0"}
    assert runner.ran() == ["checksums", "archive_member_count", "iso_rear_config"]
    assert [call.argv[0] for call in runner.calls] == ["sha256sum", "tar", "bash"]


def test_a_tampered_file_fails_the_drill_naming_node_and_file() -> None:
    """A dump whose sha256 changed on the target fails ctl-0 with the file and both sums."""
    found, good = listing()
    dump = "restore/openstack-backup-mysql.sql"
    runner = FakeRunner(answers(good, tampered=dump))  # type: ignore[arg-type]
    verdict = drill.drill_node(runner, SCOPE, found, "ctl-0")
    assert not verdict.passed
    assert verdict.reason.startswith(f"run {OLDER}: {dump}: sha256 {'0' * 64} on the target")


def test_a_corrupt_archive_and_an_unreadable_iso_are_each_named() -> None:
    """tar's error and the ISO's unreadable configuration are both reported."""
    found, good = listing()
    script = answers(good)
    script["archive_member_count"] = failed(2, "tar: Unexpected EOF in archive")
    script["iso_rear_config"] = failed(1, "cpio: premature end of archive")
    verdict = drill.drill_node(FakeRunner(script), SCOPE, found, "ctl-0")  # type: ignore[arg-type]
    assert "backup.tar.gz: tar -t failed: tar: Unexpected EOF in archive" in verdict.reason
    assert f"ctl-0-{OLDER}.iso: configuration unreadable: cpio" in verdict.reason


def test_a_node_without_a_verified_run_fails() -> None:
    """Only failed or no runs: the drill fails the node and runs nothing."""
    found, _ = listing()
    only_failed = target_listing.Listing(found.directory, found.runs[:1])
    runner = FakeRunner()
    verdict = drill.drill_node(runner, SCOPE, only_failed, "ctl-0")
    assert (verdict.passed, verdict.reason) == (False, "no verified run on the target")
    assert runner.calls == []
