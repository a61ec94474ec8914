"""The three plans (undercloud live, control plane rolling, control plane offline) built from
each node's steps (`plan_steps`), with every state change guarded by its undo.

Pure: `barctl plan` prints the result and `engine.py` walks it.
"""

from __future__ import annotations

from collections.abc import Callable

from barctl.model import Node, NodeFacts
from barctl.run import commands_rear, commands_services
from barctl.run.plan import (
    UNDERCLOUD_DATABASE_CONTAINER,
    Context,
    Phase,
    Plan,
    Step,
    StepKind,
    command_step,
    guarded_step,
    run_directory,
    undo_step,
)
from barctl.run.plan_steps import (
    database_steps,
    pacemaker_backup_steps,
    preparation_phase,
    prune_steps,
    rear_steps,
    verify_steps,
)
from barctl.run.restore_material import DATABASE_DUMP, material, offline_material


def build_undercloud_plan(node: Node, facts: NodeFacts, context: Context) -> Plan:
    """Undercloud: consistent dump of every database, then ReaR, with services left running."""
    directory = run_directory(context.run_id)
    timeouts = context.timeouts
    steps: list[Step] = [
        command_step(node.name, commands_rear.make_run_directory(directory, timeouts.command))
    ]
    dumped = UNDERCLOUD_DATABASE_CONTAINER in facts.containers
    if dumped:
        steps.append(
            command_step(
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
        steps += _desynced_dump(name, container, facts, context)
    if facts.pacemaker_member:
        steps += pacemaker_backup_steps(name, context)
    ceph = facts.has_ceph_monitor(name)
    if ceph:
        stop = commands_services.ceph_stop(name, timeouts.command)
        steps.append(
            guarded_step(name, stop, commands_services.ceph_start(name, timeouts.command), "ceph")
        )
    if facts.pacemaker_member:
        stop = commands_services.pcs_cluster_stop(timeouts.command)
        start = commands_services.pcs_cluster_start(timeouts.command)
        steps.append(guarded_step(name, stop, start, "pacemaker"))
    steps += rear_steps(name, facts, context)
    # Everything this node changed comes back before the rejoin wait: a peer lost during the
    # wait fails the run at once, and ceph must not stay down with it (issue 8 finding 7).
    if facts.pacemaker_member:
        steps.append(undo_step(name, "pacemaker"))
    if ceph:
        steps.append(undo_step(name, "ceph"))
    # Verified once the node is back in the cluster: checking the target never lengthens the
    # node's out-of-cluster window.
    made = material(database=container is not None, pacemaker=facts.pacemaker_member, ceph=ceph)
    steps += verify_steps(name, context, made)
    steps += prune_steps(name, facts, context)
    if facts.pacemaker_member:
        steps.append(Step(name, StepKind.WAIT_REJOIN, note="node online, quorate, galera Synced"))
    return tuple(steps)


def _desynced_dump(
    name: str, container: str, facts: NodeFacts, context: Context
) -> tuple[Step, ...]:
    """The galera node's dumps, taken out of flow control (desync guarded by its undo)."""
    timeout = context.timeouts.command
    desync_on = commands_services.galera_desync(container, True, context.password, timeout)
    desync_off = commands_services.galera_desync(container, False, context.password, timeout)
    return (
        guarded_step(name, desync_on, desync_off, "galera_desync"),
        *database_steps(name, container, facts, context),
        undo_step(name, "galera_desync"),
    )


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
        guarded_step(
            node, pause, commands_services.unpause_containers(names, timeout), "containers"
        ),
    )


def _stop_ceph(node: str, found: NodeFacts, timeout: int) -> tuple[Step, ...]:
    """Stop the node's ceph monitor, if it runs one (started again by the `ceph` undo)."""
    if not found.has_ceph_monitor(node):
        return ()
    stop = commands_services.ceph_stop(node, timeout)
    return (guarded_step(node, stop, commands_services.ceph_start(node, timeout), "ceph"),)


def _resume(node: str, found: NodeFacts) -> tuple[Step, ...]:
    """Undo what `_stop_ceph` and `_pause` did, in reverse order."""
    keys = (("ceph", found.has_ceph_monitor(node)), ("containers", found.pausable_containers()))
    return tuple(undo_step(node, key) for key, changed in keys if changed)


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
        (
            _single(
                "stop cluster", first, (guarded_step(first, stop_all, start_all, "pacemaker_all"),)
            ),
        ),
        (_single("start cluster", first, (undo_step(first, "pacemaker_all"), rejoin)),),
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
