"""Pure scheduling decisions of the daemon: catch-up after downtime, reload reconciliation.

Catch-up is decided from barctl's own history (the latest attempt of each plan), never from a
persistent APScheduler job store (ecosystem.md §1.4): the YAML policy is the source of truth.

- The latest nominal slot in (last attempt, now] is the one that counts: several missed slots
  give ONE catch-up run (`schedule.previous_slot`).
- Inside `catch_up_window_seconds` of now: run once, trigger `catch-up`. Outside: record a miss.
- A plan that never ran gets no catch-up: history cannot tell a slot missed during downtime
  from the moment barctl was installed, and a surprise control-plane backup right after
  installation (or after a plan is first enabled) is worse than waiting for its first slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from barctl.config.policy import DRILL_PLAN, Policy, ScheduleSection
from barctl.config.schedule import previous_slot
from barctl.text_enum import StrEnum

JOB_PREFIX = "backup:"


class Verdict(StrEnum):
    """What to do about a plan's past at start-up."""

    NOTHING = "nothing"  # no slot missed, or the plan never ran
    CATCH_UP = "catch-up"  # run once now
    MISS = "miss"  # the missed slot is too old: record it as missed


@dataclass(frozen=True)
class CatchUp:
    """The start-up decision for one plan, with the slot it is about."""

    verdict: Verdict
    slot: datetime | None = None


def decide(
    plan: ScheduleSection, last_attempt: datetime | None, now: datetime, window_seconds: int
) -> CatchUp:
    """Catch up the latest missed slot if it is at most `window_seconds` old, else a miss."""
    if last_attempt is None:
        return CatchUp(Verdict.NOTHING)
    slot = previous_slot(plan, last_attempt, now)
    if slot is None:
        return CatchUp(Verdict.NOTHING)
    if (now - slot).total_seconds() <= window_seconds:
        return CatchUp(Verdict.CATCH_UP, slot)
    return CatchUp(Verdict.MISS, slot)


def job_id(plan: str) -> str:
    """The stable scheduler job id of a plan (never a uuid: ecosystem.md §1.2)."""
    return JOB_PREFIX + plan


def plan_of(job: str) -> str | None:
    """The plan a job id belongs to, or None for other jobs (the heartbeat)."""
    return job.removeprefix(JOB_PREFIX) if job.startswith(JOB_PREFIX) else None


def timing_key(plan: ScheduleSection, misfire_grace_seconds: int) -> tuple[object, ...]:
    """Everything that makes a job's timing; a job is rescheduled on reload when it changes.

    Not `str(trigger)`: it leaves out the time zone and the jitter.
    """
    return (
        plan.schedule,
        plan.interval_seconds,
        plan.timezone,
        plan.jitter_seconds,
        misfire_grace_seconds,
    )


def enabled_plans(policy: Policy) -> dict[str, ScheduleSection]:
    """The plans the daemon schedules (disabled plans get no job), the restore drill included
    when it is enabled (it is not by default)."""
    plans: dict[str, ScheduleSection] = {
        name: plan for name, plan in policy.plans.items() if plan.enabled
    }
    if policy.plans.drill.enabled:
        plans[DRILL_PLAN] = policy.plans.drill
    return plans


@dataclass(frozen=True)
class Changes:
    """What a reload does to the jobs: each list holds plan names."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    rescheduled: tuple[str, ...]
    unchanged: tuple[str, ...]


def reconcile(
    current: Mapping[str, tuple[object, ...]], wanted: Mapping[str, tuple[object, ...]]
) -> Changes:
    """Compare the timing keys of scheduled plans with those of the new policy."""
    return Changes(
        added=tuple(name for name in wanted if name not in current),
        removed=tuple(name for name in current if name not in wanted),
        rescheduled=tuple(
            name for name in wanted if name in current and current[name] != wanted[name]
        ),
        unchanged=tuple(
            name for name in wanted if name in current and current[name] == wanted[name]
        ),
    )


def status_line(
    next_runs: Mapping[str, datetime | None],
    running: Mapping[str, datetime],
    note: str = "",
) -> str:
    """The STATUS= text: what runs since when, else each plan's next run."""
    parts = [f"running {name} since {_short(since)}" for name, since in sorted(running.items())]
    for name, when in next_runs.items():
        if name not in running:
            parts.append(f"{name} next {_short(when) if when else 'never'}")
    if not next_runs and not running:
        parts.append("no enabled plan")
    if note:
        parts.append(note)
    return "; ".join(parts)


def _short(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
