"""The real runner, counting the exec channels it opens per node (issue 12: <= 2 per host).

Client-side, not a stand-in: the gate channel test and `bench/gate_bench.py` both wrap barctl's
own `remote.SessionPool` with it, so they count the same thing the same way. Not imported by
`lab/__init__`, which the stand-ins on the nodes load without barctl.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from barctl.model import CommandResult, Node
from barctl.run.commands import RemoteCommand
from barctl.run.runner import LineCallback, Runner


@dataclass
class CountingRunner:
    """`inner` (the real SSH runner), counting each node's exec channels; `sent` keeps every
    command in order with its node's name (the bench replays them as its floor)."""

    inner: Runner
    execs: Counter[str] = field(default_factory=Counter)
    sent: list[tuple[str, RemoteCommand]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(
        self,
        node: Node,
        command: RemoteCommand,
        on_line: LineCallback | None = None,
        abort: threading.Event | None = None,
    ) -> CommandResult:
        """One exec on the node, counted."""
        with self.lock:
            self.execs[node.name] += 1
            self.sent.append((node.name, command))
        return self.inner.run(node, command, on_line, abort)

    def pipe(
        self, source: Node, read: RemoteCommand, destination: Node, write: RemoteCommand
    ) -> tuple[CommandResult, CommandResult]:
        """One exec on each side, counted."""
        with self.lock:
            self.execs[source.name] += 1
            self.execs[destination.name] += 1
        return self.inner.pipe(source, read, destination, write)
