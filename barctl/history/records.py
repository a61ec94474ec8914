"""What the history holds, as frozen records, and the pure helpers around them.

Split from store.py so that the SQLite chokepoint stays small; nothing here touches the database.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from barctl import model
from barctl.model import last_lines
from barctl.outcome import NodeOutcome, RunOutcome, StepOutcome, Trigger, UndoState
from barctl.reasons import Reason
from barctl.redaction import redact

STDERR_TAIL_CHARACTERS = 8192
# Shared with the runner, defined in barctl.model; still importable here (moved to model.py).
Artifact = model.Artifact
STDERR_TAIL_LINES = model.STDERR_TAIL_LINES


@dataclass(frozen=True)
class RunRecord:
    """One run; `ended_at` and `outcome` are None while it is still going."""

    run_id: str
    plan: str
    trigger: Trigger
    started_at: datetime
    ended_at: datetime | None
    outcome: RunOutcome | None
    summary: str
    pid: int


@dataclass(frozen=True)
class NodeRecord:
    """What one run did to one node; `size_bytes` is the sum over `artifacts`."""

    run_id: str
    node: str
    outcome: NodeOutcome
    artifacts: tuple[Artifact, ...]
    size_bytes: int
    reason: str
    recorded_at: datetime
    reason_class: Reason | None = None


@dataclass(frozen=True)
class StepRecord:
    """One remote step; `exit_code` is None when the command did not run to completion."""

    step_id: int
    run_id: str
    node: str
    step: str
    command: str
    started_at: datetime
    ended_at: datetime | None
    exit_code: int | None
    outcome: StepOutcome | None
    duration_seconds: float | None
    stderr_tail: str


@dataclass(frozen=True)
class UndoRecord:
    """One entry of the undo journal; `payload` is the engine's opaque JSON object."""

    undo_id: int
    run_id: str
    node: str
    step: str
    payload: Mapping[str, Any]
    registered_at: datetime
    state: UndoState
    exit_code: int | None
    finished_at: datetime | None


@dataclass(frozen=True)
class PruneRecord:
    """One run directory retention deleted (or tried to): `state` deleting, deleted or failed."""

    prune_id: int
    plan: str
    node: str
    run_id: str
    path: str
    reason: str
    size_bytes: int
    state: str
    detail: str
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class ManifestFileRecord:
    """One file of a node's run on the target, relative to `<dir>/<node>/<run_id>`."""

    path: str
    kind: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class ArtifactRecord:
    """The facts of one node's manifest (run/manifest.py), as the history keeps them."""

    run_id: str
    node: str
    plan: str
    target_scheme: str
    target_directory: str
    started_at: datetime
    finished_at: datetime
    rear_version: str
    uefi: bool
    barctl_version: str
    policy_sha256: str
    files: tuple[ManifestFileRecord, ...]
    verify_mode: str
    verified: bool
    reason: str | None
    checked_at: datetime


def artifact_record(row: sqlite3.Row) -> ArtifactRecord:
    """An `artifacts` row as a record."""
    files = tuple(ManifestFileRecord(**item) for item in json.loads(row["files"]))
    values = _values(row) | {
        "files": files,
        "uefi": bool(row["uefi"]),
        "verified": bool(row["verified"]),
    }
    return ArtifactRecord(**values)


PendingUndo = UndoRecord
"""An undo still in state `pending`, as returned by `Store.pending_undos()`."""


@dataclass(frozen=True)
class RunDetail:
    """A run with its nodes (by name), steps and undos (both in registration order)."""

    run: RunRecord
    nodes: tuple[NodeRecord, ...]
    steps: tuple[StepRecord, ...]
    undos: tuple[UndoRecord, ...]


def new_run_id(plan: str, now: datetime, random_suffix: str) -> str:
    """`20261125T023000Z-controlplane-3f2a`: sortable by start time, unique by the suffix."""
    if not re.fullmatch(r"[a-z0-9]+", random_suffix):
        raise ValueError(f"random suffix must be lowercase letters and digits: {random_suffix!r}")
    return f"{utc(now):%Y%m%dT%H%M%SZ}-{plan}-{random_suffix}"


