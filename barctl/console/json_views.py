"""`--json` documents: one object per command, `"schema": "barctl.<command>/<version>"` first.

Every schema is documented key by key in docs/json.md (tests/unit/test_json_views.py reads it, so
the two stay in step). Within a version keys may be added, never removed or retyped; a removal or
a new meaning is a new version. Secrets are masked as in the text views (barctl.redaction).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from barctl.console.report import gate_entries
from barctl.redaction import SECRETS
from barctl.run import rear_config
from barctl.run.plan import Plan, Step, StepKind

if TYPE_CHECKING:  # result types only, as in report.py
    from barctl.run.backup import Resolved
    from barctl.run.gate import GateResult

VERSION = 1


def schema_id(command: str) -> str:
    """The schema id of a command's `--json` document, e.g. "barctl.plan/1"."""
    return f"barctl.{command}/{VERSION}"


def document(command: str, body: dict[str, Any]) -> dict[str, Any]:
    """`body` under the command's schema id (the id first, for readers that look at it first)."""
    return {"schema": schema_id(command), **body}


def render(command: str, body: dict[str, Any]) -> str:
    """The command's document as printed: indented, keys in the order built, secrets masked."""
    text: str = SECRETS.redact(json.dumps(document(command, body), indent=2))
    return text


def inventory_plan(resolved: Resolved, excluded: Sequence[str]) -> dict[str, Any]:
    """One plan of `barctl inventory --json`: its nodes, excluded hosts and backup target."""
    target = resolved.target
    return {
        "plan": resolved.name,
        "nodes": [
            {
                "name": node.name,
                "address": node.address,
                "user": node.user,
                "groups": sorted(node.groups),
            }
            for node in resolved.nodes
        ],
        "excluded": list(excluded),
        "target": {
            "name": target.node.name,
            "address": target.node.address,
            "user": target.node.user,
            "directory": target.directory,
        },
    }


def _step(step: Step) -> dict[str, Any]:
    command = step.command if step.kind is StepKind.COMMAND else None
    return {
        "kind": step.kind.value,
        "name": command.name if command else step.undo_key or step.kind.value,
        "command": command.describe() if command else None,
        "changes_state": bool(command and command.changes_state),
        "timeout_seconds": command.timeout_seconds if command else None,
        "undo": step.undo.describe() if command and step.undo else None,
        "note": step.note,
    }


def plan_body(resolved: Resolved, plan: Plan) -> dict[str, Any]:
    """`barctl plan --json`: phases, nodes and each step's exact command; each node's ReaR files
    (firmware unknown: no connection is made)."""
    return {
        "plan": plan.name,
        "mode": plan.mode,
        "run_id": plan.run_id,
        "facts_assumed": True,
        "nodes": [node.name for node in plan.nodes],
        "phases": [
            {
                "title": phase.title,
                "parallel": phase.parallel,
                "nodes": [
                    {"node": node, "steps": [_step(step) for step in steps]}
                    for node, steps in phase.steps
                ],
            }
            for phase in plan.phases
        ],
        "rear": [_rear_node(resolved, node.name, plan.run_id) for node in resolved.nodes],
    }


def _rear_node(resolved: Resolved, node: str, run_id: str) -> dict[str, Any]:
    """One node's ReaR files (registered secrets masked), its rear command and artifacts."""
    files = resolved.target.node_files(node, run_id)
    return {
        "node": node,
        "command": shlex.join(rear_config.rear_argv()),
        "verifies": list(resolved.target.artifact_paths(node, run_id)),
        "files": [
            {"path": item.path, "mode": item.mode, "content": SECRETS.redact(item.content)}
            for item in files
        ],
    }


def precheck_body(plan: str, verdict: GateResult) -> dict[str, Any]:
    """`barctl precheck --json`: the verdict and, per node, ok or every reason it refuses."""
    nodes = []
    for node, reasons, probe in gate_entries(verdict):
        facts = probe.facts if probe is not None else None
        nodes.append(
            {
                "node": node,
                "ok": not reasons and probe is not None,
                "reasons": reasons,
                "pacemaker_member": bool(facts and facts.pacemaker_member),
                "pacemaker_name": facts.pacemaker_name if facts else "",
                "galera": probe.galera.state if probe is not None and probe.galera else None,
                "free_bytes": probe.free_bytes if probe is not None else None,
            }
        )
    return {"plan": plan, "passed": verdict.passed, "nodes": nodes}
