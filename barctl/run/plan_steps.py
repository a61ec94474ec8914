"""Each node's steps of a plan: ReaR and its verification, the dumps, the pacemaker
configuration, the config drive, the old run directories' pruning and the preparation phase.

Pure: `plan_modes` orders them into the undercloud, rolling and offline plans.
"""

from __future__ import annotations

from barctl.model import Node, NodeFacts
from barctl.run import commands_rear, commands_services, rear_config
from barctl.run.plan import Context, Phase, Step, StepKind, command_step, run_directory


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
        command_step(node, commands_rear.write_rear_config(run_conf.content, timeouts.command)),
        command_step(node, commands_rear.rear_mkbackup(timeouts.rear)),
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
        command_step(node, commands_rear.remove_local_iso(iso_prefix, context.timeouts.command)),
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
        command_step(node, commands_rear.remove_run_directories(expired, context.timeouts.command)),
    )


def database_steps(
    node: str, container: str, facts: NodeFacts, context: Context
) -> tuple[Step, ...]:
    """Grants and data dump of a galera node into the run directory."""
    directory = run_directory(context.run_id)
    timeouts = context.timeouts
    return (
        command_step(
            node,
            commands_services.grants_dump(
                container,
                facts.accounts,
                context.password,
                f"{directory}/openstack-backup-mysql-grants.sql",
                timeouts.database_dump,
            ),
        ),
        command_step(
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
        command_step(
            node,
            commands_services.pacemaker_config_backup(f"{directory}/pacemaker_backup", timeout),
        ),
        command_step(node, commands_services.pacemaker_cib(f"{directory}/cib.xml", timeout)),
    )


def config_drive_steps(node: str, facts: NodeFacts, context: Context) -> tuple[Step, ...]:
    """Image the node's config-drive partition to /mnt/config-drive (guide 2.5 step 1), so the
    archive holds it for 4.3 step 5 (`dd if=/mnt/local/mnt/config-drive of=<partition>`).

    Taken while the node is still in the cluster (a few MiB). No undo: the image is a plain file
    the guide keeps on the node, not a change to revert; each run rewrites it."""
    if not facts.config_drive:
        return ()
    timeout = context.timeouts.command
    return (command_step(node, commands_rear.image_config_drive(facts.config_drive, timeout)),)


def preparation_phase(
    nodes: tuple[Node, ...], facts: dict[str, NodeFacts], context: Context
) -> Phase:
    """Run directories everywhere, the ceph auth export on monitor nodes while ceph runs, and
    the config-drive image where the gate found one."""
    directory = run_directory(context.run_id)
    timeout = context.timeouts.command
    steps = []
    for node in nodes:
        node_steps = [command_step(node.name, commands_rear.make_run_directory(directory, timeout))]
        if facts[node.name].has_ceph_monitor(node.name):
            path = f"{directory}/ceph_auth_export.bak"
            node_steps.append(
                command_step(
                    node.name, commands_services.ceph_auth_export(node.name, path, timeout)
                )
            )
        node_steps += config_drive_steps(node.name, facts[node.name], context)
        steps.append((node.name, tuple(node_steps)))
    return Phase("prepare", tuple(steps), parallel=True)
