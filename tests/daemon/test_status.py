"""`barctl status` as an unprivileged user against a real daemon: running with its pid, policy
and next runs while it runs (its state file), not running once it stopped, stale after a kill.

No lab needed: the plans' slots are hours away. The daemon runs as root (as the test); status
runs under `setpriv --reuid nobody` (util-linux) from a directory every user may read, as an
operator without root would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.helpers import REPO, DaemonRunner, offline_policy, write_yaml

NOBODY = ("setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups")


@pytest.fixture
def public_directory() -> Iterator[Path]:
    """A 0755 directory under /tmp (pytest's own is root's 0700), removed at the end."""
    directory = Path(tempfile.mkdtemp(prefix="barctl-status-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


def status_as_nobody(
    policy: Path, *arguments: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    """`barctl -c POLICY status ARGUMENTS` run as user nobody (`extra`: more environment)."""
    environ = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "BARCTL_LOG_FORMAT": "json"}
    environ |= extra
    command = [*NOBODY, sys.executable, "-m", "barctl", "-c", str(policy), "status", *arguments]
    return subprocess.run(
        command, env=environ, cwd="/", capture_output=True, text=True, timeout=60, check=False
    )


def status_json(policy: Path) -> dict[str, Any]:
    """The daemon object of `status --json` as nobody (exit 0 asserted)."""
    result = status_as_nobody(policy, "--json")
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    assert document["schema"] == "barctl.status/1"
    return document


def test_status_as_nobody_follows_the_daemon(public_directory: Path, daemons: DaemonRunner) -> None:
    """Running with the daemon's pid, policy and both plans' next runs (the history, 0600, is
    said unreadable), also to a user who may not read the policy; the state file is 0644; a
    reload's new interval shows at once; after SIGTERM not running; after SIGKILL a stale state
    file naming the dead pid."""
    policy = write_yaml(public_directory / "policy.yaml", offline_policy(public_directory))
    daemon, notify = daemons.start(policy)
    notify.wait("READY", "1", timeout=30)
    state_file = public_directory / "run" / "daemon.json"
    assert oct(state_file.stat().st_mode & 0o777) == "0o644"

    document = status_json(policy)
    running = document["daemon"]
    assert (running["state"], running["pid"], running["policy"]) == (
        "running",
        daemon.pid,
        str(policy),
    )
    plans = {row["plan"]: row["next_run"] for row in running["next_runs"]}
    assert set(plans) == {"undercloud", "controlplane"} and all(plans.values())
    assert document["history_readable"] is False  # history.db is 0600: root's (barctl's)
    text = status_as_nobody(policy).stdout
    assert text.startswith(f"daemon: running, pid {daemon.pid} since ")
    assert f"policy {policy}" in text and "next runs: controlplane 20" in text
    assert "history: not readable as this user" in text

    policy.chmod(0o600)  # as /etc/barctl/policy.yaml (0640 root:barctl) to a user outside barctl
    hidden = status_as_nobody(policy, "--json", RUNTIME_DIRECTORY=str(state_file.parent))
    assert hidden.returncode == 0, hidden.stderr
    without = json.loads(hidden.stdout)
    assert (without["policy_readable"], without["plans"]) == (False, [])
    assert (without["daemon"]["state"], without["daemon"]["pid"]) == ("running", daemon.pid)
    policy.chmod(0o644)

    document = offline_policy(public_directory)
    document["plans"]["undercloud"]["interval_seconds"] = 120
    write_yaml(policy, document)
    daemon.signal(signal.SIGHUP)
    notify.wait("READY", "1", count=2)
    after = {row["plan"]: row["next_run"] for row in status_json(policy)["daemon"]["next_runs"]}
    moved = datetime.fromisoformat(after["undercloud"]) - datetime.now(timezone.utc)
    assert 100 < moved.total_seconds() <= 121, after
    assert after["controlplane"] == plans["controlplane"]

    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(20) == 0
    assert status_json(policy)["daemon"]["state"] == "not running"
    assert status_as_nobody(policy).stdout.startswith("daemon: not running (no state file")

    killed, notify = daemons.start(policy)
    notify.wait("READY", "1", timeout=30)
    killed.kill()
    stale = status_json(policy)["daemon"]
    assert (stale["state"], stale["detail"]) == (
        "stale state file",
        f"pid {killed.pid} is not running",
    )
