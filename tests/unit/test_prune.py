"""Reading the target's runs (find records, manifests) and pruning them, through the real find,
head and rm on a directory under tmp_path (tests.fakes.LocalRunner) and a real history."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from barctl.history.store import Store
from barctl.model import CommandResult, Node
from barctl.run import plan as planning
from barctl.run import prune, target_listing
from barctl.run.commands import RemoteCommand
from barctl.run.manifest import MANIFEST_NAME
from barctl.run.rear_config import RearTarget
from barctl.run.resolution import Resolved
from barctl.run.retention import Rules, RunState
from barctl.run.runner import LineCallback
from tests.fakes import FakeRunner, LocalRunner, failed
from tests.target_runs import run_id, write_run

NOW = datetime.fromisoformat("2026-11-30T12:00:00+00:00")
NODES = ("ctl-0", "ctl-1")
TARGET = Node("backup-0", "198.18.0.10", "root")
HOUR = timedelta(hours=1)
RULES = Rules(1, 0, HOUR)


def day(days_ago: float, plan: str = "controlplane") -> str:
    """The id of a run of `plan` started `days_ago` days before NOW."""
    return run_id(NOW - timedelta(days=days_ago), plan)


def resolved(directory: Path) -> Resolved:
    """The controlplane plan of NODES with its target directory at `directory`."""
    nodes = tuple(Node(name, name, "root") for name in NODES)
    rear = RearTarget("nfs", TARGET.address, str(directory))
    target = planning.BackupTarget(TARGET, str(directory), rear)
    return Resolved("controlplane", "rolling", nodes, target, planning.Timeouts(30, 1, 1, 1, 60))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh history database."""
    with Store.open(tmp_path / "history.db") as opened:
        yield opened


def listed(directory: Path) -> list[tuple[str, str, RunState]]:
    """(node, run id, state) of every run the listing reads under `directory`."""
    found = target_listing.read_target(LocalRunner(), TARGET, str(directory), NODES, 30)
    return [(run.directory.node, run.directory.run_id, run.state) for run in found.runs]


def remaining(directory: Path, node: str) -> list[str]:
    """The run directories left for `node`, newest first."""
    return sorted((path.name for path in (directory / node).iterdir()), reverse=True)


def test_parse_entries_keeps_only_run_directories_of_the_asked_nodes() -> None:
    """Records of other nodes, non-run-id names, files where a run directory should be and
    names with spaces or newlines never become runs; run files and restore material are listed
    with their sizes."""
    good = day(1)
    records = [
        f"d 4096 ctl-0/{good}",
        f"f 10 ctl-0/{good}/backup.tar.gz",
        f"f 5 ctl-0/{good}/{MANIFEST_NAME}",
        f"d 4096 ctl-0/{good}/restore",
        f"f 3 ctl-0/{good}/restore/cib.xml",
        f"f 3 ctl-0/{good}/other/cib.xml",
        "d 4096 ctl-0/lost+found",
        f"f 7 ctl-0/{day(2)}",
        f"d 4096 ctl-0/{day(3)}\nd 4096 ctl-0/{day(4)}",
        f"d 4096 other-node/{day(1)}",
        f"d 4096 ctl-1/{day(5)} x",
    ]
    runs, ignored = target_listing.parse_entries("\0".join(records) + "\0", NODES)
    assert [(run.node, run.run_id, run.files) for run in runs] == [
        ("ctl-0", good, (("backup.tar.gz", 10), (MANIFEST_NAME, 5), ("restore/cib.xml", 3)))
    ]
    assert runs[0].has_manifest
    assert "ctl-0/lost+found" in ignored
    assert f"ctl-0/{day(2)}" in ignored


def test_read_target_judges_each_run_from_its_manifest(tmp_path: Path) -> None:
    """Verified, failed, incomplete, corrupt and mismatched manifests give their states."""
    write_run(tmp_path, "ctl-0", day(1))
    write_run(tmp_path, "ctl-0", day(2), state="failed")
    write_run(tmp_path, "ctl-0", day(3), state="incomplete")
    corrupt = write_run(tmp_path, "ctl-1", day(1))
    (corrupt / MANIFEST_NAME).write_text('{"schema": 1, "node": ')
    moved = write_run(tmp_path, "ctl-1", day(2))
    write_run(tmp_path, "ctl-1", day(3))
    (moved / MANIFEST_NAME).write_text((tmp_path / "ctl-1" / day(3) / MANIFEST_NAME).read_text())
    assert listed(tmp_path) == [
        ("ctl-0", day(1), RunState.VERIFIED),
        ("ctl-0", day(2), RunState.FAILED),
        ("ctl-0", day(3), RunState.INCOMPLETE),
        ("ctl-1", day(1), RunState.UNREADABLE),
        ("ctl-1", day(2), RunState.UNREADABLE),
        ("ctl-1", day(3), RunState.VERIFIED),
    ]


def test_manifests_are_read_in_one_command(tmp_path: Path) -> None:
    """Every manifest of a listing is read by one bounded command, whatever the run count."""
    for age in (1, 2, 3, 4, 5):
        write_run(tmp_path, "ctl-0", day(age))
        write_run(tmp_path, "ctl-1", day(age))
    runner = LocalRunner()
    found = target_listing.read_target(runner, TARGET, str(tmp_path), NODES, 30)
    assert [run.state for run in found.runs] == [RunState.VERIFIED] * 10
    assert [call.name for call in runner.calls] == ["target_entries", "read_manifests"]


