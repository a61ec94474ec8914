"""Every remote command of a run, recorded: a step row in the history, its lines in the log,
its start and end on the progress display. The engine's steps, artifact verification and every
undo (during the run and at crash replay) go through `StepRecorder.run`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from barctl.history.store import Store
from barctl.model import CommandResult, Node, Progress
from barctl.outcome import StepOutcome
from barctl.run.commands import RemoteCommand
from barctl.run.runner import Runner

log = structlog.get_logger("barctl.engine")
Clock = Callable[[], datetime]


def step_outcome(result: CommandResult) -> StepOutcome:
    """How the step is recorded: success, timed out, else failed."""
    if result.ok:
        return StepOutcome.SUCCESS
    return StepOutcome.TIMED_OUT if result.timed_out else StepOutcome.FAILED


@dataclass
class StepRecorder:
    """Runs commands of run `run_id` through `runner` and records each as a step."""

    store: Store
    runner: Runner
    clock: Clock
    run_id: str
    abort: threading.Event | None = None
    secrets: tuple[str, ...] = ()
    progress: Progress | None = None

    def run(self, node: Node, command: RemoteCommand) -> CommandResult:
        """Run and record one command; its stderr is stored redacted of `secrets`."""
        step_id = self._start(node.name, command.name, command.describe())

        # Called in this thread (channel_exec reads the channel here): the bound context holds.
        def on_line(stream: str, line: str) -> None:
            log.info(line, node=node.name, step=command.name, stream=stream)

        result = self.runner.run(node, command, on_line, self.abort)
        outcome = self._finish(step_id, result)
        self._progress(node.name, command.name, f"{outcome.value} ({result.duration_seconds:.1f}s)")
        return result

    def pipe(
        self, source: Node, read: RemoteCommand, destination: Node, write: RemoteCommand
    ) -> CommandResult:
        """Stream `read` on `source` into `write` on `destination`, recorded as one step of
        `destination`; the reader's failure when it failed, else the writer's result."""
        described = f"{read.describe()} (on {source.name}) | {write.describe()}"
        step_id = self._start(destination.name, write.name, described)
        reader, writer = self.runner.pipe(source, read, destination, write)
        result = writer if reader.ok else reader
        outcome = self._finish(step_id, result)
        self._progress(destination.name, write.name, outcome.value)
        return result

    def read(self, node: Node, command: RemoteCommand) -> CommandResult:
        """Run a read-only status query, not recorded (the cluster checks poll with these)."""
        return self.runner.run(node, command, abort=self.abort)

    def _start(self, node: str, step: str, described: str) -> int:
        """The step's history row, opened now; `started` on the progress display."""
        step_id = self.store.start_step(self.run_id, node, step, described, self.clock())
        self._progress(node, step, "started")
        return step_id

    def _finish(self, step_id: int, result: CommandResult) -> StepOutcome:
        """The step's row closed with `result` (stderr redacted of `secrets`); its outcome."""
        outcome = step_outcome(result)
        self.store.finish_step(
            step_id,
            outcome,
            self.clock(),
            exit_code=result.exit_code,
            stderr=result.stderr,
            secrets=self.secrets,
        )
        return outcome

    def _progress(self, node: str, step: str, status: str) -> None:
        if self.progress is not None:
            self.progress(node, step, status)
