"""The daemon's state file: what `barctl status` tells about the daemon, readable without root.

`barctl daemon` writes `daemon.json` in its runtime directory (systemd's RuntimeDirectory=,
/run/barctl, 0755) at start, after a reload and whenever a plan's next run changes (so after each
run), and removes it when it stops. The file is 0644 and holds no secret: pid, start time, policy
path and each plan's next run. `barctl status` reads it and checks that the pid is alive and is a
barctl daemon (/proc/PID/cmdline, readable by any user, proc(5)); a file left by a daemon that
was killed names a dead or reused pid and is reported as stale, never as running.

Only the standard library: `status` must not load the scheduler or the SSH stack.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

STATE_FILE_NAME = "daemon.json"
STATE_SCHEMA = "barctl.daemon-state/1"
PROC = Path("/proc")


@dataclass(frozen=True)
class DaemonState:
    """What the daemon wrote: who it is, since when, from which policy, and its next runs."""

    pid: int
    started_at: str
    policy: str
    next_runs: tuple[tuple[str, str | None], ...]
    updated_at: str


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def render(
    pid: int,
    started_at: datetime,
    policy: Path,
    next_runs: Mapping[str, datetime | None],
    now: datetime,
) -> str:
    """The file's text (pure)."""
    document = {
        "schema": STATE_SCHEMA,
        "pid": pid,
        "started_at": _time(started_at),
        "policy": str(policy),
        "next_runs": {plan: _time(moment) for plan, moment in sorted(next_runs.items())},
        "updated_at": _time(now),
    }
    return json.dumps(document, indent=2) + "\n"


def parse(text: str) -> DaemonState | None:
    """The state in `text`, or None when it is not a state file of this schema (pure)."""
    try:
        document: Any = json.loads(text)
        if document.get("schema") != STATE_SCHEMA:
            return None
        runs = tuple((str(plan), moment) for plan, moment in document["next_runs"].items())
        return DaemonState(
            int(document["pid"]),
            str(document["started_at"]),
            str(document["policy"]),
            runs,
            str(document["updated_at"]),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def is_barctl_daemon(arguments: Sequence[str]) -> bool:
    """Whether a command line is `barctl ... daemon`: the console script (`python3 .../barctl
    daemon` after its shebang) or `python -m barctl ... daemon` (pure)."""
    names = [os.path.basename(argument) for argument in arguments]
    return "daemon" in arguments[1:] and "barctl" in names


def write(directory: Path, text: str) -> None:
    """Replace the state file at once (a reader never sees half of it), mode 0644."""
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{STATE_FILE_NAME}.tmp"
    temporary.write_text(text, encoding="utf-8")
    temporary.chmod(0o644)
    os.replace(temporary, directory / STATE_FILE_NAME)


def remove(directory: Path, pid: int) -> None:
    """Remove the state file if it is still this process's (a newer daemon's stays)."""
    path = directory / STATE_FILE_NAME
    try:
        state = parse(path.read_text(encoding="utf-8"))
    except OSError:
        return
    if state is not None and state.pid == pid:
        path.unlink(missing_ok=True)


def command_line(pid: int) -> tuple[str, ...] | None:
    """The argv of process `pid` from /proc (None when there is no such process)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)


@dataclass(frozen=True)
class Verdict:
    """`running`, `not running` or `stale state file`, with the state when there is one."""

    state: str
    detail: str
    found: DaemonState | None


def judge(text: str | None, arguments_of: Any) -> Verdict:
    """What the state file says once its pid is checked; `arguments_of(pid)` reads a command
    line (command_line, or a fake in tests)."""
    if text is None:
        return Verdict("not running", "no state file", None)
    found = parse(text)
    if found is None:
        return Verdict("stale state file", "not a barctl state file", None)
    arguments = arguments_of(found.pid)
    if arguments is None:
        return Verdict("stale state file", f"pid {found.pid} is not running", found)
    if not is_barctl_daemon(arguments):
        return Verdict("stale state file", f"pid {found.pid} is not a barctl daemon", found)
    return Verdict("running", f"pid {found.pid}", found)


def read(directory: Path) -> Verdict:
    """The verdict on `directory`'s state file."""
    try:
        text: str | None = (directory / STATE_FILE_NAME).read_text(encoding="utf-8")
    except FileNotFoundError:
        text = None
    except OSError as error:
        return Verdict("unknown", f"cannot read {directory / STATE_FILE_NAME}: {error}", None)
    return judge(text, command_line)
