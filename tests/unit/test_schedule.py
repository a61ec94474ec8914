"""Schedules: cron parsing with day names, triggers, next run, catch-up slot, expected interval."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import ValidationError

from barctl.config.policy import ControlplanePlan, UndercloudPlan
from barctl.config.schedule import (
    NUMERIC_DAY_OF_WEEK,
    build_trigger,
    expected_interval_seconds,
    next_run,
    parse_cron,
    previous_slot,
)

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, zone: ZoneInfo | None = None) -> datetime:
    """An aware datetime from ISO text, in UTC unless `zone` is given."""
    return datetime.fromisoformat(text).replace(tzinfo=zone or timezone.utc)


def cron_plan(schedule: str, timezone: str = "UTC", jitter: int = 0) -> ControlplanePlan:
    """A controlplane plan on a cron schedule."""
    return ControlplanePlan(schedule=schedule, timezone=timezone, jitter_seconds=jitter)


def test_sunday_means_sunday() -> None:
    """`sun` fires on Sunday (APScheduler's numbers would have meant Monday for 0)."""
    fire = next_run(cron_plan("30 2 * * sun"), at("2026-11-23T12:00:00"))  # a Monday
    assert fire == at("2026-11-29T02:30:00")
    assert fire is not None and fire.strftime("%A") == "Sunday"


def test_weekday_range_by_name() -> None:
    """`mon-fri` skips the weekend: Friday night's next run is on Monday."""
    fire = next_run(cron_plan("0 3 * * mon-fri"), at("2026-11-27T04:00:00"))  # a Friday
    assert fire == at("2026-11-30T03:00:00")


@pytest.mark.parametrize(
    "day_of_week",
    [
        pytest.param("0", id="zero"),
        pytest.param("7", id="seven"),
        pytest.param("1-5", id="range"),
        pytest.param("*/2", id="step"),
        pytest.param("mon,3", id="list-with-number"),
    ],
)
def test_numeric_day_of_week_is_rejected(day_of_week: str) -> None:
    """Any digit in the day-of-week field is refused, with the Monday/Sunday explanation."""
    with pytest.raises(ValueError, match=NUMERIC_DAY_OF_WEEK):
        parse_cron(f"30 2 * * {day_of_week}", "UTC")


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        pytest.param("30 2 * *", "exactly 5 fields", id="four-fields"),
        pytest.param("0 30 2 * * sun", "got 6", id="six-fields-with-seconds"),
        pytest.param("@daily", "got 1", id="macro"),
        pytest.param("60 2 * * *", "higher than the maximum value (59)", id="minute-range"),
        pytest.param("30 24 * * *", "higher than the maximum value (23)", id="hour-range"),
        pytest.param(
            "30 2 * * sunday",
            "'sunday' is not a number, range, step or 3-letter name",
            id="long-day-name",
        ),
        pytest.param("30 2 * * sux", 'Invalid weekday name "sux"', id="unknown-day-name"),
        pytest.param("30 2 * * sun?", "'sun?' is not a number", id="junk-after-name"),
        pytest.param("30 2 * jan/2 *", "'jan/2' is not a number", id="name-with-step"),
        pytest.param("30 2 L * *", "'L' is not a number", id="day-L"),
    ],
)
def test_invalid_cron_expressions_are_explained(expression: str, fragment: str) -> None:
    """Wrong field counts, out-of-range values and unknown tokens say what is wrong."""
    with pytest.raises(ValueError, match=re.escape(fragment)):
        parse_cron(expression, "UTC")


def test_parse_cron_keeps_timezone_and_jitter() -> None:
    """The trigger carries the zone and jitter it was built with."""
    trigger = parse_cron("30 2 * * sun", "Europe/Berlin", jitter_seconds=900)
    assert isinstance(trigger, CronTrigger)
    assert trigger.timezone == BERLIN
    assert trigger.jitter == 900


