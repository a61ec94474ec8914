"""Hostile inventory names against the lab: refused at load, before any connection or lock file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lab import Lab
from tests.engine.helpers import barctl

pytestmark = pytest.mark.lab

HOSTILE_NAMES = (
    "ctl-0$(touch /tmp/barctl-hostile-x)`touch /tmp/barctl-hostile-y`",
    "x/../../victim",
    "a" * 300,
    "-oProxyCommand=touch /tmp/barctl-hostile-z",
)


def hostile_policy(lab: Lab, directory: Path, name: str) -> Path:
    """The lab's inventory with one more controller named `name` at ctl-0's real address."""
    inventory = lab.inventory()
    controllers = inventory["overcloud_Controller"]["hosts"]
    controllers[name] = dict(controllers["ctl-0"])
    inventory_path = directory / "inventory.yaml"
    inventory_path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return lab.write_policy(
        directory / "policy.yaml",
        inventory={"path": str(inventory_path)},
        state_directory=str(directory / "state"),
        runtime_directory=str(directory / "run" / "barctl"),
    )


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=("substitution", "traversal", "long", "option"))
def test_hostile_host_name_is_refused_before_any_connection(
    lab: Lab, tmp_path: Path, name: str
) -> None:
    """A hostile host name exits 2 with a located error; no node, lock or file is touched."""
    policy = hostile_policy(lab, tmp_path, name)
    for command in (("validate",), ("precheck", "controlplane"), ("run", "controlplane")):
        result = barctl(policy, *command)
        assert result.exit_code == 2, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        first = result.stderr.splitlines()[0]
        assert first.startswith(f"{tmp_path / 'inventory.yaml'}:"), first
        assert "overcloud_Controller.hosts." in first
    assert lab.invocations() == []
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "victim.lock").exists()
    assert not list(Path("/tmp").glob("barctl-hostile-*"))
