"""Plans as data: which steps run on which node, in which order, and what undoes each change.

Pure. Inputs are the resolved nodes, the facts probed on them by the gate, and the run context;
the output is a `Plan` that `barctl plan` prints and `engine.py` walks.

Undo model: a COMMAND step with an `undo` registers that undo (persisted, engine.py) *before* the
command runs. A later UNDO step with the same key runs it on the normal path. Whatever is still
registered when a run fails, times out or is interrupted runs in reverse order. This is the
block/always the vendor role lacked for desync, pause and `pcs cluster stop --all`
(docs/reference/tripleo.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from barctl.model import Firmware, Node, NodeFacts
from barctl.run import commands_rear, commands_services, rear_config
from barctl.run.commands import RemoteCommand
from barctl.run.rear_config import NodeFile, RearSettings, RearTarget
from barctl.run.restore_material import DATABASE_DUMP, material, offline_material

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


def _command(node: str, command: RemoteCommand) -> Step:
    return Step(node, StepKind.COMMAND, command)


def _guarded(node: str, command: RemoteCommand, undo: RemoteCommand, key: str) -> Step:
    return Step(node, StepKind.COMMAND, command, undo=undo, undo_key=key)


def _undo(node: str, key: str) -> Step:
    return Step(node, StepKind.UNDO, undo_key=key)


def rear_steps(node: str, facts: NodeFacts, context: Context) -> tuple[Step, ...]:
    """Write the run's identity, then `rear -C barctl-run mkbackup`.

    local.conf is not written by a run: `barctl setup` owns it, and the gate refuses a node
    whose local.conf differs from the rendered one (the rescue system reads it without `-C`,
    so it must be the policy's, rear_config)."""
    others = other_run_directories(facts, context.run_id)
    _local_conf, run_conf = context.target.node_files(
        node, context.run_id, facts.firmware, other_runs=others
    )
    timeouts = context.timeouts
    return (
        _command(node, commands_rear.write_rear_config(run_conf.content, timeouts.command)),
        _command(node, commands_rear.rear_mkbackup(timeouts.rear)),
    )


def verify_steps(node: str, context: Context, made: tuple[str, ...] = ()) -> tuple[Step, ...]:
    """Check this node's ISO and archive on the target as soon as its ReaR is done (a node backed
    up before a later failure is recorded with its artifacts, issue 8 finding 10); then drop
    the node's local copy of the ISO, which a failed check leaves for the operator. `made`: the
    restore material of `material()` this node produced in the run."""
    iso_prefix = rear_config.iso_name(node, context.run_id)
    note = "ISO and archive on the backup target"
    return (
        Step(node, StepKind.VERIFY_ARTIFACTS, note=note, material=made),
        _command(node, commands_rear.remove_local_iso(iso_prefix, context.timeouts.command)),
    )


def other_run_directories(facts: NodeFacts, run_id: str) -> tuple[str, ...]:
    """Paths of the earlier runs' dump directories the gate found on the node: excluded from
    this run's archive, so each archive holds its own run's dumps only (issue 10 item 7)."""
    return tuple(
        commands_rear.run_directory_path(name) for name in facts.run_directories if name != run_id
    )


def expired_run_directories(facts: NodeFacts, run_id: str, keep: int) -> tuple[str, ...]:
    """Run directory names beyond `keep`: this run always stays and counts as one, then the
    newest others. Run ids sort by start time (history.records.new_run_id): the oldest go."""
    others = sorted({name for name in facts.run_directories if name != run_id}, reverse=True)
    return tuple(sorted(others[max(keep - 1, 0) :]))


def prune_steps(node: str, facts: NodeFacts, context: Context) -> tuple[Step, ...]:
    """Once this run's artifacts are verified, remove the oldest dump directories on the node.

    No undo: deleting expired dumps is the intended end state, and their copies are inside the
    earlier runs' archives on the target. A failed verification stops the node before this."""
    expired = expired_run_directories(facts, context.run_id, context.keep_run_directories)
    if not expired:
        return ()
    return (
        _command(node, commands_rear.remove_run_directories(expired, context.timeouts.command)),
    )


def database_steps(
    node: str, container: str, facts: NodeFacts, context: Context
) -> tuple[Step, ...]:
    """Grants and data dump of a galera node into the run directory."""
    directory = run_directory(context.run_id)
    timeouts = context.timeouts
    return (
        _command(
            node,
            commands_services.grants_dump(
                container,
                facts.accounts,
                context.password,
                f"{directory}/openstack-backup-mysql-grants.sql",
                timeouts.database_dump,
            ),
        ),
        _command(
            node,
            commands_services.database_dump(
                container,
                facts.databases,
                context.password,
                f"{directory}/openstack-backup-mysql.sql",
                timeouts.database_dump,
            ),
        ),
    )


def pacemaker_backup_steps(node: str, context: Context) -> tuple[Step, ...]:
    """`pcs config backup` and the CIB, taken while the cluster still runs (docs/reference/
    tripleo.md)."""
    directory = run_directory(context.run_id)
    timeout = context.timeouts.command
    return (
        _command(
            node,
            commands_services.pacemaker_config_backup(f"{directory}/pacemaker_backup", timeout),
        ),
        _command(node, commands_services.pacemaker_cib(f"{directory}/cib.xml", timeout)),
    )


def config_drive_steps(node: str, facts: NodeFacts, context: Context) -> tuple[Step, ...]:
    """Image the node's config-drive partition to /mnt/config-drive (guide 2.5 step 1), so the
    archive holds it for 4.3 step 5 (`dd if=/mnt/local/mnt/config-drive of=<partition>`).

    Taken while the node is still in the cluster (a few MiB). No undo: the image is a plain file
    the guide keeps on the node, not a change to revert; each run rewrites it."""
    if not facts.config_drive:
        return ()
    timeout = context.timeouts.command
    return (_command(node, commands_rear.image_config_drive(facts.config_drive, timeout)),)


def preparation_phase(
    nodes: tuple[Node, ...], facts: dict[str, NodeFacts], context: Context
) -> Phase:
    """Run directories everywhere, the ceph auth export on monitor nodes while ceph runs, and
    the config-drive image where the gate found one."""
    directory = run_directory(context.run_id)
    timeout = context.timeouts.command
    steps = []
    for node in nodes:
        node_steps = [_command(node.name, commands_rear.make_run_directory(directory, timeout))]
        if facts[node.name].has_ceph_monitor(node.name):
            path = f"{directory}/ceph_auth_export.bak"
            node_steps.append(
                _command(node.name, commands_services.ceph_auth_export(node.name, path, timeout))
            )
        node_steps += config_drive_steps(node.name, facts[node.name], context)
        steps.append((node.name, tuple(node_steps)))
    return Phase("prepare", tuple(steps), parallel=True)


def build_undercloud_plan(node: Node, facts: NodeFacts, context: Context) -> Plan:
    """Undercloud: consistent dump of every database, then ReaR, with services left running."""
    directory = run_directory(context.run_id)
    timeouts = context.timeouts
    steps: list[Step] = [
        _command(node.name, commands_rear.make_run_directory(directory, timeouts.command))
    ]
    dumped = UNDERCLOUD_DATABASE_CONTAINER in facts.containers
    if dumped:
        steps.append(
            _command(
                node.name,
                commands_services.database_dump(
                    UNDERCLOUD_DATABASE_CONTAINER,
                    (),
                    context.password,
                    f"{directory}/openstack-backup-mysql.sql",
                    timeouts.database_dump,
                ),
            )
        )
    made = (DATABASE_DUMP,) if dumped else ()
    steps += (*rear_steps(node.name, facts, context), *verify_steps(node.name, context, made))
    steps += prune_steps(node.name, facts, context)
    phases = (Phase("backup", ((node.name, tuple(steps)),)),)
    return Plan(
        context.plan, context.run_id, "live", (node,), context.target, phases, context.timeouts
    )


def rolling_node_steps(node: Node, facts: NodeFacts, context: Context) -> tuple[Step, ...]:
    """One controller out at a time: check peers, dump, stop, ReaR, start, verify, wait for it."""
    name = node.name
    timeouts = context.timeouts
    steps: list[Step] = [
        Step(name, StepKind.CHECK_PEERS, note="every other node online, galera Synced")
    ]
    container = facts.galera_container()
    if container is not None:
        desync_on = commands_services.galera_desync(
            container, True, context.password, timeouts.command
        )
        desync_off = commands_services.galera_desync(
            container, False, context.password, timeouts.command
        )
        steps.append(_guarded(name, desync_on, desync_off, "galera_desync"))
        steps += database_steps(name, container, facts, context)
        steps.append(_undo(name, "galera_desync"))
    if facts.pacemaker_member:
        steps += pacemaker_backup_steps(name, context)
    ceph = facts.has_ceph_monitor(name)
    if ceph:
        stop = commands_services.ceph_stop(name, timeouts.command)
        steps.append(
            _guarded(name, stop, commands_services.ceph_start(name, timeouts.command), "ceph")
        )
    if facts.pacemaker_member:
        stop = commands_services.pcs_cluster_stop(timeouts.command)
        start = commands_services.pcs_cluster_start(timeouts.command)
        steps.append(_guarded(name, stop, start, "pacemaker"))
    steps += rear_steps(name, facts, context)
    # Everything this node changed comes back before the rejoin wait: a peer lost during the
    # wait fails the run at once, and ceph must not stay down with it (issue 8 finding 7).
    if facts.pacemaker_member:
        steps.append(_undo(name, "pacemaker"))
    if ceph:
        steps.append(_undo(name, "ceph"))
    # Verified once the node is back in the cluster: checking the target never lengthens the
    # node's out-of-cluster window.
    made = material(database=container is not None, pacemaker=facts.pacemaker_member, ceph=ceph)
    steps += verify_steps(name, context, made)
    steps += prune_steps(name, facts, context)
    if facts.pacemaker_member:
        steps.append(Step(name, StepKind.WAIT_REJOIN, note="node online, quorate, galera Synced"))
    return tuple(steps)


def build_rolling_plan(
    nodes: tuple[Node, ...], facts: dict[str, NodeFacts], context: Context
) -> Plan:
    """Control plane, rolling: the cloud stays up; stop at the first failed node."""
    phases = [preparation_phase(nodes, facts, context)]
    for node in nodes:
        steps = rolling_node_steps(node, facts[node.name], context)
        phases.append(Phase(f"node {node.name}", ((node.name, steps),)))
    return Plan(
        context.plan,
        context.run_id,
        "rolling",
        nodes,
        context.target,
        tuple(phases),
        context.timeouts,
    )


def _rear_and_verify(
    node: str, found: NodeFacts, context: Context, made: tuple[str, ...]
) -> tuple[Step, ...]:
    return (
        *rear_steps(node, found, context),
        *verify_steps(node, context, made),
        *prune_steps(node, found, context),
    )


def _single(title: str, node: str, steps: tuple[Step, ...]) -> Phase:
    return Phase(title, ((node, steps),))


def _each(title: str, nodes: tuple[Node, ...], make: Callable[[Node], tuple[Step, ...]]) -> Phase:
    steps = tuple((node.name, tuple(make(node))) for node in nodes)
    return Phase(title, tuple(item for item in steps if item[1]), parallel=True)


def _pause(node: str, found: NodeFacts, timeout: int) -> tuple[Step, ...]:
    """Pause the node's pausable containers (resumed by the `containers` undo)."""
    names = found.pausable_containers()
    if not names:
        return ()
    pause = commands_services.pause_containers(names, timeout)
    return (
        _guarded(node, pause, commands_services.unpause_containers(names, timeout), "containers"),
    )


def _stop_ceph(node: str, found: NodeFacts, timeout: int) -> tuple[Step, ...]:
    """Stop the node's ceph monitor, if it runs one (started again by the `ceph` undo)."""
    if not found.has_ceph_monitor(node):
        return ()
    stop = commands_services.ceph_stop(node, timeout)
    return (_guarded(node, stop, commands_services.ceph_start(node, timeout), "ceph"),)


def _resume(node: str, found: NodeFacts) -> tuple[Step, ...]:
    """Undo what `_stop_ceph` and `_pause` did, in reverse order."""
    keys = (("ceph", found.has_ceph_monitor(node)), ("containers", found.pausable_containers()))
    return tuple(_undo(node, key) for key, changed in keys if changed)


def _database_phases(
    nodes: tuple[Node, ...], facts: dict[str, NodeFacts], context: Context
) -> tuple[Phase, ...]:
    """The database dump on the first node running galera; none without galera."""
    galera = [node.name for node in nodes if facts[node.name].galera_container() is not None]
    if not galera:
        return ()
    first = galera[0]
    container = facts[first].galera_container() or ""
    return (_single("database", first, database_steps(first, container, facts[first], context)),)


ClusterPhases = tuple[tuple[Phase, ...], tuple[Phase, ...], tuple[Phase, ...]]


def _cluster_phases(
    nodes: tuple[Node, ...], facts: dict[str, NodeFacts], context: Context
) -> ClusterPhases:
    """(back up the pacemaker configuration, stop the cluster, start it and wait for every node),
    each run from the first cluster member; all empty without pacemaker."""
    members = [node.name for node in nodes if facts[node.name].pacemaker_member]
    if not members:
        return (), (), ()
    first, timeout = members[0], context.timeouts.command
    stop_all = commands_services.pcs_cluster_stop(timeout, every_node=True)
    start_all = commands_services.pcs_cluster_start(timeout, every_node=True)
    rejoin = Step(first, StepKind.WAIT_REJOIN, note="every node online, quorate, galera Synced")
    return (
        (_single("pacemaker configuration", first, pacemaker_backup_steps(first, context)),),
        (_single("stop cluster", first, (_guarded(first, stop_all, start_all, "pacemaker_all"),)),),
        (_single("start cluster", first, (_undo(first, "pacemaker_all"), rejoin)),),
    )


def build_offline_plan(
    nodes: tuple[Node, ...], facts: dict[str, NodeFacts], context: Context
) -> Plan:
    """Control plane, offline (guide chapter 3): quiesce everything, ReaR on all nodes at once."""
    timeout = context.timeouts.command
    configuration, stop_cluster, start_cluster = _cluster_phases(nodes, facts, context)
    made = offline_material(nodes, facts)
    phases = (
        preparation_phase(nodes, facts, context),
        _each("pause containers", nodes, lambda node: _pause(node.name, facts[node.name], timeout)),
        *_database_phases(nodes, facts, context),
        *configuration,
        _each("stop ceph", nodes, lambda node: _stop_ceph(node.name, facts[node.name], timeout)),
        *stop_cluster,
        _each(
            "rear",
            nodes,
            lambda node: _rear_and_verify(node.name, facts[node.name], context, made[node.name]),
        ),
        *start_cluster,
        _each("resume", nodes, lambda node: _resume(node.name, facts[node.name])),
    )
    return Plan(
        context.plan, context.run_id, "offline", nodes, context.target, phases, context.timeouts
    )
