"""Pacemaker membership in real runs: read from crm_mon's XML, mapped by each node's own name."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import Lab
from tests.engine.helpers import barctl, changes, history, policy_for

pytestmark = pytest.mark.lab


@pytest.fixture
def policy(lab: Lab, tmp_path: Path) -> Path:
    """The lab's policy with this test's own state and runtime directories; nodes set up."""
    return policy_for(lab, tmp_path)


def refused(lab: Lab, policy: Path) -> str:
    """Run the control plane; assert the gate refused it with zero changes; return stdout."""
    result = barctl(policy, "run", "controlplane")
    assert result.exit_code == 3, result.stdout + result.stderr
    assert changes(lab) == []
    run = history(policy)[0]
    assert run["outcome"] == "refused"
    return result.stdout


@pytest.mark.parametrize("state", ["standby", "maintenance"])
def test_doubtful_controller_refuses_the_run_naming_its_state(
    lab: Lab, policy: Path, state: str
) -> None:
    """ctl-1 in standby or maintenance: exit 3, nothing changed anywhere, reason names it."""
    lab.set_pacemaker_state("ctl-1", state)
    stdout = refused(lab, policy)
    assert f"REFUSED  ctl-1: pacemaker state is {state}, not online" in stdout
    assert stdout.count("REFUSED  ctl-1") == 1


def test_renamed_controller_is_backed_up_with_pcs_cluster_stop(lab: Lab, policy: Path) -> None:
    """Pacemaker knows ctl-1 as overcloud-controller-1: mapped, stopped, backed up, restarted."""
    lab.set_pacemaker_name("ctl-1", "overcloud-controller-1")
    result = barctl(policy, "run", "controlplane")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "ok       ctl-1 pacemaker (as overcloud-controller-1)" in result.stdout
    steps = changes(lab, "ctl-1")
    assert "pcs cluster stop" in steps and "pcs cluster start" in steps
    stop, rear = steps.index("pcs cluster stop"), steps.index("rear mkbackup")
    assert stop < rear < steps.index("pcs cluster start")
    assert lab.is_cluster_healthy(), lab.cluster_health()


def test_pacemaker_group_node_without_a_pacemaker_name_refuses(lab: Lab, policy: Path) -> None:
    """The inventory puts ctl-2 in `pacemaker` but crm_node cannot name it: refused, no change."""
    lab.set_node("ctl-2", pacemaker_member=False)
    stdout = refused(lab, policy)
    assert "REFUSED  ctl-2: cannot tell its pacemaker node name (crm_node -n)" in stdout
