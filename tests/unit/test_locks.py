"""Locks: one run per plan across processes, and no node shared by two running plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from barctl import backup
from barctl.plan import BackupTarget, Node, Timeouts


def resolved(name: str, nodes: tuple[str, ...]) -> backup.Resolved:
    """A resolved plan over the named nodes."""
    target = BackupTarget(Node("backup-0", "198.18.0.9", "root"), "/ctl_plane_backups", ())
    members = tuple(Node(node, "198.18.0.1", "root") for node in nodes)
    return backup.Resolved(name, "rolling", members, target, Timeouts())


def test_same_plan_twice_is_refused(tmp_path: Path) -> None:
    """A second holder of the same plan gets LockBusyError naming the plan."""
    with (
        backup.run_locks(tmp_path, resolved("controlplane", ("ctl-0",))),
        pytest.raises(backup.LockBusyError, match="plan controlplane is busy"),
    ):
        backup.run_locks(tmp_path, resolved("controlplane", ("ctl-0",)))


def test_two_plans_sharing_a_node_do_not_run_at_once(tmp_path: Path) -> None:
    """Another plan needing a node already in use is refused, naming that node."""
    with (
        backup.run_locks(tmp_path, resolved("controlplane", ("ctl-0", "ctl-1"))),
        pytest.raises(backup.LockBusyError, match="node ctl-1 is busy"),
    ):
        backup.run_locks(tmp_path, resolved("undercloud", ("ctl-1",)))


def test_disjoint_plans_run_together_and_locks_are_released(tmp_path: Path) -> None:
    """Plans on different nodes hold locks together; released locks can be taken again."""
    with (
        backup.run_locks(tmp_path, resolved("controlplane", ("ctl-0",))),
        backup.run_locks(tmp_path, resolved("undercloud", ("undercloud",))),
    ):
        pass
    with backup.run_locks(tmp_path, resolved("controlplane", ("ctl-0",))):
        pass
