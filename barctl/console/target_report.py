"""Views of the backup target: `barctl prune`'s verdicts and `barctl backups`' runs, text and JSON.

Pure formatting of what barctl.run.prune and barctl.run.target_listing read; the rows are built
from the manifests on the target alone, never from the history.
"""

from __future__ import annotations

import itertools
from typing import Any

from barctl.run.manifest import MANIFEST_NAME, RESTORE_DIRECTORY, Manifest, rfc3339
from barctl.run.prune import PruneResult
from barctl.run.rear_capability import human_bytes
from barctl.run.target_listing import ListedRun, Listing, run_path


def prune_rows(result: PruneResult) -> list[dict[str, Any]]:
    """One row per run of the plan on the target: node, run id, state, action and reason."""
    failed = dict(result.failures)
    rows = []
    for verdict in result.verdicts:
        action = "delete" if verdict.delete else "keep"
        if verdict.delete and not result.dry_run:
            action = "failed" if verdict in failed else "deleted"
        rows.append(
            {
                "node": verdict.run.node,
                "run_id": verdict.run.run_id,
                "state": verdict.run.state.value,
                "action": action,
                "reason": verdict.reason,
                "path": result.path(verdict),
                "detail": failed.get(verdict, ""),
            }
        )
    return rows


def prune_body(result: PruneResult) -> dict[str, Any]:
    """`barctl prune --json`'s body (schema barctl.prune/1, docs/json.md)."""
    return {"plan": result.plan, "dry_run": result.dry_run, "runs": prune_rows(result)}


def prune_text(result: PruneResult) -> str:
    """`barctl prune`'s report: each run with what happened to it, then a count."""
    rows = prune_rows(result)
    lines = [
        f"plan {result.plan}, target {result.directory}" + (" (dry run)" if result.dry_run else "")
    ]
    for row in rows:
        detail = f": {row['detail']}" if row["detail"] else ""
        action = row["action"].upper()
        head = f"  {row['node']} {row['run_id']} {row['state']:<10} {action:<7}"
        lines.append(f"{head} {row['reason']}{detail}")
    if not rows:
        lines.append("  no run of this plan on the target")
    deleting = sum(1 for row in rows if row["action"] in ("delete", "deleted"))
    verb = "would delete" if result.dry_run else "deleted"
    summary = f"{verb} {deleting} of {len(rows)} runs"
    if result.failures:
        summary += f"; {len(result.failures)} deletions failed"
    lines.append(summary)
    return "\n".join(lines)


def backup_rows(listing: Listing, node: str | None = None) -> list[dict[str, Any]]:
    """Every run on the target (of `node`, or of every listed node), newest first per node."""
    return [
        _backup_row(listing.directory, run)
        for run in listing.runs
        if node in (None, run.directory.node)
    ]


def _backup_row(directory: str, run: ListedRun) -> dict[str, Any]:
    found = run.directory
    base = run_path(directory, found.node, found.run_id)
    row: dict[str, Any] = {
        "node": found.node,
        "run_id": found.run_id,
        "plan": found.plan,
        "started_at": rfc3339(found.started_at),
        "state": run.state.value,
        "verified": run.state.value == "verified",
        "size_bytes": run.size_bytes,
        "directory": base,
        "problem": run.problem,
        "manifest": None if run.manifest is None else f"{base}/{MANIFEST_NAME}",
    }
    if run.manifest is None:
        names = [name for name, _ in found.files if name != MANIFEST_NAME]
        return row | {
            "iso": None,
            "archive": None,
            "restore": [],
            "files": [f"{base}/{name}" for name in names],
        }
    return row | _manifest_fields(base, run.manifest)


def _manifest_fields(base: str, listed: Manifest) -> dict[str, Any]:
    """What a run's manifest adds to its row: its end, its verification and its files' paths."""
    verification = listed.verification
    paths: dict[str, str | None] = {
        kind: next((f"{base}/{item.path}" for item in listed.files if item.kind == kind), None)
        for kind in ("iso", "archive")
    }
    restore = [
        f"{base}/{item.path}"
        for item in listed.files
        if item.path.startswith(f"{RESTORE_DIRECTORY}/")
    ]
    return {
        "finished_at": rfc3339(listed.finished_at),
        "verification": {
            "mode": verification.mode,
            "passed": verification.passed,
            "reason": verification.reason,
        },
        "iso": paths["iso"],
        "archive": paths["archive"],
        "restore": restore,
        "files": [f"{base}/{item.path}" for item in listed.files],
    }


def backups_text(rows: list[dict[str, Any]]) -> str:
    """`barctl backups`: per node, every run newest first with its paths."""
    if not rows:
        return "no run on the target"
    lines: list[str] = []
    for node, runs in itertools.groupby(rows, key=lambda row: row["node"]):
        lines.append(node)
        for row in runs:
            lines += _run_lines(row)
    return "\n".join(lines)


def _run_lines(row: dict[str, Any]) -> list[str]:
    state = row["state"]
    reason = (row.get("verification") or {}).get("reason")
    if reason:
        state += f" ({reason})"
    size = human_bytes(row["size_bytes"])
    lines = [f"  {row['started_at']}  {row['run_id']}  {state}  {size}"]
    lines += [f"    {key:<8} {row[key]}" for key in ("iso", "archive") if row[key]]
    lines += [f"    restore  {path}" for path in row["restore"]]
    if row["manifest"] is None:
        lines += [f"    file     {path}" for path in row["files"]]
    if row["problem"]:
        lines.append(f"    problem  {row['problem']}")
    return lines
