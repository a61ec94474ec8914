"""Pure scheduling decisions of the daemon: catch-up verdicts, reload reconciliation, STATUS=."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from barctl.config.policy import UndercloudPlan
from barctl.service.catchup import Verdict, decide, reconcile, status_line, timing_key

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
NIGHTLY = UndercloudPlan(schedule="0 2 * * *")
HOURLY = UndercloudPlan(interval_seconds=3600)


@pytest.mark.parametrize(
    ("plan", "last_attempt", "window", "verdict", "slot"),
    [
        (NIGHTLY, None, 86400, Verdict.NOTHING, None),
        (NIGHTLY, NOW - timedelta(hours=6), 86400, Verdict.NOTHING, None),
        (NIGHTLY, NOW - timedelta(days=3), 86400, Verdict.CATCH_UP, NOW.replace(hour=2)),
        (NIGHTLY, NOW - timedelta(days=3), 3600, Verdict.MISS, NOW.replace(hour=2)),
        (
            HOURLY,
            NOW - timedelta(seconds=3 * 3600 + 60),
            86400,
            Verdict.CATCH_UP,
            NOW - timedelta(seconds=60),
        ),
        (HOURLY, NOW - timedelta(seconds=3599), 86400, Verdict.NOTHING, None),
    ],
)
def test_decide(
    plan: UndercloudPlan,
    last_attempt: datetime | None,
    window: int,
    verdict: Verdict,
    slot: datetime | None,
) -> None:
    """Only the latest missed slot counts; inside the window it runs, outside it is a miss."""
    decision = decide(plan, last_attempt, NOW, window)
    assert (decision.verdict, decision.slot) == (verdict, slot)


def test_reconcile_sorts_plans_by_what_changed() -> None:
    """Added, removed, rescheduled (timing changed) and unchanged plans, by timing key."""
    current = {"undercloud": timing_key(NIGHTLY, 60), "controlplane": timing_key(HOURLY, 60)}
    wanted = {"undercloud": timing_key(UndercloudPlan(schedule="0 2 * * *", jitter_seconds=9), 60)}
    changes = reconcile(current, wanted)
    assert changes.rescheduled == ("undercloud",)
    assert changes.removed == ("controlplane",)
    assert (changes.added, changes.unchanged) == ((), ())
    assert reconcile(current, current).unchanged == ("undercloud", "controlplane")


def test_status_line_names_running_plans_then_next_runs() -> None:
    """STATUS= says what runs since when, and every other plan's next run."""
    text = status_line(
        {"undercloud": NOW, "controlplane": None}, {"undercloud": NOW - timedelta(minutes=5)}
    )
    assert text == "running undercloud since 2026-11-25T08:55:00+00:00; controlplane next never"
