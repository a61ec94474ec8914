"""Node hygiene: each archive holds its own run's dumps, older dump directories are pruned after
verification, and barctl's files on a node are private (issue 10 item 7)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from barctl.config.policy_sections import NodeHygieneSection, TimeoutsSection
from barctl.model import Node, NodeFacts
from barctl.run import (
    commands,
    commands_rear,
    commands_services,
    gate_probe,
    plan,
    plan_modes,
    plan_steps,
    rear_config,
)
from barctl.run.commands import RemoteCommand
from barctl.run.rear_config import RearTarget
from barctl.run.resolution import plan_timeouts
from tests.fakes import FakeRunner, failed, ok

TARGET = plan.BackupTarget(
    Node("backup-0", "198.18.0.9", "root"),
    "/ctl_plane_backups",
    RearTarget("nfs", "198.18.0.9", "/ctl_plane_backups"),
)
RUN = "20261125T023000Z-controlplane-d4"
OLDER = (
    "20261121T023000Z-controlplane-a1",
    "20261122T023000Z-controlplane-b2",
    "20261124T023000Z-undercloud-c3",
)
TIMEOUTS = plan_timeouts(TimeoutsSection())
CONTEXT = plan.Context("controlplane", RUN, TIMEOUTS, TARGET, "pw", keep_run_directories=2)
NODE = Node("ctl-0", "198.18.0.1", "root", groups=frozenset({"pacemaker"}))


def controller(run_directories: tuple[str, ...] = OLDER) -> NodeFacts:
    """A galera, pacemaker and ceph controller with these run directories on it."""
    containers = ("galera-bundle-podman-0", "nova_api", "ceph-mon-ctl-0")
    facts = NodeFacts(containers, True, ("nova",), (("root", "localhost"),))
    return replace(facts, run_directories=run_directories)


def step_names(steps: tuple[plan.Step, ...]) -> list[str]:
    """Step names in order."""
    return [step.name for step in steps]


def test_listing_keeps_only_run_id_shaped_names() -> None:
    """The listing's answer yields run ids only, oldest first: barctl's history.db, a stray
    file, `..`-like, glob and option-like names never become paths."""
    answer = "\n".join(
        (OLDER[2], "history.db", "..", "-rf", "2026*", OLDER[0], f"{OLDER[1]}/x", OLDER[1], "")
    )
    assert commands_rear.run_directories_of(ok(answer)) == OLDER


def test_failed_listing_means_no_run_directories() -> None:
    """No /var/lib/barctl yet (find exits 1): nothing to exclude, nothing to prune."""
    assert commands_rear.run_directories_of(failed(1, "find: No such file or directory")) == ()


def test_listing_is_read_only_and_direct_children_only() -> None:
    """The probe lists /var/lib/barctl's own subdirectories and changes nothing."""
    command = commands_rear.list_run_directories(30)
    assert not command.changes_state
    assert command.argv[:6] == ("find", "/var/lib/barctl", "-mindepth", "1", "-maxdepth", "1")


@pytest.mark.parametrize("name", ["", "..", "../etc", "x/../..", "2026*", "-rf", "history.db"])
def test_removal_refuses_anything_but_a_run_id(name: str) -> None:
    """No path outside a run's own directory can reach `rm -rf`."""
    with pytest.raises(ValueError, match="not a run directory name"):
        commands_rear.remove_run_directories((OLDER[0], name), 30)


def test_removal_names_each_directory_under_var_lib_barctl() -> None:
    """One bounded `rm -rf --one-file-system --` of exactly the given runs' directories."""
    command = commands_rear.remove_run_directories(OLDER[:2], 30)
    assert command.changes_state
    assert command.argv == (
        "rm",
        "-rf",
        "--one-file-system",
        "--",
        f"/var/lib/barctl/{OLDER[0]}",
        f"/var/lib/barctl/{OLDER[1]}",
    )
    assert commands.render(command, "heat-admin").startswith("sudo -n timeout --kill-after=30")


def test_gate_records_the_run_directories_it_found() -> None:
    """The gate's read-only listing becomes the node's facts."""
    listing = ok("\n".join((OLDER[1], "history.db", OLDER[0])))
    runner = FakeRunner({"list_run_directories": listing})
    probe = gate_probe.probe_node(runner, NODE, pacemaker=False, timeout=30)
    assert probe.facts.run_directories == OLDER[:2]
    assert "list_run_directories" in runner.ran()


