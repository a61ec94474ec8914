"""What one remote command costs the lab's nodes in CPU, by kind (bench/rolling_bench).

A lab host's sshd master reaps each connection's processes when the connection closes, so its
cutime + cstime (proc(5)) count a connection's commands once it is closed: each kind is run
`REPEATS` times on one fresh connection, closed, and a connection without commands is
subtracted. The kinds are what a run's commands are made of: a plain exec (sshd session,
`timeout`, the tool), the same through barctl's `bash -c` wrapper (redirections, umask), the
lab's `sudo` in front, and a Python stand-in tool (crm_mon).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from barctl.model import Node
from barctl.run import remote
from barctl.run.commands import RemoteCommand
from lab import Lab

REPEATS = 10
KINDS = (
    ("plain exec (`true`)", ("true",)),
    ("through `bash -c`", ("bash", "-c", "umask 077; true")),
    ("lab sudo, then `true`", ("sudo", "-n", "true")),
    ("Python stand-in (`crm_mon`)", ("crm_mon", "--one-shot", "--inactive", "--output-as=xml")),
)


def node_cpu_seconds(lab: Lab) -> float:
    """CPU time of everything run on the lab's hosts so far: each host's sshd master reaps its
    sessions, so its cutime + cstime (proc(5), fields 16 and 17) hold their commands' CPU."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in lab.pids().values():
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[13]) + int(fields[14])
    return total / ticks


def _connection_cpu(lab: Lab, node: Node, argv: tuple[str, ...], repeats: int) -> float:
    settings = remote.SshSettings(str(lab.client_key_path), str(lab.known_hosts_path))
    before = node_cpu_seconds(lab)
    with remote.open_session(node, settings) as session:
        for _ in range(repeats):
            session.run(RemoteCommand("cost", argv, 30))
    # The master reaps the connection's child a moment after the client closes it.
    time.sleep(0.3)
    return node_cpu_seconds(lab) - before


def exec_costs(lab: Lab, host: str) -> list[tuple[str, float]]:
    """Node CPU seconds per command of each kind on `host` (the connection's own subtracted)."""
    node = Node(host, lab.address(host), "root")
    connection = _connection_cpu(lab, node, ("true",), 0)
    return [
        (name, (_connection_cpu(lab, node, argv, REPEATS) - connection) / REPEATS)
        for name, argv in KINDS
    ]


def render(costs: list[tuple[str, float]]) -> str:
    """One line: each kind's node CPU per command."""
    parts = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in costs)
    return f"node CPU per command (mean of {REPEATS}, clock ticks of 10 ms): {parts}"
