"""Plans as data: order of steps, undos registered before changes, exact fact matching."""

from __future__ import annotations

from dataclasses import replace

from barctl.config.policy_sections import TimeoutsSection
from barctl.model import Node, NodeFacts
from barctl.run import plan, plan_modes, plan_steps, rear_config
from barctl.run.plan import StepKind
from barctl.run.rear_config import RearTarget
from barctl.run.resolution import plan_timeouts

TARGET = plan.BackupTarget(
    Node("backup-0", "198.18.0.9", "root"),
    "/ctl_plane_backups",
    RearTarget("nfs", "198.18.0.9", "/ctl_plane_backups"),
)
CONTEXT = plan.Context("controlplane", "RUN", plan_timeouts(TimeoutsSection()), TARGET, "pw")
NODES = tuple(Node(f"ctl-{index}", f"198.18.0.{index + 1}", "root") for index in range(3))


def every_step(built: plan.Plan) -> list[plan.Step]:
    """Every step of `built` in execution order, parallel phases flattened node by node."""
    return [step for phase in built.phases for _, steps in phase.steps for step in steps]


def controller_facts(name: str) -> NodeFacts:
    """Facts of a controller with galera, pacemaker and a colocated ceph monitor."""
    containers = (
        "galera-bundle-podman-0",
        "haproxy-bundle-podman-0",
        "nova_api",
        f"ceph-mon-{name}",
    )
    return NodeFacts(containers, True, ("nova", "keystone"), (("root", "localhost"),))


FACTS = {node.name: controller_facts(node.name) for node in NODES}


def names(steps: tuple[plan.Step, ...]) -> list[str]:
    """Step names in order."""
    return [step.name for step in steps]


def test_rolling_plan_takes_one_node_out_at_a_time() -> None:
    """Each controller has its own phase: checks, desync, dump, stop, rear, start, ceph, verify,
    wait; ceph comes back before the rejoin wait and verification is outside the stop window."""
    built = plan_modes.build_rolling_plan(NODES, FACTS, CONTEXT)
    titles = [phase.title for phase in built.phases]
    assert titles == ["prepare", "node ctl-0", "node ctl-1", "node ctl-2"]
    steps = built.phases[1].steps[0][1]
    assert names(steps) == [
        "check_peers",
        "galera_desync_on",
        "grants_dump",
        "database_dump",
        "undo:galera_desync",
        "pacemaker_config_backup",
        "pacemaker_cib",
        "ceph_stop",
        "pcs_cluster_stop",
        "write_rear_config",
        "rear_mkbackup",
        "undo:pacemaker",
        "undo:ceph",
        "verify_artifacts",
        "remove_local_iso",
        "wait_rejoin",
    ]


def test_every_guarded_change_names_its_undo() -> None:
    """Desync, ceph stop and pcs stop carry the command that reverts them."""
    built = plan_modes.build_rolling_plan(NODES, FACTS, CONTEXT)
    guarded = {step.name: step.undo for step in every_step(built) if step.undo is not None}
    assert {name: undo.name for name, undo in guarded.items() if undo} == {
        "galera_desync_on": "galera_desync_off",
        "ceph_stop": "ceph_start",
        "pcs_cluster_stop": "pcs_cluster_start",
    }


def test_facts_match_containers_exactly() -> None:
    """A container merely containing "galera" or a second galera container is not trusted."""
    assert NodeFacts(("galera-bundle-podman-0",)).galera_container() == "galera-bundle-podman-0"
    assert NodeFacts(("old-galera-bundle-podman-0-backup",)).galera_container() is None
    two = NodeFacts(("galera-bundle-podman-0", "galera-bundle-podman-1"))
    assert two.galera_container() is None
    assert NodeFacts(("ceph-mon-ctl-0",)).has_ceph_monitor("ctl-0")
    assert not NodeFacts(("ceph-mon-ctl-01",)).has_ceph_monitor("ctl-0")


def test_node_without_galera_or_pacemaker_only_runs_rear() -> None:
    """A composable-role node with neither galera nor pacemaker gets no cluster steps."""
    messaging = Node("msg-0", "198.18.0.20", "root")
    built = plan_modes.build_rolling_plan(
        (messaging,), {"msg-0": NodeFacts(("rabbitmq",))}, CONTEXT
    )
    assert names(built.phases[1].steps[0][1]) == [
        "check_peers",
        "write_rear_config",
        "rear_mkbackup",
        "verify_artifacts",
        "remove_local_iso",
    ]


