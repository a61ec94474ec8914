"""What operators read: plans, gate verdicts, progress, status and history as text or JSON rows."""

from __future__ import annotations

import contextlib
import shlex
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from barctl.config.site import Site
from barctl.history.store import existing_history
from barctl.redaction import SECRETS
from barctl.run.plan import Plan, Step, StepKind
from barctl.run.rear_config import NodeFile

if TYPE_CHECKING:  # result types only: `status` and `history` must not import the SSH layer
    from barctl.model import Progress
    from barctl.run.backup import Resolved, Result
    from barctl.run.gate import GateResult
    from barctl.run.gate_probe import Probe


def inventory_text(resolved: Resolved, excluded: Sequence[str] = ()) -> str:
    """A plan's nodes: name, address, SSH user, and inventory groups; then its excluded hosts."""
    lines = [f"plan {resolved.name}:"]
    width = max((len(node.name) for node in resolved.nodes), default=4)
    for node in resolved.nodes:
        groups = ", ".join(
            sorted(group for group in node.groups if "_" not in group or group.islower())
        )
        lines.append(f"  {node.name:<{width}}  {node.address:<15}  {node.user:<12}  {groups}")
    if excluded:
        lines.append(
            f"  excluded (excluded_overcloud, TripleO BlacklistedHostnames), never backed up:"
            f" {', '.join(excluded)}"
        )
    if not resolved.nodes:
        why = "every host of its groups is excluded" if excluded else "its groups hold no host"
        lines.append(f"  NO NODE TO BACK UP: {why}")
    target = resolved.target
    lines.append(
        f"  backup target: {target.node.name} ({target.node.address}, user {target.node.user}),"
        f" directory {target.directory}"
    )
    return "\n".join(lines)


def _step_lines(step: Step) -> list[str]:
    if step.kind is StepKind.COMMAND and step.command is not None:
        marker = "change" if step.command.changes_state else "read  "
        lines = [f"      {marker}  {step.command.name}: {step.command.describe()}"]
        if step.undo is not None:
            lines.append(f"              undo registered first: {step.undo.describe()}")
        return lines
    if step.kind is StepKind.UNDO:
        return [f"      undo    {step.undo_key}: run the registered undo"]
    return [
        f"      check   {step.kind.value}: {step.note or 'ISO and archive on the backup target'}"
    ]


def plan_text(plan: Plan, *, assumed: bool = False) -> str:
    """Phases, nodes and the exact commands of a plan, in execution order."""
    lines = [f"plan {plan.name} (mode {plan.mode}, run {plan.run_id})"]
    if assumed:
        lines.append(
            "  facts assumed from inventory groups (pacemaker, mysql, ceph_mon); a real run "
            "decides from facts probed on each node"
        )
    lines.append(f"  nodes in order: {', '.join(node.name for node in plan.nodes)}")
    for index, phase in enumerate(plan.phases, start=1):
        how = "nodes in parallel" if phase.parallel and len(phase.nodes()) > 1 else "in order"
        lines.append(f"  {index}. {phase.title} ({how})")
        for node, steps in phase.steps:
            lines.append(f"    {node}:")
            for step in steps:
                lines += _step_lines(step)
    return "\n".join(lines)


def gate_entries(verdict: GateResult) -> list[tuple[str, list[str], Probe | None]]:
    """Per node in the verdict's order: its name, every reason it refuses (none: ok) and its
    probe; cluster-wide reasons ("pacemaker") come last without a probe. Text and JSON share it."""
    reasons = verdict.reasons()
    entries: list[tuple[str, list[str], Probe | None]] = []
    for probe in (*verdict.probes, verdict.target):
        # The verdict's order (membership before its consequences); a probe problem the
        # verdict does not hold comes first.
        found = dict.fromkeys([probe.problem] if probe.problem else [])
        known = reasons.pop(probe.node, [])
        found = dict.fromkeys(known) if probe.problem in known else found | dict.fromkeys(known)
        entries.append((probe.node, list(found), probe))
    entries += [(node, remaining, None) for node, remaining in reasons.items()]
    return entries


