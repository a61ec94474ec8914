"""The config-drive image (guide 2.5 step 1, restored by 4.3 step 5): found by a read-only blkid
in the gate, imaged by a bounded dd before ReaR on the control plane."""

from __future__ import annotations

import pytest

from barctl.config.policy_sections import TimeoutsSection
from barctl.model import Node, NodeFacts
from barctl.run import commands, commands_rear, gate_probe, plan, plan_modes
from barctl.run.rear_config import RearTarget
from barctl.run.resolution import plan_timeouts
from tests.fakes import FakeRunner, failed, ok

TARGET = plan.BackupTarget(
    Node("backup-0", "198.18.0.9", "root"),
    "/ctl_plane_backups",
    RearTarget("nfs", "198.18.0.9", "/ctl_plane_backups"),
)
CONTEXT = plan.Context("controlplane", "RUN", plan_timeouts(TimeoutsSection()), TARGET, "pw")
NODES = (Node("ctl-0", "198.18.0.1", "root"), Node("ctl-1", "198.18.0.2", "root"))


def test_blkid_probe_is_read_only_and_asks_for_the_config_2_label() -> None:
    """The probe is util-linux blkid's token search, printing device names only."""
    command = commands_rear.config_drive_device(30)
    assert command.argv == ("blkid", "-t", "LABEL=config-2", "-o", "device")
    assert not command.changes_state


def test_one_device_is_the_config_drive() -> None:
    """blkid's single device line is the partition to image."""
    assert commands_rear.config_drive_of(ok("/dev/vda3\n")) == ("/dev/vda3", "")


def test_exit_2_means_no_config_drive() -> None:
    """blkid exits 2 with no output when no device has the label: nothing to image."""
    assert commands_rear.config_drive_of(failed(2, "")) == ("", "")


@pytest.mark.parametrize(
    "answer",
    [
        ok("/dev/vda3\n/dev/vdb1\n"),
        ok("vda3\n"),
        ok("/dev/../etc/shadow\n"),
        ok("/dev/-rf\n"),
        ok("/dev/vda3 extra\n"),
        failed(4, "blkid: bad usage"),
        failed(127, "bash: blkid: command not found"),
    ],
)
def test_anything_but_one_device_path_is_a_problem(answer: object) -> None:
    """Several devices, a relative or traversing path, or a failing blkid: no device, a reason."""
    assert isinstance(answer, type(ok()))
    device, problem = commands_rear.config_drive_of(answer)
    assert device == ""
    assert problem


def test_image_command_is_bounded_private_and_refuses_non_device_paths() -> None:
    """dd writes /mnt/config-drive (0600 through umask and chmod) and refuses a non-/dev input."""
    command = commands_rear.image_config_drive("/dev/vda3", 30)
    assert command.changes_state
    assert command.argv[-2:] == ("/dev/vda3", "/mnt/config-drive")
    assert "umask 077" in command.argv[2]
    assert 'chmod 0600 -- "$2"' in command.argv[2]
    rendered = commands.render(command, "heat-admin")
    assert rendered.startswith("sudo -n timeout --kill-after=30 30s bash -c ")
    with pytest.raises(ValueError, match="not a device path"):
        commands_rear.image_config_drive("/etc/shadow", 30)


def test_gate_finds_the_config_drive_on_controllers_only() -> None:
    """On the control plane the gate asks blkid and keeps the device; the undercloud is not
    asked (guide 2.5 is the control plane's)."""
    runner = FakeRunner({"config_drive_device": ok("/dev/vda3\n")})
    controller = gate_probe.probe_node(runner, NODES[0], pacemaker=True, timeout=30)
    assert controller.facts.config_drive == "/dev/vda3"
    undercloud = gate_probe.probe_node(runner, NODES[1], pacemaker=False, timeout=30)
    assert undercloud.facts.config_drive == ""
    assert ("ctl-1", "config_drive_device") not in runner.ran_on()


def test_gate_refuses_a_node_whose_config_drive_is_ambiguous() -> None:
    """Two config-2 partitions refuse the node as a set-up problem, naming both."""
    runner = FakeRunner({"config_drive_device": ok("/dev/vda3\n/dev/vdb1\n")})
    probe = gate_probe.probe_node(runner, NODES[0], pacemaker=True, timeout=30)
    assert probe.facts.config_drive == ""
    assert any("/dev/vda3, /dev/vdb1" in text for text in probe.setup_problems)


def test_rolling_and_offline_plans_image_the_drive_before_anything_stops() -> None:
    """The dd runs in the prepare phase, on the node that has a config drive only."""
    facts = {"ctl-0": NodeFacts(config_drive="/dev/vda3"), "ctl-1": NodeFacts()}
    for build in (plan_modes.build_rolling_plan, plan_modes.build_offline_plan):
        built = build(NODES, facts, CONTEXT)
        prepare = dict(built.phases[0].steps)
        assert built.phases[0].title == "prepare"
        assert [step.name for step in prepare["ctl-0"]] == [
            "make_run_directory",
            "image_config_drive",
        ]
        assert [step.name for step in prepare["ctl-1"]] == ["make_run_directory"]
        (image,) = [step for step in prepare["ctl-0"] if step.name == "image_config_drive"]
        assert image.undo is None
