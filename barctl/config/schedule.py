"""Cron parsing and fire-time arithmetic for backup plans; pure (no clock, no I/O).

Day-of-week must be given by name: APScheduler 3 numbers weekdays 0=Monday while cron uses
0=Sunday (ecosystem.md §1.3), so any digit in the day-of-week field is refused. APScheduler also
silently ignores trailing text after a month or weekday name (`sun#1` runs every Sunday,
`mon-fri/2` drops the step), so every field is checked against a strict token grammar first.

Fire times computed here are the nominal slots, without jitter; the trigger built for the
scheduler carries the plan's jitter. `enabled` is not looked at: whether a disabled plan is
scheduled is the daemon's decision.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
NUMERIC_DAY_OF_WEEK = (
    "use day names mon..sun: APScheduler 3 counts 0 as Monday, cron counts 0 as Sunday"
)
_NUMERIC_TOKEN = re.compile(r"(\*|\d+(-\d+)?)(/\d+)?")
_NAME_TOKEN = re.compile(r"[a-z]{3}(-[a-z]{3})?", re.IGNORECASE)
_ONE_MICROSECOND = timedelta(microseconds=1)
_GAP_SLOTS = 2000


class ScheduledPlan(Protocol):
    """What schedule arithmetic needs from a plan (barctl.config.policy plans satisfy it)."""

    @property
    def schedule(self) -> str | None: ...
    @property
    def interval_seconds(self) -> int | None: ...
    @property
    def timezone(self) -> str: ...
    @property
    def jitter_seconds(self) -> int: ...


def parse_cron(expression: str, timezone: str, jitter_seconds: int = 0) -> CronTrigger:
    """Parse a 5-field cron expression into a CronTrigger; ValueError says what is wrong."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron expression needs exactly 5 fields (minute hour day-of-month month "
            f"day-of-week), got {len(fields)}: {expression!r}"
        )
    if any(character.isdigit() for character in fields[4]):
        raise ValueError(f"day-of-week {fields[4]!r}: {NUMERIC_DAY_OF_WEEK}")
    for name, field in zip(FIELD_NAMES, fields):
        _check_field_tokens(name, field)
    try:
        trigger = CronTrigger.from_crontab(expression, timezone=ZoneInfo(timezone))
    except ValueError as error:
        raise ValueError(f"invalid cron expression {expression!r}: {error}") from None
    trigger.jitter = jitter_seconds or None
    return trigger


# A fixed start keeps the check pure; a cron expression has no year field, so a schedule that fires
# after this date fires every year or more often, and one that does not never fires at all.
_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def check_fires(trigger: CronTrigger, expression: str) -> CronTrigger:
    """Raise ValueError when `trigger` never fires (e.g. `30 1 31 2 *`: February has no 31st).

    Such a schedule used to load, show as "disabled", and cost every next_run ~0.5 s while
    APScheduler searched every year up to 9999 (issue 8 finding 5).
    """
    if trigger.get_next_fire_time(None, _EPOCH) is None:
        raise ValueError(
            f"cron expression {expression!r} never fires (no such day in those months);"
            " to stop a plan, set enabled: false"
        )
    return trigger


def _check_field_tokens(name: str, field: str) -> None:
    for token in field.split(","):
        if not (_NUMERIC_TOKEN.fullmatch(token) or _NAME_TOKEN.fullmatch(token)):
            raise ValueError(
                f"{name} field {field!r}: {token!r} is not a number, range, step or"
                " 3-letter name (jan..dec, mon..sun)"
            )


def build_trigger(plan: ScheduledPlan, start: datetime | None = None) -> BaseTrigger:
    """The scheduler trigger for `plan`: cron with timezone and jitter, or a fixed interval.

    `start` anchors an interval plan (its first fire is `start + interval`); it defaults to the
    wall clock at construction, like APScheduler's own default.
    """
    return _trigger(plan, plan.jitter_seconds, start)


def _trigger(plan: ScheduledPlan, jitter: int, start: datetime | None) -> BaseTrigger:
    if plan.schedule is not None:
        return parse_cron(plan.schedule, plan.timezone, jitter)
    if plan.interval_seconds is None:
        raise ValueError("plan has neither schedule nor interval_seconds")
    first = None if start is None else start + timedelta(seconds=plan.interval_seconds)
    return IntervalTrigger(
        seconds=plan.interval_seconds,
        start_date=first,
        timezone=ZoneInfo(plan.timezone),
        jitter=jitter or None,
    )