def test_offline_plan_quiesces_then_backs_up_all_nodes_in_parallel() -> None:
    """Offline: pause, one dump, pacemaker config before the stop, stop all, rear everywhere."""
    built = plan_modes.build_offline_plan(NODES, FACTS, CONTEXT)
    titles = [phase.title for phase in built.phases]
    assert titles == [
        "prepare",
        "pause containers",
        "database",
        "pacemaker configuration",
        "stop ceph",
        "stop cluster",
        "rear",
        "start cluster",
        "resume",
    ]
    pause = built.phases[1].steps[0][1][0]
    assert pause.command is not None and pause.command.argv == ("podman", "pause", "nova_api")
    assert built.phases[6].parallel and built.phases[6].nodes() == ("ctl-0", "ctl-1", "ctl-2")
    stop = built.phases[5].steps[0][1][0]
    assert stop.command is not None and "--all" in stop.command.argv


def test_undercloud_plan_dumps_then_runs_rear() -> None:
    """The undercloud dumps every database from the mysql container, then runs ReaR."""
    undercloud = Node("undercloud", "198.18.0.1", "stack")
    built = plan_modes.build_undercloud_plan(undercloud, NodeFacts(("mysql", "keystone")), CONTEXT)
    steps = built.phases[0].steps[0][1]
    assert names(steps) == [
        "make_run_directory",
        "database_dump",
        "write_rear_config",
        "rear_mkbackup",
        "verify_artifacts",
        "remove_local_iso",
    ]
    dump = steps[1].command
    assert dump is not None and "--all-databases" in dump.argv
    assert dump.stdout_path == "/var/lib/barctl/RUN/openstack-backup-mysql.sql"


def test_artifact_paths_are_the_run_directory_under_the_export() -> None:
    """Verification looks for the ISO and the archive in `<export>/<node>/<run>/`: the names
    the per-run file gives (NETFS_PREFIX/OUTPUT_PREFIX, ISO_PREFIX), not the old flat ones."""
    assert TARGET.artifact_paths("ctl-1", "RUN") == (
        "/ctl_plane_backups/ctl-1/RUN/ctl-1-RUN.iso",
        "/ctl_plane_backups/ctl-1/RUN/backup.tar.gz",
    )


def test_rear_steps_write_only_the_run_identity_never_local_conf() -> None:
    """A run writes the per-run file naming only the run, then `rear -v -C barctl-run
    mkbackup`; local.conf belongs to `barctl setup` (issue 10) and is never written by a run."""
    facts = replace(controller_facts("ctl-1"), firmware="uefi")
    steps = plan_steps.rear_steps("ctl-1", facts, CONTEXT)
    assert [step.name for step in steps] == ["write_rear_config", "rear_mkbackup"]
    run, rear = steps
    assert run.command is not None and rear.command is not None
    assert run.command.stdin == rear_config.render_run_conf("ctl-1", "RUN")
    assert run.command.argv[:2] == ("bash", "-c")
    assert run.command.argv[-1] == "/etc/rear/barctl-run.conf"
    assert rear.command.argv == ("rear", "-v", "-C", "barctl-run", "mkbackup")
    built = plan_modes.build_rolling_plan(NODES, FACTS, CONTEXT)
    written = [step.command.argv for step in every_step(built) if step.command is not None]
    assert not any("/etc/rear/local.conf" in argv for argv in written)


def test_check_steps_never_change_state() -> None:
    """Only COMMAND steps carry commands; checks and waits are read-only by construction."""
    built = plan_modes.build_rolling_plan(NODES, FACTS, CONTEXT)
    for step in every_step(built):
        if step.kind is not StepKind.COMMAND:
            assert step.command is None


def test_sftp_target_expects_one_iso_in_the_url_path() -> None:
    """With SFTP the archive is inside the ISO, uploaded without a per-host directory."""
    sftp = plan.BackupTarget(
        Node("backup-0", "198.18.0.9", "root"),
        "/srv/backups",
        RearTarget("sftp", "198.18.0.9", "/srv/backups", "barctl"),
    )
    assert sftp.artifact_paths("ctl-1", "RUN") == ("/srv/backups/ctl-1-RUN.iso",)
