"""Running the real CLI against the lab and reading what the stand-ins recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lab import Invocation, Lab

# Stand-in calls that only read. Everything else counts as a change of state on a node.
READ_ONLY_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("pcs", "status"),
    ("crm_mon",),
    ("crm_node",),
    ("podman", "ps"),
    ("hiera",),
    ("rear", "-V"),
    ("clustercheck",),
    ("systemctl", "is-active"),
    ("df",),
    ("blkid",),
    ("rpm", "-q"),
    ("findmnt",),
    ("showmount",),
    ("ssh",),
)


def inner_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """The command run inside the container for `podman exec`, else argv itself."""
    words = tuple(argv)
    if words[:2] != ("podman", "exec"):
        return words
    index = 2
    while index < len(words) and words[index].startswith("-"):
        index += 2 if words[index] in ("-e", "-u", "--env", "--user") else 1
    return words[index + 1 :]


def is_read_only(argv: Sequence[str]) -> bool:
    """True for probes: status, listings, hiera, mysql queries that set nothing, dd reads."""
    words = tuple(argv)
    if any(words[: len(prefix)] == prefix for prefix in READ_ONLY_PREFIXES):
        return True
    inner = inner_argv(words)
    if inner and inner[0] == "mysql":
        return not any("SET GLOBAL" in word for word in inner)
    # dd without an output file writes to stdout: reading an ISO on the target, not imaging.
    if words[:1] == ("dd",):
        return not any(word.startswith("of=") for word in words)
    return False


# Fragments of the command line that name a change, checked in order.
_ACTION_FRAGMENTS = (
    ("wsrep_desync = ON", "desync ON"),
    ("wsrep_desync = OFF", "desync OFF"),
    ("auth export", "ceph auth export"),
    ("mkbackup", "rear mkbackup"),
    ("pcs cluster cib", "pcs cluster cib"),
    ("pcs config backup", "pcs config backup"),
    ("mysqldump", "mysqldump"),
    ("/var/lib/rear/output/", "remove local iso"),
    ("of=/mnt/config-drive", "config drive image"),
)


def action(argv: Sequence[str]) -> str:
    """A short name for a state-changing call, e.g. `desync ON`, `pcs cluster stop`."""
    inner = inner_argv(argv)
    text = " ".join(inner)
    for fragment, name in _ACTION_FRAGMENTS:
        if fragment in text:
            return name
    if inner[0] == "systemctl":
        return f"ceph {inner[1]}"
    words = [word for word in inner[:4] if not word.startswith("--request")]
    return " ".join(words if inner[:2] == ("pcs", "cluster") else inner[:2])


def changes(lab: Lab, host: str | None = None) -> list[str]:
    """State-changing calls recorded on `host` (or everywhere), in order, as short names."""
    return [action(call.argv) for call in lab.invocations(host) if not is_read_only(call.argv)]


def change_calls(lab: Lab) -> list[Invocation]:
    """Every state-changing call on any host."""
    return [call for call in lab.invocations() if not is_read_only(call.argv)]


@dataclass(frozen=True)
class CliResult:
    """A finished barctl process."""

    exit_code: int
    stdout: str
    stderr: str
    seconds: float


def barctl_argv(policy: Path, *arguments: str) -> list[str]:
    """argv of the real CLI with this policy."""
    return [sys.executable, "-m", "barctl", "-c", str(policy), *arguments]


def environment() -> dict[str, str]:
    """The test's environment with JSON logs, so output is parseable."""
    return {**os.environ, "BARCTL_LOG_FORMAT": "json"}


def barctl(policy: Path, *arguments: str, timeout: float = 180) -> CliResult:
    """Run the CLI to completion."""
    started = time.monotonic()
    completed = subprocess.run(
        barctl_argv(policy, *arguments),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment(),
        check=False,
    )
    return CliResult(
        completed.returncode, completed.stdout, completed.stderr, time.monotonic() - started
    )


def set_up(policy: Path, *plans: str) -> None:
    """`barctl setup` each plan (both by default): a run no longer writes local.conf, and the
    gate refuses a node whose local.conf is not barctl's (issue 10), so every lab test that
    runs a backup sets its nodes up first, as an operator does once."""
    for plan in plans or ("undercloud", "controlplane"):
        result = barctl(policy, "setup", plan)
        assert result.exit_code == 0, result.stdout + result.stderr


def policy_for(lab: Lab, directory: Path, **overrides: object) -> Path:
    """The lab's policy with this test's own state and runtime directories, plus overrides;
    every node set up for it (`barctl setup`, as an operator does once), and the invocations
    setup made cleared."""
    path = lab.write_policy(
        directory / "policy.yaml",
        state_directory=str(directory / "state"),
        runtime_directory=str(directory / "run"),
        **overrides,
    )
    set_up(path)
    lab.clear_invocations()  # what setup ran is not the test's
    return path


def run_backup(policy: Path, plan: str) -> str:
    """Run `plan` to success through the real CLI; its run id."""
    result = barctl(policy, "run", plan, timeout=300)
    assert result.exit_code == 0, result.stdout + result.stderr
    run = history(policy)[0]
    assert run["outcome"] == "success"
    return str(run["run_id"])


def start_barctl(policy: Path, *arguments: str) -> subprocess.Popen[str]:
    """Start the CLI in the background; the caller stops it by this PID."""
    return subprocess.Popen(
        barctl_argv(policy, *arguments),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )


def wait_for(condition: Callable[[], bool], timeout: float = 60, step: float = 0.1) -> None:
    """Poll until `condition()` holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(step)


def history(policy: Path) -> list[dict[str, object]]:
    """`barctl history --json`'s runs (schema barctl.history/1), newest first."""
    result = barctl(policy, "history", "--json", "--limit", "50")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["schema"] == "barctl.history/1"
    rows: list[dict[str, object]] = document["runs"]
    return rows


def called(lab: Lab, host: str, fragment: str) -> bool:
    """True once `host` recorded a call whose argv contains `fragment`."""
    return any(fragment in " ".join(call.argv) for call in lab.invocations(host))


def terminate_during_rear(lab: Lab, policy: Path, host: str, *, sleep: float = 3) -> int:
    """Run the control plane, SIGTERM barctl while ReaR runs on `host`; barctl's exit code."""
    lab.inject(host, ["rear", "-v"], sleep=sleep)
    process = start_barctl(policy, "run", "controlplane")
    try:
        wait_for(lambda: called(lab, host, "mkbackup"))
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        process.kill()
        process.wait()
    return process.returncode
