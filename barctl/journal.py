"""The pending-undo journal: every state change's undo is persisted before the change is made.

A killed ansible-playbook never ran its `always:` (tripleo.md §2d, BZ#1954818); barctl writes the
undo to SQLite first, so after SIGKILL or power loss the next start replays it. Secrets are not
persisted: an undo that needs the MySQL password re-reads it from hiera on the node at replay.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from barctl import commands, logs
from barctl.commands import RemoteCommand
from barctl.outcome import NodeOutcome, RunOutcome
from barctl.plan import Node
from barctl.records import UndoRecord, process_alive
from barctl.remote import CommandResult, SessionPool
from barctl.store import Store

Clock = Callable[[], datetime]
PASSWORD_INPUT = "mysql-option-file"  # noqa: S105 (a marker, not a password)


@dataclass(frozen=True)
class UndoFailure:
    """An undo that did not succeed: the node may be out of the cluster or paused."""

    node: str
    step: str
    exit_code: int | None
    detail: str

    def __str__(self) -> str:
        return f"{self.node}: undo {self.step} failed (exit {self.exit_code}): {self.detail}"


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
    node_fields = payload["node"]
    node = Node(
        node_fields["name"], node_fields["address"], node_fields["user"], node_fields["port"]
    )
    command = RemoteCommand(
        payload["name"], tuple(payload["argv"]), int(payload["timeout_seconds"]), True
    )
    return node, command, payload.get("input") == PASSWORD_INPUT


def _with_password(pool: SessionPool, node: Node, command: RemoteCommand) -> RemoteCommand | str:
    lookup = commands.hiera_lookup(commands.MYSQL_PASSWORD_KEY, command.timeout_seconds)
    result = pool.run(node, lookup)
    password = result.stdout.strip()
    if not result.ok or password in ("", "nil"):
        return f"cannot read the MySQL password from hiera: {result.stderr_tail()}"
    logs.register_secret(password)
    return RemoteCommand(
        command.name,
        command.argv,
        command.timeout_seconds,
        True,
        stdin=commands.mysql_option_file(password),
    )


class Journal:
    """The undos registered by one run, persisted in the store, run at most once each."""

    def __init__(self, store: Store, run_id: str, clock: Clock) -> None:
        self.store = store
        self.run_id = run_id
        self.clock = clock
        self.lock = threading.Lock()
        self.pending: dict[tuple[str, str], tuple[int, Node, RemoteCommand]] = {}

    def register(self, node: Node, key: str, undo: RemoteCommand) -> None:
        """Persist the undo of a change about to be made on `node`."""
        undo_id = self.store.register_undo(
            self.run_id, node.name, undo.name, encode(node, undo), self.clock()
        )
        with self.lock:
            self.pending[(node.name, key)] = (undo_id, node, undo)

    def take(self, node: str, key: str) -> tuple[int, Node, RemoteCommand] | None:
        """Remove and return a registered undo so that nobody runs it twice."""
        with self.lock:
            return self.pending.pop((node, key), None)

    def remaining(self) -> list[tuple[str, str]]:
        """Keys still registered, newest first: the order an unwind runs them in."""
        with self.lock:
            entries = sorted(self.pending.items(), key=lambda item: item[1][0], reverse=True)
        return [key for key, _ in entries]

    def settle(self, undo_id: int, result: CommandResult) -> None:
        """Mark an undo done or failed in the store."""
        self.store.complete_undo(undo_id, result.ok, result.exit_code, self.clock())


def replay_pending(store: Store, pool: SessionPool, clock: Clock) -> list[UndoFailure]:
    """Crash recovery: run every undo left pending by an earlier process, newest first per run.

    Runs whose undos all succeeded are left for `mark_interrupted_runs`; a run with a failed
    undo is finished as `degraded` here so the operator is told.
    """
    failures: list[UndoFailure] = []
    by_run: dict[str, list[UndoFailure]] = {}
    # A run still going in another live barctl process owns its undos: never touch them.
    live = {run.run_id for run in store.running_runs() if process_alive(run.pid)}
    for record in store.pending_undos():
        if record.run_id in live:
            continue
        failure = _replay_one(store, pool, clock, record)
        if failure is not None:
            failures.append(failure)
            by_run.setdefault(record.run_id, []).append(failure)
            # The node row is what the degraded-node metric and alert read.
            reason = f"crash recovery: {failure}"
            store.record_node(
                record.run_id, failure.node, NodeOutcome.DEGRADED, [], reason, now=clock()
            )
    running = {run.run_id for run in store.running_runs()}
    for run_id in sorted(set(by_run) & (running - live)):
        summary = "; ".join(str(failure) for failure in by_run[run_id])
        store.finish_run(run_id, RunOutcome.DEGRADED, clock(), f"crash recovery: {summary}")
    return failures


def _replay_one(
    store: Store, pool: SessionPool, clock: Clock, record: UndoRecord
) -> UndoFailure | None:
    node, command, needs_password = decode(record.payload)
    prepared: RemoteCommand | str = command
    if needs_password:
        prepared = _with_password(pool, node, command)
    if isinstance(prepared, str):
        store.complete_undo(record.undo_id, False, None, clock())
        return UndoFailure(node.name, command.name, None, prepared)
    result = pool.run(node, prepared)
    store.complete_undo(record.undo_id, result.ok, result.exit_code, clock())
    if result.ok:
        return None
    return UndoFailure(node.name, command.name, result.exit_code, result.stderr_tail())