# What `new_run_id` makes, and nothing else: a run id read back from a target's directory names
# becomes part of a path (`<dir>/<node>/<run id>`), so no `/`, `..` or leading `-` can pass.
RUN_ID = re.compile(r"(\d{8}T\d{6}Z)-([a-z][a-z0-9]*)-([a-z0-9]+)")


def run_id_parts(text: str) -> tuple[datetime, str] | None:
    """(start time in UTC, plan) of a run id `new_run_id` could have made; None otherwise."""
    found = RUN_ID.fullmatch(text)
    if found is None:
        return None
    try:
        # %z reads the trailing "Z" as UTC (Python 3.7+), so the time is aware.
        started = datetime.strptime(found[1], "%Y%m%dT%H%M%S%z")
    except ValueError:
        return None
    return started, found[2]


def stderr_tail(text: str, secrets: Collection[str] = ()) -> str:
    """The redacted last `STDERR_TAIL_LINES` lines of `text`, at most `STDERR_TAIL_CHARACTERS`."""
    return str(last_lines(redact(text, secrets)))[-STDERR_TAIL_CHARACTERS:]


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is a programming error."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime given to the store: {moment.isoformat()}")
    return moment.astimezone(timezone.utc)


def epoch(moment: datetime) -> float:
    """Seconds since the epoch, as stored."""
    return utc(moment).timestamp()


def moment(epoch: float | None) -> datetime | None:
    """A stored epoch back as an aware UTC datetime."""
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


def _values(row: sqlite3.Row, identifier: str | None = None) -> dict[str, Any]:
    """Columns by name; `*_at` epochs become UTC datetimes; `id` is renamed `identifier`."""
    pairs = zip(row.keys(), row)
    values = {key: moment(value) if key.endswith("_at") else value for key, value in pairs}
    if identifier is not None:
        values[identifier] = values.pop("id")
    return values


def run_record(row: sqlite3.Row) -> RunRecord:
    """A `runs` row as a record."""
    values = _values(row, "run_id")
    outcome = None if row["outcome"] is None else RunOutcome(row["outcome"])
    return RunRecord(**values | {"trigger": Trigger(row["trigger"]), "outcome": outcome})


def node_record(row: sqlite3.Row) -> NodeRecord:
    """A `nodes` row as a record."""
    listing = json.loads(row["artifacts"])
    artifacts = tuple(Artifact(item["path"], item["size_bytes"]) for item in listing)
    found = row["reason_class"]
    values = _values(row) | {
        "outcome": NodeOutcome(row["outcome"]),
        "artifacts": artifacts,
        "reason_class": None if found is None else Reason(found),
    }
    return NodeRecord(**values)


def step_record(row: sqlite3.Row) -> StepRecord:
    """A `steps` row as a record."""
    outcome = None if row["outcome"] is None else StepOutcome(row["outcome"])
    return StepRecord(**_values(row, "step_id") | {"outcome": outcome})


def undo_record(row: sqlite3.Row) -> UndoRecord:
    """An `undos` row as a record."""
    payload = MappingProxyType(json.loads(row["payload"]))
    values = _values(row, "undo_id") | {"payload": payload, "state": UndoState(row["state"])}
    return UndoRecord(**values)


def prune_record(row: sqlite3.Row) -> PruneRecord:
    """A `prunes` row as a record."""
    return PruneRecord(**_values(row, "prune_id"))


@dataclass(frozen=True)
class PlanTotals:
    """A plan's counters, kept at write time (they survive `Store.prune_history`).

    `duration_buckets[outcome][bound]` counts the ended runs of that outcome that lasted at most
    `bound` seconds (cumulative, as a Prometheus histogram; bounds in
    barctl.history.store_schema.DURATION_BUCKETS). `refusals` counts gate refusals by node and
    stored reason class (None for a row recorded without one).
    """

    first_started_at: datetime | None = None
    missed_slots: int = 0
    runs: Mapping[RunOutcome, int] = field(default_factory=dict)
    duration_seconds: Mapping[RunOutcome, float] = field(default_factory=dict)
    duration_buckets: Mapping[RunOutcome, Mapping[float, int]] = field(default_factory=dict)
    refusals: Mapping[tuple[str, Reason | None], int] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeLatest:
    """When a node's latest row of one outcome was recorded, and that backup's size."""

    recorded_at: datetime
    size_bytes: int