def test_build_trigger_for_cron_plan() -> None:
    """A cron plan becomes a CronTrigger in the plan's zone, with the plan's jitter."""
    trigger = build_trigger(cron_plan("30 2 * * sun", "Europe/Berlin", jitter=600))
    assert isinstance(trigger, CronTrigger)
    assert (trigger.timezone, trigger.jitter) == (BERLIN, 600)


def test_build_trigger_for_interval_plan() -> None:
    """An interval plan becomes an IntervalTrigger whose first fire is start + interval."""
    start = at("2026-11-25T06:00:00")
    trigger = build_trigger(UndercloudPlan(interval_seconds=120), start=start)
    assert isinstance(trigger, IntervalTrigger)
    assert trigger.interval == timedelta(seconds=120)
    assert trigger.get_next_fire_time(None, start) == start + timedelta(seconds=120)


def test_jitter_is_not_applied_to_next_run() -> None:
    """next_run reports the nominal slot; jitter only delays the scheduler's actual start."""
    plan = cron_plan("30 2 * * *", jitter=3600)
    assert next_run(plan, at("2026-11-25T00:00:00")) == at("2026-11-25T02:30:00")


def test_next_run_at_the_slot_itself_is_that_slot() -> None:
    """A `now` exactly on a slot returns that slot (at or after now)."""
    assert next_run(cron_plan("30 2 * * *"), at("2026-11-25T02:30:00")) == at("2026-11-25T02:30:00")


def test_next_run_in_other_zone_for_utc_now() -> None:
    """A Europe/Berlin 02:30 schedule is 01:30 UTC in winter, whatever zone `now` is given in."""
    fire = next_run(cron_plan("30 2 * * *", "Europe/Berlin"), at("2026-11-25T06:00:00"))
    assert fire is not None
    assert fire.astimezone(timezone.utc) == at("2026-11-26T01:30:00")


def test_dst_spring_forward_runs_at_the_shifted_wall_time() -> None:
    """On the spring-forward day a 02:30 Berlin slot (which does not exist) runs at 03:30 CEST."""
    fire = next_run(cron_plan("30 2 * * *", "Europe/Berlin"), at("2026-03-29T00:00:00", BERLIN))
    assert fire is not None
    assert fire.astimezone(timezone.utc) == at("2026-03-29T01:30:00")
    assert (fire.hour, fire.minute, fire.utcoffset()) == (3, 30, timedelta(hours=2))


def test_dst_fall_back_runs_twice() -> None:
    """On the fall-back day a 02:30 Berlin slot fires twice: 02:30 CEST, then 02:30 CET.

    This is why the example policy schedules in UTC.
    """
    plan = cron_plan("30 2 * * *", "Europe/Berlin")
    first = next_run(plan, at("2026-10-25T00:00:00", BERLIN))
    assert first is not None and first.astimezone(timezone.utc) == at("2026-10-25T00:30:00")
    second = next_run(plan, first + timedelta(seconds=1))
    assert second is not None and second.astimezone(timezone.utc) == at("2026-10-25T01:30:00")


def test_utc_schedule_is_unaffected_by_dst() -> None:
    """A UTC schedule keeps a 24 h gap across the European DST change."""
    plan = cron_plan("30 2 * * *")
    assert expected_interval_seconds(plan, at("2026-03-28T12:00:00")) == 86400


def test_expected_interval_for_daily_schedule() -> None:
    """A daily schedule's expected interval is 86400 seconds."""
    assert expected_interval_seconds(cron_plan("30 1 * * *"), at("2026-11-25T06:00:00")) == 86400


def test_expected_interval_for_weekly_schedule() -> None:
    """A weekly schedule's expected interval is one week."""
    assert expected_interval_seconds(cron_plan("30 2 * * sun"), at("2026-11-25T06:00")) == 604800


def test_expected_interval_shrinks_on_spring_forward_in_local_zone() -> None:
    """A local-zone daily schedule is 23 h apart across spring-forward (staleness uses this)."""
    plan = cron_plan("30 4 * * *", "Europe/Berlin")
    assert expected_interval_seconds(plan, at("2026-03-28T00:00:00")) == 23 * 3600


