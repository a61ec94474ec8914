"""The value types shared by the planner, the runner, the gate, the engine and the history.

Pure and frozen: a node as barctl reaches it, what the gate learned on it, what one remote
command gave back, an artifact on the backup target and an undo that failed. They live here,
below every module that uses them, so that the SSH chokepoint, the gate and the undo journal
need not import the planner, and the report need not import the run's shell.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from barctl.reasons import Reason, interpret_exit_code

GALERA_CONTAINER = re.compile(r"galera-bundle-podman-\d+")
# Pacemaker bundles are managed by pacemaker itself; pausing them would make it fence or restart
# them. The guide's chapter 3 filters galera|mysql|bundle with egrep; barctl matches exactly.
PACEMAKER_BUNDLE = re.compile(r"[a-z0-9_.-]+-bundle-podman-\d+")
STDERR_TAIL_LINES = 25

Firmware = Literal["uefi", "bios", "unknown"]
"""How a node boots, probed by the gate (/sys/firmware/efi); "unknown" when it cannot tell."""

Progress = Callable[[str, str, str], None]
"""Told (node, step, status) as each remote step starts and ends: `barctl run`'s live lines."""


@dataclass(frozen=True)
class Node:
    """A node as barctl reaches it."""

    name: str
    address: str
    user: str
    port: int = 22
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NodeFacts:
    """What the gate learned on a node; every choice of the planner is an exact match on these."""

    containers: tuple[str, ...] = ()
    pacemaker_member: bool = False
    databases: tuple[str, ...] = ()
    accounts: tuple[tuple[str, str], ...] = ()
    # The node's name in pacemaker (`crm_node -n`), which may differ from its inventory name;
    # empty when the node is not a pacemaker member.
    pacemaker_name: str = ""
    # Rendered into local.conf as USING_UEFI_BOOTLOADER (rear_config); "unknown" leaves it out.
    firmware: Firmware = "unknown"
    # Run directories under /var/lib/barctl when the gate looked, oldest first (run-id-shaped
    # names only): the run excludes them from its archive and prunes the oldest (plan).
    run_directories: tuple[str, ...] = ()
    # The partition labelled config-2 (blkid), imaged to /mnt/config-drive before ReaR on the
    # control plane (guide 2.5 step 1); "" when the node has none.
    config_drive: str = ""

    def cluster_name(self, node: str) -> str:
        """The name pacemaker knows this node by: the probed one, else the inventory's."""
        return self.pacemaker_name or node

    def galera_container(self) -> str | None:
        """The node's galera bundle container, when exactly one exists (LP#1964655)."""
        found = [name for name in self.containers if GALERA_CONTAINER.fullmatch(name)]
        return found[0] if len(found) == 1 else None

    def has_ceph_monitor(self, node: str) -> bool:
        """A ceph-ansible monitor container named after this node runs here."""
        return f"ceph-mon-{node}" in self.containers

    def pausable_containers(self) -> tuple[str, ...]:
        """Containers the offline mode pauses: all but databases, pacemaker bundles and ceph.

        Ceph daemons are stopped through their systemd units instead (docs/reference/tripleo.md).
        """
        keep = {"mysql", "galera"}
        return tuple(
            name
            for name in self.containers
            if name not in keep
            and not PACEMAKER_BUNDLE.fullmatch(name)
            and not name.startswith("ceph-")
        )


def last_lines(text: str, count: int = STDERR_TAIL_LINES) -> str:
    """The last `count` lines of `text`: the stderr tail kept in history and logs."""
    return "\n".join(text.splitlines()[-count:])


@dataclass(frozen=True)
class CommandResult:
    """What came back from one remote command.

    `reason` is set by the runner when the command did not run to completion (no session,
    session lost, client-side timeout); otherwise the exit code decides (`reasons`).
    """

    exit_code: int | None
    stdout: str
    stderr: str
    duration_seconds: float
    reason: Reason | None = None

    @property
    def failure(self) -> Reason | None:
        """Why the command did not succeed; None when it did."""
        return self.reason if self.reason is not None else interpret_exit_code(self.exit_code)

    @property
    def ok(self) -> bool:
        """True when the command ran to completion with exit code 0."""
        return self.failure is None

    @property
    def timed_out(self) -> bool:
        """The time limit (server-side `timeout`, or the client's) ended the command."""
        return self.failure is Reason.TIMED_OUT

    @property
    def connection_lost(self) -> bool:
        """The session died under the command: it may or may not have run."""
        return self.failure is Reason.CONNECTION_LOST

    @property
    def unreachable(self) -> bool:
        """No session could be opened: the command never ran."""
        failure = self.failure
        return failure is not None and failure.connect

    def stderr_tail(self) -> str:
        """The last lines of stderr, for history and logs."""
        return last_lines(self.stderr)


@dataclass(frozen=True)
class Artifact:
    """One file a node's backup produced on the backup target."""

    path: str
    size_bytes: int


@dataclass(frozen=True)
class UndoFailure:
    """An undo that did not succeed: the node may be out of the cluster or paused."""

    node: str
    step: str
    exit_code: int | None
    detail: str

    def __str__(self) -> str:
        return f"{self.node}: undo {self.step} failed (exit {self.exit_code}): {self.detail}"
