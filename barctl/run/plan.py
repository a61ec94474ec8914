"""Plans as data: which steps run on which node, in which order, and what undoes each change.

Pure. Inputs are the resolved nodes, the facts probed on them by the gate, and the run context;
the output is a `Plan` that `barctl plan` prints and `engine.py` walks. This module holds the
plan's data and the three kinds of step; `plan_steps` builds each node's steps, `plan_modes`
the undercloud, rolling and offline plans from them.

Undo model: a COMMAND step with an `undo` registers that undo (persisted, engine.py) *before* the
command runs. A later UNDO step with the same key runs it on the normal path. Whatever is still
registered when a run fails, times out or is interrupted runs in reverse order. This is the
block/always the vendor role lacked for desync, pause and `pcs cluster stop --all`
(docs/reference/tripleo.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from barctl.model import Firmware, Node
from barctl.run import commands_rear, rear_config
from barctl.run.commands import RemoteCommand
from barctl.run.rear_config import NodeFile, RearSettings, RearTarget

UNDERCLOUD_DATABASE_CONTAINER = "mysql"


class StepKind(Enum):
    """What the engine does for a step."""

    COMMAND = "command"
    UNDO = "undo"
    CHECK_PEERS = "check_peers"
    WAIT_REJOIN = "wait_rejoin"
    VERIFY_ARTIFACTS = "verify_artifacts"


@dataclass(frozen=True)
class Timeouts:
    """Server-side limits in seconds for each kind of command, from the policy (whose defaults
    are the only ones: `policy.Timeouts`)."""

    command: int
    database_dump: int
    rear: int
    rejoin: int
    run: int


@dataclass(frozen=True)
class BackupTarget:
    """Where ReaR writes, how barctl checks it is there, and each node's ReaR settings."""

    node: Node
    directory: str
    rear: RearTarget
    # The policy's `rear` section per node name (group overrides resolved); others get defaults.
    settings: tuple[tuple[str, RearSettings], ...] = ()
    # The policy's backup_target.min_free_bytes: the gate refuses a target with less free.
    min_free_bytes: int = 0
    # backup_target.space_margin_percent: the next run needs the last verified sizes plus this.
    space_margin_percent: int = 20
    # The policy's backup_target.verify: "full" or "quick" (verifier.py).
    verify: str = "full"

    def settings_for(self, host: str) -> RearSettings:
        """The ReaR settings of node `host`."""
        return dict(self.settings).get(host, RearSettings())

    def node_files(
        self,
        host: str,
        run_id: str,
        firmware: Firmware = "unknown",
        *,
        other_runs: tuple[str, ...] = (),
    ) -> tuple[NodeFile, ...]:
        """local.conf and the per-run file of node `host` for run `run_id` (rear_config)."""
        settings = self.settings_for(host)
        return rear_config.node_files(
            self.rear, settings, host, run_id, firmware, other_runs=other_runs
        )

    def artifact_paths(self, host: str, run_id: str) -> tuple[str, ...]:
        """The files a node's ReaR run must leave on the target: ISO and archive, or the ISO."""
        return rear_config.artifact_paths(self.rear, self.settings_for(host), host, run_id)


@dataclass(frozen=True)
class Context:
    """Everything a plan needs besides nodes and facts."""

    plan: str
    run_id: str
    timeouts: Timeouts
    target: BackupTarget
    password: str = field(default="", repr=False)
    # The policy's node_hygiene.keep_run_directories: dump directories kept on each node.
    keep_run_directories: int = 3


@dataclass(frozen=True)
class Step:
    """One thing to do on one node."""

    node: str
    kind: StepKind
    command: RemoteCommand | None = None
    undo: RemoteCommand | None = None
    undo_key: str = ""
    note: str = ""
    # VERIFY_ARTIFACTS: the restore material this node made in its run directory (file names).
    material: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """Stable step name for history, logs and metrics."""
        if self.command is not None:
            return self.command.name
        return f"{self.kind.value}:{self.undo_key}" if self.undo_key else self.kind.value


@dataclass(frozen=True)
class Phase:
    """Steps grouped by node; nodes of a parallel phase run at once, each node in order."""

    title: str
    steps: tuple[tuple[str, tuple[Step, ...]], ...]
    parallel: bool = False

    def nodes(self) -> tuple[str, ...]:
        """Nodes that have work in this phase."""
        return tuple(node for node, steps in self.steps if steps)


@dataclass(frozen=True)
class Plan:
    """An ordered, printable description of one backup run."""

    name: str
    run_id: str
    mode: str
    nodes: tuple[Node, ...]
    target: BackupTarget
    phases: tuple[Phase, ...]
    timeouts: Timeouts


def run_directory(run_id: str) -> str:
    """Absolute, run-stamped directory on each node for dumps and cluster configuration."""
    return f"{commands_rear.NODE_RUN_DIRECTORY}/{run_id}"


def command_step(node: str, command: RemoteCommand) -> Step:
    """A step running `command` on `node`, with nothing to undo."""
    return Step(node, StepKind.COMMAND, command)


def guarded_step(node: str, command: RemoteCommand, undo: RemoteCommand, key: str) -> Step:
    """A state change whose `undo` is registered under `key` before `command` runs."""
    return Step(node, StepKind.COMMAND, command, undo=undo, undo_key=key)


def undo_step(node: str, key: str) -> Step:
    """Run, on the normal path, the undo registered under `key` (and settle it)."""
    return Step(node, StepKind.UNDO, undo_key=key)
