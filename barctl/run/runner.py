"""The seam between what barctl decides and the nodes it runs commands on.

The engine, the gate, the undo journal and artifact verification run every remote command
through a `Runner`. `remote.SessionPool` is the SSH one; `tests/fakes.FakeRunner` answers from a
script, so everything above SSH is tested without root, a lab or a network.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from barctl.model import CommandResult, Node
from barctl.run.commands import RemoteCommand

LineCallback = Callable[[str, str], None]
"""Called with (stream, line) for each line of stdout ("stdout") and stderr ("stderr")."""


class Runner(Protocol):
    """Runs one command on one node and says how it ended."""

    def run(
        self,
        node: Node,
        command: RemoteCommand,
        on_line: LineCallback | None = None,
        abort: threading.Event | None = None,
    ) -> CommandResult:
        """Run `command` on `node`, streaming its lines to `on_line`.

        Never raises for a failed command, a time limit, a node that cannot be reached or a
        connection lost: each is a result whose `failure` names the reason. Once `abort` is
        set, a command blocked on a silent peer returns within seconds.
        """
        ...

    def pipe(
        self, source: Node, read: RemoteCommand, destination: Node, write: RemoteCommand
    ) -> tuple[CommandResult, CommandResult]:
        """Stream `read`'s stdout on `source` into `write`'s stdin on `destination`, a chunk at
        a time (barctl.run.piping); both results, the reader's first. Never raises."""
        ...
