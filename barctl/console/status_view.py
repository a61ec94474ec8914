"""`barctl status`: whether the daemon runs (its state file, barctl.service.daemon_state) and
each plan's last run, last success and next run. For any user, not only root: it reads the
policy alone (never its credential files or the inventory), and a user who may not read the
policy (root:barctl 0640) or the history (0600) still learns what the daemon's state file says.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from barctl.config import schedule
from barctl.config.policy import Policy, load_policy_document, resolve_policy_path
from barctl.config.site import Site
from barctl.history.store import existing_history
from barctl.service import daemon_state

# The runtime directory's default when the policy cannot be read (policy.runtime_directory).
DEFAULT_RUNTIME_DIRECTORY = Path("/run/barctl")


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def status(config: str | None, environ: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """The status document's body for the policy `config` names (docs/json.md)."""
    path = resolve_policy_path(config, environ)
    if path.is_file() and not os.access(path, os.R_OK):
        # systemd's $RUNTIME_DIRECTORY when set (as Site does), else the policy key's default.
        named = environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
        directory = Path(named) if named else DEFAULT_RUNTIME_DIRECTORY
        body = {"daemon": daemon_body(directory), "policy_readable": False}
        return body | {"history_readable": False, "plans": []}
    policy, _ = load_policy_document(path)
    site = Site.from_policy(policy, environ)
    try:
        rows, readable = status_rows(policy, site, now), True
    except (OSError, sqlite3.Error):
        rows, readable = status_rows(policy, None, now), False
    body = {"daemon": daemon_body(site.runtime_directory), "policy_readable": True}
    return body | {"history_readable": readable, "plans": rows}


def daemon_body(directory: Path) -> dict[str, Any]:
    """The daemon as its state file in `directory` and /proc show it."""
    verdict = daemon_state.read(directory)
    found = verdict.found
    return {
        "state": verdict.state,
        "detail": verdict.detail,
        "state_file": str(directory / daemon_state.STATE_FILE_NAME),
        "pid": found.pid if found else None,
        "started_at": found.started_at if found else None,
        "policy": found.policy if found else None,
        "next_runs": [{"plan": plan, "next_run": moment} for plan, moment in found.next_runs]
        if found
        else [],
    }


def status_rows(policy: Policy, site: Site | None, now: datetime) -> list[dict[str, Any]]:
    """Per plan (the restore drill included): last run and its outcome, last success (history
    unread: `site` None), next scheduled run."""
    rows = []
    with existing_history(site) if site else contextlib.nullcontext() as store:
        for name, section in policy.plans.scheduled():
            last = store.last_run(name) if store else None
            success = store.last_success(name) if store else None
            rows.append(
                {
                    "plan": name,
                    "enabled": section.enabled,
                    "last_run": _time(last.started_at) if last else None,
                    "last_outcome": (last.outcome.value if last.outcome else "running")
                    if last
                    else None,
                    "last_success": _time(success.started_at) if success else None,
                    "next_run": _time(schedule.next_run(section, now)) if section.enabled else None,
                }
            )
    return rows


def status_text(body: dict[str, Any]) -> str:
    """`status` as text: the daemon first, then one aligned line per plan."""
    daemon = body["daemon"]
    lines = [f"daemon: {daemon['state']} ({daemon['detail']}, {daemon['state_file']})"]
    if daemon["state"] == "running":
        lines[0] = (
            f"daemon: running, pid {daemon['pid']} since {daemon['started_at']},"
            f" policy {daemon['policy']}"
        )
        runs = ", ".join(f"{row['plan']} {row['next_run']}" for row in daemon["next_runs"])
        lines.append(f"  next runs: {runs or 'none scheduled'}")
    if not body["policy_readable"]:
        lines.append("policy: not readable as this user (plans unknown)")
    elif not body["history_readable"]:
        lines.append("history: not readable as this user (last runs unknown)")
    for row in body["plans"]:
        last = f"{row['last_outcome']} at {row['last_run']}" if row["last_run"] else "never"
        next_run = row["next_run"] or "not scheduled (disabled)"
        lines.append(
            f"{row['plan']:<13} last run: {last}; last success: {row['last_success'] or 'never'};"
            f" next run: {next_run}"
        )
    return "\n".join(lines)
