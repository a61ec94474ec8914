"""Retention: which runs on the target are deleted, per node, and why (barctl.run.retention)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from barctl.history.records import run_id_parts
from barctl.run.retention import Rules, RunState, TargetRun, decide, deletions

NOW = datetime.fromisoformat("2026-11-30T12:00:00+00:00")
V, F, N, U = RunState.VERIFIED, RunState.FAILED, RunState.INCOMPLETE, RunState.UNREADABLE


def run(days_ago: float, state: RunState, node: str = "ctl-0") -> TargetRun:
    """A run of `node` started `days_ago` days before NOW, its id made as new_run_id makes it."""
    started = NOW - timedelta(days=days_ago)
    return TargetRun(node, f"{started:%Y%m%dT%H%M%SZ}-controlplane-a1", started, state)


def rules(keep_last: int = 2, keep_days: int = 0, incomplete_hours: int = 12) -> Rules:
    """Retention rules with the incomplete safety age in hours."""
    return Rules(keep_last, keep_days, timedelta(hours=incomplete_hours))


def deleted_ages(runs: list[tuple[float, RunState]], **kwargs: int) -> list[float]:
    """Ages (days) of the runs of one node that the rule deletes, newest first."""
    made = [run(age, state) for age, state in runs]
    ages = {item.run_id: age for item, (age, _) in zip(made, runs)}
    return [ages[verdict.run.run_id] for verdict in deletions(decide(made, rules(**kwargs), NOW))]


CASES = [
    # (runs as (days ago, state), rule arguments, ages deleted): one line per rule of the module.
    ([(1, V), (2, V), (3, V), (4, V)], {}, [3, 4]),
    ([(1, V), (2, V)], {}, []),
    ([(1, V)], {"keep_last": 1}, []),
    ([(1, V), (2, V), (3, V)], {"keep_last": 1}, [2, 3]),
    ([(1, V), (2, V), (3, V), (20, V)], {"keep_days": 14}, [20]),
    ([(1, V), (2, V), (13.9, V), (14.1, V)], {"keep_last": 1, "keep_days": 14}, [14.1]),
    # The newest run failed: the node waits for its next verified run, nothing is deleted.
    ([(0.5, F), (1, V), (2, V), (3, V)], {}, []),
    ([(0.5, N), (1, V), (2, V), (3, V)], {}, []),
    ([(0.5, U), (1, V), (2, V), (3, V)], {}, []),
    # No verified run at all: nothing is deleted, failed or not.
    ([(1, F), (2, F), (3, N)], {}, []),
    # A failed run older than the newest verified run goes; one between verified runs too.
    ([(1, V), (2, F), (3, V)], {}, [2]),
    ([(1, V), (2, V), (3, F), (4, V)], {"keep_last": 3}, [3]),
    # No manifest: deleted only when older than the newest verified run and the safety age.
    ([(1, V), (2, N)], {}, [2]),
    ([(0.25, V), (0.3, N)], {"incomplete_hours": 12}, []),
    ([(0.25, V), (0.6, N)], {"incomplete_hours": 12}, [0.6]),
    # An unreadable manifest is never deleted, however old.
    ([(1, V), (2, V), (3, V), (30, U)], {"keep_last": 1}, [2, 3]),
]


@pytest.mark.parametrize(("runs", "arguments", "expected"), CASES)
def test_rule_table(
    runs: list[tuple[float, RunState]], arguments: dict[str, int], expected: list[float]
) -> None:
    """Each retention rule deletes exactly the runs its docstring names, and no other."""
    assert deleted_ages(runs, **arguments) == expected


def test_newest_verified_run_is_never_deleted_whatever_the_rules() -> None:
    """Over many shapes of history, the newest verified run of a node is always kept."""
    states = [V, F, N, U]
    for shape in range(4**5):
        history = [(day + 1.0, states[(shape >> (2 * day)) & 3]) for day in range(5)]
        made = [run(age, state) for age, state in history]
        verdicts = decide(made, rules(keep_last=1, incomplete_hours=1), NOW)
        verified = [item for item in made if item.state is V]
        if verified:
            newest = verified[0]
            assert next(v for v in verdicts if v.run == newest).delete is False
        kept_verified = [v for v in verdicts if v.run.state is V and not v.delete]
        assert len(kept_verified) >= min(1, len(verified))


def test_failed_newest_run_never_causes_a_prune() -> None:
    """A failed newest run holds the node: a history that alone loses four runs loses none."""
    base = [run(1, V), run(2, V), run(3, V), run(40, F), run(50, N)]
    assert len(deletions(decide(base, rules(keep_last=1), NOW))) == 4
    with_failed = [run(0.1, F), *base]
    assert deletions(decide(with_failed, rules(keep_last=1), NOW)) == ()


def test_nodes_are_judged_apart() -> None:
    """One node's failed newest run holds only that node; the other is pruned."""
    runs = [
        run(0.5, F, "ctl-0"),
        run(1, V, "ctl-0"),
        run(2, V, "ctl-0"),
        run(1, V, "ctl-1"),
        run(2, V, "ctl-1"),
    ]
    deleted = deletions(decide(runs, rules(keep_last=1), NOW))
    assert [(v.run.node, v.run.run_id) for v in deleted] == [("ctl-1", runs[4].run_id)]


def test_verdicts_list_nodes_in_order_newest_first_with_reasons() -> None:
    """Verdicts come per node in first-seen order, newest first, each with its reason."""
    runs = [run(3, V, "ctl-1"), run(1, V, "ctl-1"), run(2, F, "ctl-0"), run(1, V, "ctl-0")]
    verdicts = decide(runs, rules(keep_last=1), NOW)
    assert [(v.run.node, v.delete) for v in verdicts] == [
        ("ctl-1", False),
        ("ctl-1", True),
        ("ctl-0", False),
        ("ctl-0", True),
    ]
    assert verdicts[0].reason == "kept: the newest verified run"
    assert verdicts[1].reason == "deleted: verified, beyond the newest 1 verified runs"
    assert verdicts[3].reason.startswith("deleted: verification failed, older than the verified")


def test_held_node_says_why() -> None:
    """A node whose newest run is not verified says which run holds it."""
    newest = run(0.5, N)
    verdicts = decide([newest, run(1, V), run(2, V), run(3, V)], rules(keep_last=1), NOW)
    assert all(newest.run_id in v.reason and "incomplete" in v.reason for v in verdicts)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20261125T023000Z-controlplane-3f2a", ("2026-11-25T02:30:00+00:00", "controlplane")),
        ("20261125T023000Z-undercloud-0", ("2026-11-25T02:30:00+00:00", "undercloud")),
        ("20261325T023000Z-undercloud-0", None),
        ("20261125T023000Z-undercloud-0/..", None),
        ("../20261125T023000Z-undercloud-0", None),
        ("-20261125T023000Z-undercloud-0", None),
        ("20261125T023000Z-Undercloud-0", None),
        ("20261125T023000Z-undercloud-", None),
        ("20261125T023000Z-undercloud-0\n", None),
        ("lost+found", None),
    ],
)
def test_run_id_parts(text: str, expected: tuple[str, str] | None) -> None:
    """Only names `new_run_id` could have made are run ids; their time is UTC-aware."""
    found = run_id_parts(text)
    if expected is None:
        assert found is None
    else:
        assert found == (datetime.fromisoformat(expected[0]), expected[1])