def test_per_run_file_excludes_every_other_run_directory_not_this_one() -> None:
    """The per-run ReaR file appends each earlier run's directory to BACKUP_PROG_EXCLUDE; this
    run's directory and local.conf's excludes are left alone."""
    steps = plan_steps.rear_steps("ctl-0", controller((*OLDER, RUN)), CONTEXT)
    (written,) = [step for step in steps if step.name == "write_rear_config"]
    assert written.command is not None
    content = written.command.stdin or ""
    expected = " ".join(f"/var/lib/barctl/{name}" for name in OLDER)
    assert f"BACKUP_PROG_EXCLUDE+=( {expected} )" in content
    assert RUN not in content.split("BACKUP_PROG_EXCLUDE", 1)[1]
    local = rear_config.render_local_conf(TARGET.rear, TARGET.settings_for("ctl-0"))
    assert "/var/lib/barctl" not in local


def test_first_run_writes_no_extra_exclude() -> None:
    """Without earlier run directories the per-run file carries the run's identity only."""
    content = rear_config.render_run_conf("ctl-0", RUN)
    assert "BACKUP_PROG_EXCLUDE" not in content


def test_rolling_plan_prunes_the_oldest_after_verification() -> None:
    """keep 2: this run and the newest earlier one stay; the two oldest are removed after the
    ISO is verified and dropped, before the rejoin wait."""
    steps = plan_modes.rolling_node_steps(NODE, controller(), CONTEXT)
    names = step_names(steps)
    assert names[-4:] == [
        "verify_artifacts",
        "remove_local_iso",
        "remove_run_directories",
        "wait_rejoin",
    ]
    (prune,) = [step for step in steps if step.name == "remove_run_directories"]
    assert prune.command is not None
    assert prune.command.argv[4:] == tuple(f"/var/lib/barctl/{name}" for name in OLDER[:2])
    assert prune.undo is None


def test_nothing_is_pruned_within_the_limit() -> None:
    """With no more directories than the limit, no removal step is planned."""
    steps = plan_modes.rolling_node_steps(NODE, controller(OLDER[2:]), CONTEXT)
    assert "remove_run_directories" not in step_names(steps)


def test_this_run_is_never_pruned_even_if_older_ids_sort_after_it() -> None:
    """A newer-looking directory (clock moved back) never pushes this run's out."""
    newer = ("20301231T000000Z-controlplane-z9", "20301231T000001Z-controlplane-z8")
    context = replace(CONTEXT, keep_run_directories=1)
    expired = plan_steps.expired_run_directories(controller(newer), RUN, 1)
    assert RUN not in expired
    assert expired == newer
    assert plan_steps.prune_steps("ctl-0", controller(newer), context)


def test_undercloud_and_offline_plans_prune_after_verification() -> None:
    """Both other plan shapes end each node's ReaR with verify, drop the ISO, then prune."""
    undercloud = plan_modes.build_undercloud_plan(NODE, controller(), CONTEXT)
    steps = undercloud.phases[0].steps[0][1]
    assert step_names(steps)[-3:] == [
        "verify_artifacts",
        "remove_local_iso",
        "remove_run_directories",
    ]
    offline = plan_modes.build_offline_plan((NODE,), {"ctl-0": controller()}, CONTEXT)
    (rear_phase,) = [phase for phase in offline.phases if phase.title == "rear"]
    assert step_names(rear_phase.steps[0][1])[-2:] == [
        "remove_local_iso",
        "remove_run_directories",
    ]


def test_policy_keeps_three_run_directories_by_default() -> None:
    """node_hygiene.keep_run_directories defaults to 3 and refuses 0 (this run always stays)."""
    assert NodeHygieneSection().keep_run_directories == 3
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        NodeHygieneSection(keep_run_directories=0)


@pytest.mark.parametrize(
    "command",
    [
        commands_services.pacemaker_cib("/var/lib/barctl/R/cib.xml", 30),
        commands_services.pacemaker_config_backup("/var/lib/barctl/R/pacemaker_backup", 30),
    ],
)
def test_files_pcs_creates_are_private(command: RemoteCommand) -> None:
    """pcs writes with the caller's umask, so barctl runs it under `umask 077`."""
    rendered = commands.render(command, "root")
    assert "bash -c 'umask 077; pcs " in rendered