def gate_text(verdict: GateResult) -> str:
    """One line per node: ok with its facts, or REFUSED once with every reason it refuses."""
    lines = []
    for node, found, probe in gate_entries(verdict):
        if found or probe is None:
            lines.append(f"  REFUSED  {node}: {'; '.join(found)}")
            continue
        member = " pacemaker" if probe.facts.pacemaker_member else ""
        if probe.facts.pacemaker_name and probe.facts.pacemaker_name != probe.node:
            member += f" (as {probe.facts.pacemaker_name})"
        galera = f" galera={probe.galera.state}" if probe.galera else ""
        lines.append(f"  ok       {probe.node}{member}{galera}")
    verdict_line = "gate passed" if verdict.passed else "gate REFUSED the run: nothing was changed"
    return "\n".join([*lines, verdict_line])


def progress_printer(stream: TextIO) -> Progress:
    """Live per-node progress on a terminal; plain lines, one per step event, otherwise."""
    if stream.isatty():
        return _LiveProgress(stream).show
    lock = threading.Lock()

    def show(node: str, step: str, status: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with lock, contextlib.suppress(OSError):  # a closed pipe must not stop a backup
            stream.write(f"{stamp}  {node:<12} {step:<26} {status}\n")
            stream.flush()

    return show


class _LiveProgress:
    """One line per node, redrawn in place with the node's current step and status."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lines: dict[str, str] = {}
        self.lock = threading.Lock()

    def show(self, node: str, step: str, status: str) -> None:
        with self.lock:
            drawn = len(self.lines)
            stamp = time.strftime("%H:%M:%S")
            self.lines[node] = f"{node:<12} {step:<26} {status:<28} {stamp}"
            # Move up over the block drawn last time, then rewrite every line of it.
            text = f"\x1b[{drawn}F" if drawn else ""
            text += "".join(f"\x1b[2K{line}\n" for line in self.lines.values())
            with contextlib.suppress(OSError):  # a closed terminal must not stop a backup
                self.stream.write(text)
                self.stream.flush()


def result_text(result: Result, *, dry_run: bool) -> str:
    """The end of a run: outcome and summary, or the plan a dry run would execute."""
    lines = []
    if result.gate is not None:
        lines.append(gate_text(result.gate))
    if dry_run and result.plan is not None:
        lines.append(plan_text(result.plan))
    lines.append(f"run {result.run_id}: {result.outcome.value}: {result.summary}")
    return "\n".join(lines)


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def history_rows(site: Site, plan: str | None, limit: int) -> list[dict[str, Any]]:
    """Recent runs, newest first, with each node's outcome and artifacts."""
    rows: list[dict[str, Any]] = []
    with existing_history(site) as store:
        if store is None:
            return rows
        for run in store.history(plan, limit):
            detail = store.run_detail(run.run_id)
            nodes = detail.nodes if detail else ()
            rows.append(
                {
                    "run_id": run.run_id,
                    "plan": run.plan,
                    "trigger": run.trigger.value,
                    "started_at": _time(run.started_at),
                    "ended_at": _time(run.ended_at),
                    "outcome": run.outcome.value if run.outcome else "running",
                    "summary": run.summary,
                    "nodes": [
                        {
                            "node": node.node,
                            "outcome": node.outcome.value,
                            "reason": node.reason,
                            "size_bytes": node.size_bytes,
                            "artifacts": [artifact.path for artifact in node.artifacts],
                        }
                        for node in nodes
                    ],
                }
            )
    return rows


def history_text(rows: list[dict[str, Any]]) -> str:
    """History rows as text: one line per run, one indented line per node."""
    if not rows:
        return "no runs recorded yet"
    lines = []
    for row in rows:
        lines.append(
            f"{row['started_at']}  {row['plan']:<12} {row['trigger']:<9} {row['outcome']:<11}"
            f" {row['run_id']}  {row['summary']}"
        )
        for node in row["nodes"]:
            detail = node["reason"] or ", ".join(node["artifacts"])
            lines.append(f"    {node['node']:<12} {node['outcome']:<11} {detail}")
    return "\n".join(lines)


def rear_files_text(
    node: str, files: Sequence[NodeFile], argv: Sequence[str], artifacts: Sequence[str]
) -> str:
    """One node's ReaR files (registered secrets masked), its rear argv and its artifacts."""
    lines = [f"  {node}:", f"    runs: {shlex.join(argv)}"]
    lines += [f"    verifies on the target: {path}" for path in artifacts]
    for item in files:
        lines.append(f"    {item.path} (mode {item.mode}):")
        content = SECRETS.redact(item.content)
        lines += [f"      {line}" for line in content.splitlines()]
    return "\n".join(lines)
