"""Locks: one run per plan across processes, and no node shared by two running plans."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from barctl.config.policy_sections import TimeoutsSection
from barctl.errors import BarctlError
from barctl.model import Node
from barctl.run import backup, preflight
from barctl.run.plan import BackupTarget
from barctl.run.rear_config import RearTarget
from barctl.run.resolution import plan_timeouts


def resolved(name: str, nodes: tuple[str, ...]) -> backup.Resolved:
    """A resolved plan over the named nodes."""
    target = BackupTarget(
        Node("backup-0", "198.18.0.9", "root"),
        "/ctl_plane_backups",
        RearTarget("nfs", "198.18.0.9", "/ctl_plane_backups"),
    )
    members = tuple(Node(node, "198.18.0.1", "root") for node in nodes)
    return backup.Resolved(name, "rolling", members, target, plan_timeouts(TimeoutsSection()))


def test_same_plan_twice_is_refused(tmp_path: Path) -> None:
    """A second holder of the same plan gets LockBusyError naming the plan."""
    with (
        preflight.run_locks(tmp_path, resolved("controlplane", ("ctl-0",))),
        pytest.raises(backup.LockBusyError, match="plan controlplane is busy"),
    ):
        preflight.run_locks(tmp_path, resolved("controlplane", ("ctl-0",)))


def test_two_plans_sharing_a_node_do_not_run_at_once(tmp_path: Path) -> None:
    """Another plan needing a node already in use is refused, naming that node."""
    with (
        preflight.run_locks(tmp_path, resolved("controlplane", ("ctl-0", "ctl-1"))),
        pytest.raises(backup.LockBusyError, match="node ctl-1 is busy"),
    ):
        preflight.run_locks(tmp_path, resolved("undercloud", ("ctl-1",)))


def test_disjoint_plans_run_together_and_locks_are_released(tmp_path: Path) -> None:
    """Plans on different nodes hold locks together; released locks can be taken again."""
    with (
        preflight.run_locks(tmp_path, resolved("controlplane", ("ctl-0",))),
        preflight.run_locks(tmp_path, resolved("undercloud", ("undercloud",))),
    ):
        pass
    with preflight.run_locks(tmp_path, resolved("controlplane", ("ctl-0",))):
        pass


def files_under(directory: Path) -> dict[Path, bytes]:
    """Every regular file under `directory` with its content."""
    return {path: path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def test_a_traversal_node_name_touches_nothing_outside_the_runtime_directory(
    tmp_path: Path,
) -> None:
    """`x/../../../../tmp/victim` is refused cleanly; the victim file keeps its content."""
    runtime = tmp_path / "run" / "barctl"
    victim = tmp_path / "victim.lock"
    victim.write_bytes(b"precious\n")
    before = files_under(tmp_path)
    hostile = "x/../../../victim"
    assert (runtime / f"node-{hostile}.lock").resolve() == victim  # the old path, for the record
    with (
        pytest.raises(backup.LockError, match="not an RFC 1123 host name"),
        preflight.run_locks(runtime, resolved("controlplane", (hostile,))),
    ):
        pass
    assert files_under(tmp_path) == before | files_under(runtime)
    assert set(files_under(runtime)) <= {runtime / "plan-controlplane.lock"}
    assert victim.read_bytes() == b"precious\n"


@pytest.mark.parametrize(
    "name",
    ["a" * 300, "ctl-0\n", "-ctl-0", "ctl_0", "..", "ctl-0/..", "", "ctl-0$(id)", "a." * 127],
)
def test_a_name_that_is_not_a_host_name_is_a_clean_error(tmp_path: Path, name: str) -> None:
    """Over-long names and names with `/`, `..`, newlines or shell characters: LockError."""
    with pytest.raises(BarctlError, match="not an RFC 1123 host name") as raised:
        preflight.run_locks(tmp_path, resolved("controlplane", (name,)))
    assert isinstance(raised.value, backup.LockError)
    assert "\n" not in str(raised.value)
    assert len(str(raised.value)) < 200


def test_a_valid_host_name_too_long_for_a_file_name_still_gets_a_lock(tmp_path: Path) -> None:
    """A legal 253-character host name locks under a hashed file name (no ENAMETOOLONG)."""
    name = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(name) == 253
    with (
        preflight.run_locks(tmp_path, resolved("controlplane", (name,))),
        pytest.raises(backup.LockBusyError, match="busy"),
    ):
        preflight.run_locks(tmp_path, resolved("undercloud", (name,)))
    assert all(len(path.name) <= 255 for path in tmp_path.iterdir())


def test_a_lock_file_that_is_a_symlink_is_never_followed(tmp_path: Path) -> None:
    """A planted `node-ctl-0.lock` symlink is refused; its target is neither created nor changed."""
    runtime = tmp_path / "run"
    runtime.mkdir()
    victim = tmp_path / "victim"
    (runtime / "node-ctl-0.lock").symlink_to(victim)
    with pytest.raises(backup.LockError):
        preflight.run_locks(runtime, resolved("controlplane", ("ctl-0",)))
    assert not victim.exists()
    victim.write_bytes(b"precious\n")
    with pytest.raises(backup.LockError):
        preflight.run_locks(runtime, resolved("controlplane", ("ctl-0",)))
    assert victim.read_bytes() == b"precious\n"


def test_a_refused_second_run_keeps_the_holder_pid_in_the_lock_file(tmp_path: Path) -> None:
    """The lock file is truncated only once the lock is held: the busy error names the holder."""
    with preflight.run_locks(tmp_path, resolved("controlplane", ("ctl-0",))):
        for _ in range(2):
            with pytest.raises(backup.LockBusyError, match=f"held by pid {os.getpid()}"):
                preflight.run_locks(tmp_path, resolved("controlplane", ("ctl-0",)))
        assert (tmp_path / "plan-controlplane.lock").read_text() == f"pid {os.getpid()}\n"


def test_a_runtime_directory_that_is_a_file_is_a_clean_error(tmp_path: Path) -> None:
    """When the runtime directory cannot be created the error names the lock file."""
    runtime = tmp_path / "run"
    runtime.write_text("not a directory")
    with pytest.raises(backup.LockError, match="cannot open lock file"):
        preflight.run_locks(runtime, resolved("controlplane", ("ctl-0",)))