def next_run(plan: ScheduledPlan, now: datetime) -> datetime | None:
    """The first nominal fire time at or after `now` (interval plans: `now + interval`).

    None when the schedule never fires again (e.g. `0 0 30 2 *`).
    """
    now = _utc(now)
    if plan.schedule is None:
        return _interval_next(plan, now)
    return _fire_after(_trigger(plan, 0, None), now - _ONE_MICROSECOND)


def expected_interval_seconds(plan: ScheduledPlan, now: datetime) -> float:
    """Seconds between the next two nominal fire times after `now` (staleness alert basis).

    A schedule that fires at most once more gives infinity.
    """
    now = _utc(now)
    if plan.interval_seconds is not None:
        return float(plan.interval_seconds)
    first = next_run(plan, now)
    second = None if first is None else _fire_after(_trigger(plan, 0, None), first)
    if first is None or second is None:
        return float("inf")
    return (_utc(second) - _utc(first)).total_seconds()


def longest_gap_seconds(plan: ScheduledPlan, start: datetime) -> float:
    """The longest time between two consecutive nominal slots in the year after `start`.

    A year covers every weekday pattern and both daylight-saving changes of the plan's zone;
    at most _GAP_SLOTS slots are walked (an every-5-minutes plan stops after about a week).
    Interval plans: their interval. Fewer than two slots ahead: infinity.
    """
    if plan.interval_seconds is not None:
        return float(plan.interval_seconds)
    trigger = _trigger(plan, 0, None)
    until = _utc(start) + timedelta(days=366)
    fire, longest, count = _fire_after(trigger, _utc(start)), float("-inf"), 0
    while fire is not None and count < _GAP_SLOTS:
        following = _fire_after(trigger, fire)
        if following is None or (fire > until and longest > 0):
            break
        longest = max(longest, (_utc(following) - _utc(fire)).total_seconds())
        fire, count = following, count + 1
    return longest if longest > 0 else float("inf")


def previous_slot(plan: ScheduledPlan, last_attempt: datetime, now: datetime) -> datetime | None:
    """The latest nominal fire time in (last_attempt, now], or None when none was missed.

    Used for catch-up after downtime: however many slots were missed, only the latest counts.
    Interval plans count slots from `last_attempt`: last_attempt + k * interval.
    """
    last_attempt, now = _utc(last_attempt), _utc(now)
    if now <= last_attempt:
        return None
    if plan.schedule is None:
        return _interval_previous(plan, last_attempt, now)
    trigger = _trigger(plan, 0, None)
    span = timedelta(minutes=1)
    while True:
        start = max(last_attempt, now - span)
        slot = _latest_fire(trigger, start, now)
        if slot is not None or start == last_attempt:
            return slot
        span *= 2


def _latest_fire(trigger: BaseTrigger, after: datetime, until: datetime) -> datetime | None:
    latest = None
    fire = _fire_after(trigger, after)
    while fire is not None and fire <= until:
        latest = fire
        fire = _fire_after(trigger, fire)
    return latest


def _fire_after(trigger: BaseTrigger, moment: datetime) -> datetime | None:
    """The first fire time strictly after `moment`, as a real wall time in the trigger's zone.

    Arithmetic is done in UTC so that DST folds are kept; the round trip through UTC turns a
    fire time inside a spring-forward gap (02:30 that day) into the wall time it happens at.
    """
    fire = trigger.get_next_fire_time(None, _utc(moment) + _ONE_MICROSECOND)
    if fire is None:
        return None
    zone = fire.tzinfo
    return _utc(fire).astimezone(zone)


def _interval_next(plan: ScheduledPlan, now: datetime) -> datetime:
    assert plan.interval_seconds is not None
    return now + timedelta(seconds=plan.interval_seconds)


def _interval_previous(
    plan: ScheduledPlan, last_attempt: datetime, now: datetime
) -> datetime | None:
    assert plan.interval_seconds is not None
    elapsed = (now - last_attempt).total_seconds()
    slots = int(elapsed // plan.interval_seconds)
    if slots == 0:
        return None
    return last_attempt + timedelta(seconds=slots * plan.interval_seconds)


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC, so that arithmetic is on elapsed time, not wall-clock time."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: pass an aware datetime")
    return moment.astimezone(timezone.utc)