def test_expected_interval_for_interval_plan() -> None:
    """An interval plan's expected interval is its interval_seconds."""
    plan = UndercloudPlan(interval_seconds=300)
    assert expected_interval_seconds(plan, at("2026-11-25T06:00:00")) == 300.0


def test_schedule_that_never_fires() -> None:
    """February 30th never comes: no next run, and an infinite expected interval.

    The policy refuses such a schedule at load (test below); a plan built in code still gets a
    truthful answer.
    """
    plan = ControlplanePlan.model_construct(schedule="0 0 30 2 *")
    assert next_run(plan, at("2026-11-25T06:00:00")) is None
    assert expected_interval_seconds(plan, at("2026-11-25T06:00:00")) == float("inf")


@pytest.mark.parametrize("schedule", ["30 1 31 2 *", "0 0 30 feb *", "30 1 31 4,6,9,11 *"])
def test_policy_refuses_a_schedule_that_never_fires(schedule: str) -> None:
    """A day that no listed month has is refused when the plan is validated, naming the cause."""
    with pytest.raises(ValidationError, match="never fires"):
        cron_plan(schedule)


def test_interval_next_run_is_now_plus_interval() -> None:
    """An interval plan next runs one interval after `now`."""
    plan = UndercloudPlan(interval_seconds=600)
    assert next_run(plan, at("2026-11-25T06:00:00")) == at("2026-11-25T06:10:00")


def test_previous_slot_after_downtime_is_the_latest_missed_slot_only() -> None:
    """Down for five days: catch-up considers only the most recent missed slot."""
    plan = cron_plan("30 1 * * *")
    slot = previous_slot(plan, at("2026-11-20T01:30:00"), at("2026-11-25T06:00:00"))
    assert slot == at("2026-11-25T01:30:00")


def test_previous_slot_none_when_nothing_was_missed() -> None:
    """The last attempt was at the latest slot: nothing to catch up."""
    plan = cron_plan("30 1 * * *")
    assert previous_slot(plan, at("2026-11-25T01:30:00"), at("2026-11-25T06:00:00")) is None


def test_previous_slot_interval_bounds() -> None:
    """The window is (last_attempt, now]: a slot exactly at now counts, one at last_attempt not."""
    plan = cron_plan("30 1 * * *")
    slot = at("2026-11-25T01:30:00")
    assert previous_slot(plan, slot - timedelta(seconds=1), slot) == slot
    assert previous_slot(plan, slot, slot) is None
    assert previous_slot(plan, slot, slot - timedelta(hours=1)) is None


def test_previous_slot_weekly_after_long_downtime() -> None:
    """A weekly plan missed over a month catches up the last Sunday, not the first."""
    plan = cron_plan("30 2 * * sun")
    slot = previous_slot(plan, at("2026-10-01T00:00:00"), at("2026-11-25T06:00:00"))
    assert slot == at("2026-11-22T02:30:00")


def test_previous_slot_is_fast_for_dense_schedules() -> None:
    """An every-minute schedule missed for a year still answers quickly."""
    plan = cron_plan("* * * * *")
    started = time.monotonic()
    slot = previous_slot(plan, at("2025-11-25T06:00:30"), at("2026-11-25T06:00:30"))
    assert slot == at("2026-11-25T06:00:00")
    assert time.monotonic() - started < 1.0


def test_previous_slot_for_interval_plan_counts_from_last_attempt() -> None:
    """Interval slots are last_attempt + k * interval; the latest one not after now is kept."""
    plan = UndercloudPlan(interval_seconds=600)
    last = at("2026-11-25T06:00:00")
    assert previous_slot(plan, last, at("2026-11-25T06:35:00")) == at("2026-11-25T06:30:00")
    assert previous_slot(plan, last, at("2026-11-25T06:09:59")) is None


def test_naive_datetimes_are_refused() -> None:
    """Schedule arithmetic needs aware datetimes; a naive one is a programming error."""
    with pytest.raises(ValueError, match="naive datetime"):
        next_run(cron_plan("30 1 * * *"), datetime(2026, 11, 25, 6, 0))  # noqa: DTZ001
