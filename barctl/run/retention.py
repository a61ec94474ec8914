"""Which runs on the backup target to delete: a pure rule over what the target holds (issue 11).

Without it nothing is ever deleted: a full ISO and archive per node per night fill the share,
and then every backup fails. Deleting is the dangerous half, so the rule is conservative and
decided per node, over the runs of one plan (run ids name their plan), each run whole
(`<dir>/<node>/<run id>`: ISO, archive, logs, restore material and manifest):

1. A node is pruned only when its newest run directory is a verified run: pruning follows a new
   verified success of that node. A node whose newest run failed, has no manifest yet (in
   progress, crashed) or an unreadable one keeps everything, so a failed verification never
   causes a prune.
2. Verified runs: the newest `keep_last` (at least 1) are kept, and so is any run younger than
   `keep_days` days; an older verified run beyond both is deleted. The newest verified run is
   therefore never deleted, and at least `keep_last` verified runs remain.
3. A run whose verification failed is deleted only when it is older than the node's newest
   verified run (that run supersedes it); otherwise it is kept for the operator.
4. A directory without a manifest (incomplete: crashed, or still being written) is deleted only
   when it is older than the newest verified run AND older than `incomplete_after` (the plan's
   `timeouts.run_seconds`: no run of the plan lasts longer).
5. A directory whose manifest cannot be read is never deleted: barctl cannot tell what it is.

Ages and order come from the run id (`new_run_id`: the start time, sortable).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


class RunState(enum.Enum):
    """What a run directory on the target is, judged from its manifest."""

    VERIFIED = "verified"  # a manifest whose verification passed
    FAILED = "failed"  # a manifest whose verification failed
    INCOMPLETE = "incomplete"  # no manifest: crashed, or still being written
    UNREADABLE = "unreadable"  # a manifest that does not parse or names another run


@dataclass(frozen=True)
class TargetRun:
    """One run directory `<dir>/<node>/<run_id>` on the target."""

    node: str
    run_id: str
    started_at: datetime
    state: RunState


@dataclass(frozen=True)
class Rules:
    """The plan's `retention` section, and how old a directory without a manifest must be."""

    keep_last: int
    keep_days: int
    incomplete_after: timedelta


@dataclass(frozen=True)
class Verdict:
    """Whether `run` is deleted, and why (the words printed by `barctl prune` and logged)."""

    run: TargetRun
    delete: bool
    reason: str


def decide(runs: Iterable[TargetRun], rules: Rules, now: datetime) -> tuple[Verdict, ...]:
    """A verdict for every run: nodes in first-seen order, each node's runs newest first."""
    by_node: dict[str, list[TargetRun]] = {}
    for run in runs:
        by_node.setdefault(run.node, []).append(run)
    verdicts: list[Verdict] = []
    for node_runs in by_node.values():
        newest_first = sorted(node_runs, key=lambda run: run.run_id, reverse=True)
        verdicts += _node_verdicts(newest_first, rules, now)
    return tuple(verdicts)


def deletions(verdicts: Iterable[Verdict]) -> tuple[Verdict, ...]:
    """The verdicts that delete, in order."""
    return tuple(verdict for verdict in verdicts if verdict.delete)


def _node_verdicts(newest_first: Sequence[TargetRun], rules: Rules, now: datetime) -> list[Verdict]:
    newest = newest_first[0]
    if newest.state is not RunState.VERIFIED:
        held = (
            f"kept: the node's newest run {newest.run_id} is {newest.state.value}; pruning waits"
            " for its next verified run"
        )
        return [Verdict(run, False, held) for run in newest_first]
    verified = [run for run in newest_first if run.state is RunState.VERIFIED]
    return [_verdict(run, verified, rules, now) for run in newest_first]


def _verdict(run: TargetRun, verified: list[TargetRun], rules: Rules, now: datetime) -> Verdict:
    if run.state is RunState.VERIFIED:
        return _verified_verdict(run, verified.index(run), now - run.started_at, rules)
    if run.state is RunState.UNREADABLE:
        return Verdict(run, False, "kept: its manifest cannot be read; left for the operator")
    newest = verified[0].run_id
    if run.run_id > newest:
        return Verdict(run, False, f"kept: {_what(run)}, newer than every verified run")
    if run.state is RunState.INCOMPLETE and now - run.started_at < rules.incomplete_after:
        limit = _duration(rules.incomplete_after)
        return Verdict(run, False, f"kept: no manifest, younger than {limit} (may still run)")
    return Verdict(run, True, f"deleted: {_what(run)}, older than the verified run {newest}")


def _what(run: TargetRun) -> str:
    return "verification failed" if run.state is RunState.FAILED else "no manifest"


def _verified_verdict(run: TargetRun, rank: int, age: timedelta, rules: Rules) -> Verdict:
    if rank == 0:
        return Verdict(run, False, "kept: the newest verified run")
    if rank < rules.keep_last:
        return Verdict(run, False, f"kept: one of the newest {rules.keep_last} verified runs")
    if age < timedelta(days=rules.keep_days):
        return Verdict(run, False, f"kept: verified, younger than {rules.keep_days} days")
    beyond = f"beyond the newest {rules.keep_last} verified runs"
    if rules.keep_days:
        beyond += f" and older than {rules.keep_days} days"
    return Verdict(run, True, f"deleted: verified, {beyond}")


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    return f"{seconds} seconds"