def test_a_manifest_holding_a_nul_byte_spoils_only_its_own_run(tmp_path: Path) -> None:
    """A NUL inside one file cannot shift the others' texts: they are read one by one again,
    and only the damaged run is unreadable."""
    for age in (1, 2, 3):
        write_run(tmp_path, "ctl-0", day(age))
    damaged = tmp_path / "ctl-0" / day(2) / MANIFEST_NAME
    damaged.write_text(damaged.read_text().replace('"plan"', '"pl\0an"'))
    assert listed(tmp_path) == [
        ("ctl-0", day(1), RunState.VERIFIED),
        ("ctl-0", day(2), RunState.UNREADABLE),
        ("ctl-0", day(3), RunState.VERIFIED),
    ]


def test_unlistable_target_raises_and_judges_nothing(tmp_path: Path) -> None:
    """A target directory find cannot read is an error naming it, never an empty target."""
    with pytest.raises(target_listing.TargetUnreadable, match="cannot list"):
        listed(tmp_path / "missing")


def test_prune_keeps_the_newest_two_verified_runs_per_node(tmp_path: Path, store: Store) -> None:
    """keep_last 2: four verified runs per node leave the newest two; each deletion is in the
    history as deleted, with its reason and size."""
    for node in NODES:
        for age in (1, 2, 3, 4):
            write_run(tmp_path, node, day(age))
    result = prune.prune(resolved(tmp_path), Rules(2, 0, HOUR), LocalRunner(), store, lambda: NOW)
    assert result.ok
    for node in NODES:
        assert remaining(tmp_path, node) == [day(1), day(2)]
    rows = store.prunes("controlplane")
    assert sorted((row.node, row.run_id, row.state) for row in rows) == sorted(
        (node, day(age), "deleted") for node in NODES for age in (3, 4)
    )
    assert all(row.size_bytes > 0 and row.reason.startswith("deleted: verified") for row in rows)
    assert store.pruned_total("controlplane") == 4


def test_failed_newest_run_prunes_nothing(tmp_path: Path, store: Store) -> None:
    """A node whose newest run failed verification keeps every run, however many."""
    for age in (1, 2, 3, 4):
        write_run(tmp_path, "ctl-0", day(age))
    write_run(tmp_path, "ctl-0", day(0.5), state="failed")
    result = prune.prune(resolved(tmp_path), RULES, LocalRunner(), store, lambda: NOW)
    assert not [verdict for verdict in result.verdicts if verdict.delete]
    assert len(remaining(tmp_path, "ctl-0")) == 5
    assert store.prunes() == []


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    """Without a store nothing is deleted, yet the verdicts say what would be."""
    for age in (1, 2, 3):
        write_run(tmp_path, "ctl-0", day(age))
    runner = LocalRunner()
    result = prune.prune(resolved(tmp_path), RULES, runner, None, lambda: NOW)
    assert result.dry_run
    assert [verdict.run.run_id for verdict in result.verdicts if verdict.delete] == [day(2), day(3)]
    assert len(remaining(tmp_path, "ctl-0")) == 3
    assert "remove_run_directory" not in [call.name for call in runner.calls]


def test_runs_of_another_plan_are_never_judged(tmp_path: Path, store: Store) -> None:
    """A node's runs whose id names another plan are left to that plan's retention."""
    for age in (1, 2, 3):
        write_run(tmp_path, "ctl-0", day(age, "undercloud"))
    write_run(tmp_path, "ctl-0", day(0.5))
    result = prune.prune(resolved(tmp_path), RULES, LocalRunner(), store, lambda: NOW)
    assert [verdict.run.run_id for verdict in result.verdicts] == [day(0.5)]
    assert len(remaining(tmp_path, "ctl-0")) == 4


def test_deletion_is_one_rm_per_run_under_the_target(tmp_path: Path, store: Store) -> None:
    """Each deletion is exactly `rm -rf --one-file-system -- <dir>/<node>/<run id>`."""
    for age in (1, 2):
        write_run(tmp_path, "ctl-0", day(age))
    runner = LocalRunner()
    prune.prune(resolved(tmp_path), RULES, runner, store, lambda: NOW)
    removals = [call.argv for call in runner.calls if call.name == "remove_run_directory"]
    assert removals == [("rm", "-rf", "--one-file-system", "--", f"{tmp_path}/ctl-0/{day(2)}")]


class RefusingRemoval(LocalRunner):
    """Reads through the real tools; deletions get the scripted runner's answer."""

    def __init__(self, removal: FakeRunner) -> None:
        super().__init__()
        self.removal = removal

    def run(
        self,
        node: Node,
        command: RemoteCommand,
        on_line: LineCallback | None = None,
        abort: threading.Event | None = None,
    ) -> CommandResult:
        """The scripted answer for remove_run_directory, the real one otherwise."""
        if command.name == "remove_run_directory":
            return self.removal.run(node, command)
        return super().run(node, command)


def test_refused_deletion_is_recorded_failed_with_the_target_answer(
    tmp_path: Path, store: Store
) -> None:
    """An rm the target refuses is a failure of the prune, in the history with its message."""
    for age in (1, 2):
        write_run(tmp_path, "ctl-0", day(age))
    refused = failed(1, "rm: cannot remove 'x': Permission denied")
    runner = RefusingRemoval(FakeRunner({"remove_run_directory": refused}))
    result = prune.prune(resolved(tmp_path), RULES, runner, store, lambda: NOW)
    assert not result.ok
    assert result.failures[0][1] == "rm: cannot remove 'x': Permission denied"
    [row] = store.prunes()
    assert (row.state, row.detail) == ("failed", "rm: cannot remove 'x': Permission denied")
    assert len(remaining(tmp_path, "ctl-0")) == 2
