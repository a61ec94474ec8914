"""Where one controller's wall time goes in a rolling run: a per-step table (bench/rolling_bench).

Pure over two records the run leaves: the history's `steps` rows (every state change and every
verification command, with start and end) and the lab's `invocations.jsonl` (every stand-in call,
with time and host). A controller's span runs from the end of the previous controller's last
recorded step to the end of its own; inside it, each recorded step is a segment, and each gap
between two recorded steps is named after the stand-in calls made in it (the cluster view read
before and after a node, `rear -V` for the manifest: reads the history does not record) or
`barctl only` when no command ran (barctl's own bookkeeping between steps).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lab import Invocation


@dataclass(frozen=True)
class StepRow:
    """One recorded step of the run's history."""

    node: str
    step: str
    started: float
    ended: float


@dataclass(frozen=True)
class Segment:
    """A stretch of a controller's span: a recorded step or a gap between two."""

    name: str
    started: float
    ended: float
    calls: int


@dataclass(frozen=True)
class Line:
    """One line of the table: a step name, how often, its total wall, and its stand-in calls."""

    name: str
    count: int
    wall: float
    calls: int


def step_rows(database: Path) -> list[StepRow]:
    """Every step of the (only) run in the history, in the order recorded."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT node, step, started_at, COALESCE(ended_at, started_at) FROM steps ORDER BY id"
        ).fetchall()
    return [StepRow(node, step, float(begin), float(end)) for node, step, begin, end in rows]


def _last_end(rows: Sequence[StepRow], node: str) -> float | None:
    ends = [row.ended for row in rows if row.node == node]
    return max(ends) if ends else None


def _calls(invocations: Sequence[Invocation], started: float, ended: float) -> list[Invocation]:
    return [call for call in invocations if started <= call.time < ended]


def _gap_name(calls: Sequence[Invocation]) -> str:
    if not calls:
        return "(barctl only, between steps)"
    tools = sorted({call.argv[0] if call.argv[0] != "podman" else _podman(call) for call in calls})
    return "(reads: " + ", ".join(tools) + ")"


def _podman(call: Invocation) -> str:
    """`podman exec C mysql ...` is a mysql read; name it by the tool inside."""
    words = [word for word in call.argv[1:] if not word.startswith("-")]
    return words[2] if len(words) > 2 and words[0] == "exec" else "podman"


def controller_segments(
    rows: Sequence[StepRow], invocations: Sequence[Invocation], previous: str, controller: str
) -> list[Segment]:
    """The segments of `controller`'s span, which starts where `previous`'s last step ended."""
    began, finished = _last_end(rows, previous), _last_end(rows, controller)
    if began is None or finished is None:
        return []
    inside = [row for row in rows if began <= row.started and row.ended <= finished]
    segments: list[Segment] = []
    cursor = began
    for row in sorted(inside, key=lambda row: row.started):
        if row.started > cursor:
            gap = _calls(invocations, cursor, row.started)
            segments.append(Segment(_gap_name(gap), cursor, row.started, len(gap)))
        calls = _calls(invocations, row.started, row.ended)
        segments.append(Segment(row.step, row.started, row.ended, len(calls)))
        cursor = max(cursor, row.ended)
    return segments


def table(segments: Sequence[Segment]) -> list[Line]:
    """Segments summed by name, in the order first seen."""
    lines: dict[str, Line] = {}
    for segment in segments:
        found = lines.get(segment.name, Line(segment.name, 0, 0.0, 0))
        lines[segment.name] = Line(
            segment.name,
            found.count + 1,
            found.wall + segment.ended - segment.started,
            found.calls + segment.calls,
        )
    return list(lines.values())


def render(controller: str, lines: Sequence[Line]) -> list[str]:
    """The table as text: step, times run, stand-in calls, wall, share of the span."""
    total = sum(line.wall for line in lines) or 1.0
    out = [
        f"  where {controller}'s {total:.2f} s go (steps from the history, reads between them "
        "from the lab's stand-in log):",
        f"    {'step':<34} {'runs':>4} {'calls':>5} {'wall s':>7} {'share':>6}",
    ]
    for line in lines:
        out.append(
            f"    {line.name[:34]:<34} {line.count:>4} {line.calls:>5} {line.wall:>7.3f} "
            f"{line.wall / total:>6.1%}"
        )
    return out
