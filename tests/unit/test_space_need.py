"""The gate's "next run would not fit": last verified sizes plus the margin, against df."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from barctl.history.records import Artifact
from barctl.history.store import Store
from barctl.model import Node
from barctl.outcome import NodeOutcome, RunOutcome, Trigger
from barctl.run import gate_probe, preflight
from barctl.run import plan as planning
from barctl.run.rear_capability import SpaceNeed, space_need, space_problem
from barctl.run.rear_config import RearTarget
from barctl.run.resolution import Resolved
from tests.fakes import FakeRunner, ok

GIB = 1 << 30
NOW = datetime.fromisoformat("2026-11-30T02:30:00+00:00")


def test_need_is_the_sizes_plus_the_margin_rounded_up() -> None:
    """Three 1 GiB nodes and 20%: 3.6 GiB, rounded up to the byte."""
    need = SpaceNeed((("ctl-0", GIB), ("ctl-1", GIB), ("ctl-2", GIB + 1)), 20)
    assert need.total == 3 * GIB + 1
    assert need.bytes == -(-(3 * GIB + 1) * 120 // 100)
    assert need.describe() == "ctl-0 1 GiB + ctl-1 1 GiB + ctl-2 1 GiB = 3 GiB, plus 20%"


def test_need_counts_only_plan_nodes_with_a_verified_size() -> None:
    """Nodes never verified, or outside the plan, add nothing; none at all is no need."""
    last = {"ctl-0": GIB, "ctl-1": 0, "other": 5 * GIB}
    assert space_need(last, ["ctl-0", "ctl-1", "ctl-2"], 10) == SpaceNeed((("ctl-0", GIB),), 10)
    assert space_need({}, ["ctl-0"], 10) is None


def test_not_fitting_names_every_number() -> None:
    """Above the floor but below the need: refused with free, need, sizes and the key."""
    need = SpaceNeed((("ctl-0", 2 * GIB), ("ctl-1", 2 * GIB)), 20)
    problem = space_problem(f"Avail\n{3 * GIB}\n", "/backups", GIB, need)
    assert problem == (
        "3 GiB free under /backups: the next run would not fit, it needs about 4.8 GiB (last"
        " verified sizes ctl-0 2 GiB + ctl-1 2 GiB = 4 GiB, plus 20%,"
        " backup_target.space_margin_percent)"
    )
    assert space_problem(f"Avail\n{5 * GIB}\n", "/backups", GIB, need) == ""


def test_floor_is_judged_first() -> None:
    """Below the floor, the floor's message is the reason."""
    need = SpaceNeed((("ctl-0", 20 * GIB),), 0)
    problem = space_problem(f"Avail\n{GIB}\n", "/backups", 2 * GIB, need)
    assert problem.endswith("below the floor of 2 GiB (backup_target.min_free_bytes)")


def test_gate_measures_the_target_for_a_need_even_without_a_floor() -> None:
    """min_free_bytes 0 with a need: df still runs and the target is refused."""
    fake = FakeRunner({"free_space": ok(f"Avail\n{GIB}\n")})
    need = SpaceNeed((("ctl-0", 2 * GIB),), 0)
    probe = gate_probe.probe_target(fake, Node("backup-0", "198.18.0.12", "root"), "/b", 5, 0, need)
    assert probe.problem.startswith("1 GiB free under /b: the next run would not fit")
    assert ("backup-0", "free_space") in fake.ran_on()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A history with one verified controlplane run: ctl-0 3 GiB, ctl-1 failed."""
    with Store.open(tmp_path / "history.db") as opened:
        opened.start_run("r1", "controlplane", Trigger.MANUAL, NOW, 1)
        artifacts = [
            Artifact("/b/ctl-0/r1/x.iso", GIB),
            Artifact("/b/ctl-0/r1/backup.tar.gz", 2 * GIB),
        ]
        opened.record_node("r1", "ctl-0", NodeOutcome.SUCCESS, artifacts, "", now=NOW)
        opened.record_node("r1", "ctl-1", NodeOutcome.FAILED, [], "verification failed", now=NOW)
        opened.finish_run("r1", RunOutcome.FAILED, NOW, "")
        yield opened


def test_run_need_comes_from_the_history(store: Store) -> None:
    """The run's need is each plan node's last successful size from history, with the margin."""
    nodes = tuple(Node(name, name, "root") for name in ("ctl-0", "ctl-1"))
    target = planning.BackupTarget(
        Node("backup-0", "b", "root"), "/b", RearTarget("nfs", "b", "/b"), space_margin_percent=50
    )
    resolved = Resolved("controlplane", "rolling", nodes, target, planning.Timeouts(1, 1, 1, 1, 1))
    assert preflight.space_need(store, resolved) == SpaceNeed((("ctl-0", 3 * GIB),), 50)
    assert preflight.space_need(None, resolved) is None
