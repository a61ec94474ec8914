"""Debian's real `rear` (2.7) run by the unit tests: read-only `rear dump` in a private mount
namespace, tmpfs over /etc/rear, /var/lib/rear and /var/log/rear, so the host's ReaR state is
never read or touched (tests/unit/test_real_rear.py, test_real_rear_excludes.py)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REAR = Path("/usr/sbin/rear")
SHIELD = "for d in /etc/rear /var/lib/rear /var/log/rear; do mount -t tmpfs barctl-test $d; done"
# What running rear this way needs; a module's pytestmark.
NEEDS_REAR = [
    pytest.mark.skipif(not REAR.exists(), reason="Debian's rear is not installed (./dev test)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="rear dump needs root (and a mount namespace)"),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare (util-linux) missing"),
]


def in_private_mounts(script: str, directory: Path) -> str:
    """Run `script` with sh in a private mount namespace (TMPDIR `directory`); its stdout, exit
    0 asserted."""
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ["PATH"], "TMPDIR": str(directory)},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def rear_dump(config: Path, scratch: Path, *extra: str) -> str:
    """What `rear -c config [extra] dump` prints, behind the tmpfs shield."""
    command = shlex.join([str(REAR), "-c", str(config), *extra, "dump"])
    return in_private_mounts(f"{SHIELD} && exec {command}", scratch)
