"""The daemon's state file and `barctl status`'s verdict on it (barctl.service.daemon_state)."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

from barctl.service import daemon_state

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
NEXT = {"undercloud": NOW + timedelta(hours=13), "controlplane": None}
TEXT = daemon_state.render(4242, NOW, Path("/etc/barctl/policy.yaml"), NEXT, NOW)
DAEMON = ("/usr/bin/python3", "/usr/bin/barctl", "--config", "/etc/barctl/policy.yaml", "daemon")


def test_state_round_trips_pid_start_policy_and_next_runs() -> None:
    """What the daemon writes parses back to its pid, start, policy and next runs per plan."""
    state = daemon_state.parse(TEXT)
    assert state is not None
    assert (state.pid, state.started_at, state.policy) == (
        4242,
        "2026-11-30T12:00:00+00:00",
        "/etc/barctl/policy.yaml",
    )
    assert state.next_runs == (
        ("controlplane", None),
        ("undercloud", "2026-12-01T01:00:00+00:00"),
    )


def test_a_live_barctl_daemon_is_running() -> None:
    """The file's pid running `barctl ... daemon` (console script or python -m) is running."""
    assert daemon_state.judge(TEXT, lambda pid: DAEMON).state == "running"
    module = ("/usr/bin/python3.9", "-m", "barctl", "-c", "/p.yaml", "daemon")
    assert daemon_state.judge(TEXT, lambda pid: module).state == "running"


def test_no_file_is_not_running_and_a_dead_or_reused_pid_is_stale() -> None:
    """No file: not running. A dead pid, or a pid now running something else: stale file."""
    assert daemon_state.judge(None, lambda pid: DAEMON).state == "not running"
    dead = daemon_state.judge(TEXT, lambda pid: None)
    assert (dead.state, dead.detail) == ("stale state file", "pid 4242 is not running")
    reused = daemon_state.judge(TEXT, lambda pid: ("/usr/bin/barctl", "status"))
    assert (reused.state, reused.detail) == ("stale state file", "pid 4242 is not a barctl daemon")
    assert daemon_state.judge("{", lambda pid: DAEMON).state == "stale state file"


def test_written_file_is_world_readable_and_removed_only_by_its_own_daemon(tmp_path: Path) -> None:
    """The file is 0644 whatever the umask; remove() leaves a file naming another pid."""
    previous = os.umask(0o077)
    try:
        daemon_state.write(tmp_path, TEXT)
    finally:
        os.umask(previous)
    path = tmp_path / daemon_state.STATE_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    daemon_state.remove(tmp_path, 1)
    assert path.exists()
    daemon_state.remove(tmp_path, 4242)
    assert not path.exists()


def test_this_process_state_file_reads_as_not_a_daemon(tmp_path: Path) -> None:
    """Through the real /proc: a file naming this (pytest) process is stale, not running."""
    text = daemon_state.render(os.getpid(), NOW, Path("/p.yaml"), NEXT, NOW)
    daemon_state.write(tmp_path, text)
    verdict = daemon_state.read(tmp_path)
    assert verdict.state == "stale state file"
    assert verdict.detail == f"pid {os.getpid()} is not a barctl daemon"
