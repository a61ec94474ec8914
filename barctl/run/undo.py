"""The undo journal: every state change's undo is persisted before the change is made, run once,
settled, and replayed after a crash. The engine and crash recovery only call `UndoJournal`.

A killed ansible-playbook never ran its `always:` (docs/reference/tripleo.md, BZ#1954818);
barctl writes the undo to SQLite first, so after SIGKILL or power loss the next start replays
it. Secrets are not persisted: an undo that needs the MySQL password re-reads it from hiera on
the node at replay. An undo whose node cannot be reached is not attempted: it stays pending for
the next start, and its node and run are `degraded` meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from barctl import redaction
from barctl.history.records import UndoRecord, process_alive
from barctl.history.store import Store
from barctl.model import Node, UndoFailure
from barctl.observe import logs
from barctl.outcome import NodeOutcome, RunOutcome
from barctl.run import commands, commands_probe, verdicts
from barctl.run.commands import RemoteCommand
from barctl.run.runner import Runner
from barctl.run.steps import Clock, StepRecorder

log = structlog.get_logger("barctl.engine")
PASSWORD_INPUT = "mysql-option-file"  # noqa: S105 (a marker, not a password)
Degraded = Callable[[str, str], None]
"""Told (node, reason) when an undo leaves `node` degraded."""


def encode(node: Node, command: RemoteCommand) -> dict[str, Any]:
    """The persisted form of an undo: node address, argv and limits, never the secret itself."""
    return {
        "node": {"name": node.name, "address": node.address, "user": node.user, "port": node.port},
        "name": command.name,
        "argv": list(command.argv),
        "timeout_seconds": command.timeout_seconds,
        "input": PASSWORD_INPUT if command.stdin is not None else None,
    }


def decode(payload: Mapping[str, Any]) -> tuple[Node, RemoteCommand, bool]:
    """Node, command (without its secret input) and whether the MySQL password must be re-read."""
    fields = payload["node"]
    node = Node(fields["name"], fields["address"], fields["user"], fields["port"])
    command = RemoteCommand(
        payload["name"], tuple(payload["argv"]), int(payload["timeout_seconds"]), True
    )
    return node, command, payload.get("input") == PASSWORD_INPUT


class UndoJournal:
    """The undos registered by one run: persisted, run at most once each, newest first."""

    def __init__(self, steps: StepRecorder, on_degraded: Degraded) -> None:
        self.steps = steps
        self.on_degraded = on_degraded
        self.lock = threading.Lock()
        self.pending: dict[tuple[str, str], tuple[int, Node, RemoteCommand]] = {}
        self.failures: list[UndoFailure] = []
        # Undos on a node that could not be reached: pending in the store for the next start.
        self.left: list[str] = []

    def register(self, node: Node, key: str, undo: RemoteCommand) -> None:
        """Persist the undo of a change about to be made on `node` (durable on return)."""
        steps = self.steps
        payload = encode(node, undo)
        undo_id = steps.store.register_undo(
            steps.run_id, node.name, undo.name, payload, steps.clock()
        )
        with self.lock:
            self.pending[(node.name, key)] = (undo_id, node, undo)

    def run(self, node: str, key: str) -> str:
        """Run the undo registered as `key` on `node`, if still registered; its problem or ""."""
        with self.lock:
            entry = self.pending.pop((node, key), None)
        return "" if entry is None else self.settle(*entry)

    def settle(self, undo_id: int, node: Node, command: RemoteCommand) -> str:
        """Run one undo, record it as a step, and settle it in the journal; its problem or "".

        A node that cannot be reached (or whose session dies) keeps the undo pending: it may or
        may not have run, and the next start replays it.
        """
        result = self.steps.run(node, command)
        if result.unreachable or result.connection_lost:
            return self._leave(node.name, command.name)
        self.steps.store.complete_undo(undo_id, result.ok, result.exit_code, self.steps.clock())
        if result.ok:
            return ""
        problem = verdicts.command_problem(result)
        self._failed(UndoFailure(node.name, command.name, result.exit_code, problem))
        return problem

    def _failed(self, failure: UndoFailure) -> None:
        with self.lock:
            self.failures.append(failure)
        log.critical(
            "Undo failed",
            node=failure.node,
            step=failure.step,
            exit_code=failure.exit_code,
            reason=failure.detail,
            message_id=logs.UNDO_FAILED,
        )
        self.on_degraded(failure.node, str(failure))

    def _leave(self, node: str, step: str, why: str = "node unreachable") -> str:
        left = f"{node}: undo {step} left for replay: {why}"
        with self.lock:
            self.left.append(left)
        log.critical("Undo left for replay", node=node, step=step, message_id=logs.UNDO_FAILED)
        self.on_degraded(node, left)
        return "left for replay: node unreachable"

    def unwind(self) -> None:
        """Run every undo still registered, newest first, whatever happened before.

        It never raises: an exception in one undo (it stays pending for replay) is reported and
        the others still run, so the error that started the unwind is never masked.
        """
        with self.lock:
            entries = sorted(self.pending.items(), key=lambda item: item[1][0], reverse=True)
            self.pending.clear()
        for (node, key), (undo_id, target, command) in entries:
            with logs.bind_step(node, key):
                try:
                    self.settle(undo_id, target, command)
                except Exception as error:  # reported; the undo stays pending for replay
                    log.exception("Undo crashed", node=node, step=key)
                    self._leave(node, key, f"{type(error).__name__}: {error}")

    def replay(self, record: UndoRecord) -> None:
        """Crash recovery of one undo of a dead run, re-reading the MySQL password if needed."""
        node, command, needs_password = decode(record.payload)
        if needs_password:
            lookup = commands_probe.hiera_lookup(
                commands_probe.MYSQL_PASSWORD_KEY, command.timeout_seconds
            )
            answer = self.steps.runner.run(node, lookup)
            if answer.unreachable or answer.connection_lost:
                self._leave(node.name, command.name)
                return
            password, problem = commands_probe.mysql_password(answer)
            if problem:
                self.steps.store.complete_undo(record.undo_id, False, None, self.steps.clock())
                self._failed(UndoFailure(node.name, command.name, None, problem))
                return
            redaction.register_secret(password)
            stdin = commands.mysql_option_file(password)
            command = RemoteCommand(
                command.name, command.argv, command.timeout_seconds, True, stdin
            )
        self.settle(record.undo_id, node, command)


def replay_pending(store: Store, runner: Runner, clock: Clock) -> list[UndoFailure]:
    """Crash recovery: run every undo left pending by an earlier process, newest first per run.

    A run still going in another live barctl process owns its undos and is never touched. A
    dead run whose undos all succeeded is left for `mark_interrupted_runs`; one with an undo
    failed or left pending is finished `degraded` here, and its node rows say why.
    """
    live = {run.run_id for run in store.running_runs() if process_alive(run.pid)}
    journals: dict[str, UndoJournal] = {}
    for record in store.pending_undos():
        if record.run_id not in live:
            journal = journals.get(record.run_id) or _recovery_journal(store, runner, clock, record)
            journals[record.run_id] = journal
            journal.replay(record)
    running = {run.run_id for run in store.running_runs()} - live
    for run_id, journal in journals.items():
        problems = [*map(str, journal.failures), *journal.left]
        if problems and run_id in running:
            summary = "crash recovery: " + "; ".join(problems)
            store.finish_run(run_id, RunOutcome.DEGRADED, clock(), summary)
    return [failure for journal in journals.values() for failure in journal.failures]


def _recovery_journal(
    store: Store, runner: Runner, clock: Clock, record: UndoRecord
) -> UndoJournal:
    run_id = record.run_id

    def degraded(node: str, reason: str) -> None:
        # The node row is what the degraded-node metric and alert read.
        reason = f"crash recovery: {reason}"
        store.record_node(run_id, node, NodeOutcome.DEGRADED, [], reason, now=clock())

    return UndoJournal(StepRecorder(store, runner, clock, run_id), degraded)
