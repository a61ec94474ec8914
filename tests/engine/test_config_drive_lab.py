"""The config-drive image in the lab (guide 2.5 step 1, issue 10 item 6): a controller with a
config-2 partition gets /mnt/config-drive before its ReaR, one without gets no dd."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lab import Lab
from tests.engine.helpers import barctl, changes, policy_for, run_backup

pytestmark = pytest.mark.lab


def test_controller_with_config_drive_gets_its_image_before_rear(lab: Lab, tmp_path: Path) -> None:
    """ctl-0 has a config-2 partition: its bytes are in ctl-0's /mnt/config-drive (0600) before
    ctl-0 leaves the cluster and before its rear; ctl-1 and ctl-2 run no dd and get no file."""
    content = os.urandom(3 * 1024 * 1024 + 17)
    lab.set_config_drive("ctl-0", content)
    run_backup(policy_for(lab, tmp_path), "controlplane")
    image = lab.host_directory("ctl-0") / "mnt" / "config-drive"
    assert image.read_bytes() == content
    assert stat.S_IMODE(image.stat().st_mode) == 0o600
    done = changes(lab, "ctl-0")
    assert done.index("config drive image") < done.index("pcs cluster stop")
    assert done.index("config drive image") < done.index("rear mkbackup")
    for host in ("ctl-1", "ctl-2"):
        assert "config drive image" not in changes(lab, host)
        assert not (lab.host_directory(host) / "mnt" / "config-drive").exists()


def test_existing_world_readable_image_is_made_private_and_replaced(
    lab: Lab, tmp_path: Path
) -> None:
    """An image left by a hand-run guide step (0644) is rewritten with this run's bytes, 0600."""
    stale = lab.host_directory("ctl-0") / "mnt" / "config-drive"
    stale.write_bytes(b"old image" * 100000)
    stale.chmod(0o644)
    lab.set_config_drive("ctl-0", b"new image")
    run_backup(policy_for(lab, tmp_path), "controlplane")
    assert stale.read_bytes() == b"new image"
    assert stat.S_IMODE(stale.stat().st_mode) == 0o600


def test_a_directory_at_the_image_path_fails_before_the_node_leaves_the_cluster(
    lab: Lab, tmp_path: Path
) -> None:
    """The guide's chapter 3 `mkdir /mnt/config-drive`: the run fails in its prepare phase
    naming the directory, leaves it as it was, and no node is stopped or backed up."""
    directory = lab.host_directory("ctl-0") / "mnt" / "config-drive"
    directory.mkdir(mode=0o755)
    lab.set_config_drive("ctl-0", b"image")
    policy = policy_for(lab, tmp_path)
    result = barctl(policy, "run", "controlplane", timeout=300)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "is a directory, not the image file" in result.stdout + result.stderr
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755
    assert not any(name in ("pcs cluster stop", "rear mkbackup") for name in changes(lab)), changes(
        lab
    )
    assert lab.is_cluster_healthy()
