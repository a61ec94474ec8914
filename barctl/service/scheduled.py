"""What the daemon's scheduler threads do: run a plan, beat the heartbeat, record misses.

Job functions are module-level and take only primitive arguments (the plan name), so a job
never captures a policy: each run reads the policy current when it STARTS and keeps it to the
end, whatever a reload does meanwhile. They find the daemon's `Runtime` through `install()`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

from barctl.config.inventory import Inventory
from barctl.config.policy import DRILL_PLAN, Policy
from barctl.config.site import Site
from barctl.errors import BarctlError
from barctl.history.store import open_history
from barctl.outcome import RunOutcome, Trigger
from barctl.run import backup, drill, prune, target_listing
from barctl.service.catchup import plan_of
from barctl.service.history_retention import prune_history

log = structlog.get_logger("barctl.daemon")


@dataclass
class DaemonStatus:
    """What the daemon is doing; read by the STATUS= line and by the metrics source.

    `reload_success` is False after a SIGHUP whose policy was invalid (the previous policy is
    still in force) and True again after the next good reload.
    """

    reload_success: bool = True
    running: dict[str, datetime] = field(default_factory=dict)
    next_runs: dict[str, datetime | None] = field(default_factory=dict)
    last_heartbeat: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def started(self, plan: str, now: datetime) -> None:
        """A run of `plan` began at `now`."""
        with self.lock:
            self.running[plan] = now

    def finished(self, plan: str) -> None:
        """The run of `plan` ended (whatever its outcome)."""
        with self.lock:
            self.running.pop(plan, None)

    def snapshot(self) -> tuple[dict[str, datetime | None], dict[str, datetime]]:
        """Next runs and running plans, copied under the lock."""
        with self.lock:
            return dict(self.next_runs), dict(self.running)


class Runtime:
    """The daemon state the scheduler threads share: current policy, abort event, catch-ups."""

    def __init__(self, policy: Policy, inventory: Inventory, site: Site) -> None:
        self.abort = threading.Event()
        self.status = DaemonStatus()
        self._current = (policy, inventory)
        self._site = site
        self._catch_ups: set[str] = set()
        self._lock = threading.Lock()

    @property
    def current(self) -> tuple[Policy, Inventory]:
        """The policy and inventory new runs start with."""
        with self._lock:
            return self._current

    @property
    def site(self) -> Site:
        """The paths and environment of the current policy."""
        with self._lock:
            return self._site

    def replace(self, policy: Policy, inventory: Inventory, site: Site) -> None:
        """Switch new runs to a reloaded policy; running backups keep theirs."""
        with self._lock:
            self._current = (policy, inventory)
            self._site = site

    def add_catch_up(self, plan: str) -> None:
        """The next run of `plan` is a catch-up run."""
        with self._lock:
            self._catch_ups.add(plan)

    def take_catch_up(self, plan: str) -> bool:
        """Whether the run starting now is the pending catch-up of `plan` (consumes it)."""
        with self._lock:
            pending = plan in self._catch_ups
            self._catch_ups.discard(plan)
            return pending

    def catch_up_pending(self, plan: str) -> bool:
        """Whether a catch-up of `plan` is still waiting to run."""
        with self._lock:
            return plan in self._catch_ups

    def run(self, plan: str) -> None:
        """One scheduled (or catch-up) run of `plan`; never raises into the scheduler."""
        if self.abort.is_set():
            log.info("Run not started: stopping", plan=plan)
            return
        policy, inventory = self.current
        site = self.site
        trigger = Trigger.CATCH_UP if self.take_catch_up(plan) else Trigger.SCHEDULED
        started = backup.utc_now()
        self.status.started(plan, started)
        log.info("Job started", plan=plan, trigger=trigger.value)
        request = backup.Request(
            policy, inventory, plan, trigger=trigger, site=site, abort=self.abort
        )
        try:
            result = drill.run_plan(request)
        except backup.LockBusyError as error:
            log.warning("Run skipped: the plan is busy", plan=plan, error=str(error))
            self.record_miss(plan, started, "another run holds the plan")
            return
        except Exception as error:
            recorded = _record_crash(request, error)
            if recorded is None:
                return
            result = recorded
        finally:
            self.status.finished(plan)
        log.info(
            "Job ended",
            plan=plan,
            trigger=trigger.value,
            run_id=result.run_id,
            outcome=result.outcome.value,
        )
        # The drill only reads the target: nothing new to prune after it.
        backed_up = plan != DRILL_PLAN and result.outcome is not RunOutcome.REFUSED
        if backed_up and not self.abort.is_set():
            prune_after_run(policy, inventory, site, plan)
        prune_history(site, policy.history.keep_days, backup.utc_now())

    def record_miss(self, plan: str, slot: datetime, reason: str) -> None:
        """Record a missed slot of `plan` in history (idempotent per slot) and log it."""
        log.warning("Missed a scheduled run", plan=plan, slot=slot.isoformat(), reason=reason)
        try:
            with open_history(self.site) as store:
                store.record_miss(plan, slot, backup.utc_now())
        except Exception:
            log.exception("Could not record a missed run", plan=plan)

    def on_event(self, event: Any) -> None:
        """Scheduler listener: every missed fire and every max-instances skip is a miss."""
        plan = plan_of(event.job_id)
        if plan is None:
            return
        if event.code == EVENT_JOB_MISSED:
            self.record_miss(plan, event.scheduled_run_time, "misfire grace time exceeded")
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            for slot in event.scheduled_run_times:
                self.record_miss(plan, slot, "the previous run is still going")


def prune_after_run(policy: Policy, inventory: Inventory, site: Site, plan: str) -> None:
    """Retention after a run that reached its nodes (issue 11): the rule itself waits for each
    node's next verified run, so a failed node loses nothing. Never raises into the scheduler;
    a refused run is not followed by a prune (the target may be what the gate refused)."""
    try:
        result = prune.perform(policy, inventory, site, plan)
    except backup.LockBusyError as error:
        log.warning("Prune skipped: the plan is busy", plan=plan, error=str(error))
        return
    except target_listing.TargetUnreadable as error:
        log.warning("Prune skipped: the target cannot be listed", plan=plan, error=str(error))
        return
    except (BarctlError, OSError) as error:
        # A credential file gone, the runtime directory refusing a lock: the run said so too.
        log.warning("Prune skipped", plan=plan, error=backup.describe(error))
        return
    except Exception:
        log.exception("Prune crashed", plan=plan)
        return
    deleted = sum(1 for verdict in result.verdicts if verdict.delete) - len(result.failures)
    log.info("Prune ended", plan=plan, deleted=deleted, failed=len(result.failures))


def _record_crash(request: backup.Request, error: Exception) -> backup.Result | None:
    """A failed history row for a run that escaped `perform`; None when nothing could record it.

    `perform` records every run that cannot start, so this is the last line: without a row,
    no failed counter moves and BarctlBackupFailed never fires (issue 8 finding 5).
    """
    try:
        result = backup.record_unstarted(request, error)
    except Exception:
        log.exception("Run crashed and could not be recorded", plan=request.plan)
        return None
    log.error(
        "Run crashed", plan=request.plan, run_id=result.run_id, reason=result.summary, exc_info=True
    )
    return result


_installed: list[Runtime] = []


def install(runtime: Runtime) -> None:
    """Make `runtime` the one the job functions use (one daemon per process)."""
    _installed[:] = [runtime]


def _runtime() -> Runtime:
    if not _installed:
        raise RuntimeError("barctl.service.scheduled: no daemon runtime installed")
    return _installed[0]


def run_plan(plan: str) -> None:
    """Job function of `backup:<plan>`."""
    _runtime().run(plan)


def heartbeat() -> None:
    """Job function of `heartbeat`: proves the scheduler still dispatches jobs (watchdog)."""
    _runtime().status.last_heartbeat = time.monotonic()
