"""The scheduling daemon (`barctl daemon`), run by systemd as a Type=notify service.

Start-up order: policy and inventory validated (invalid: exit 2 with FILE:LINE:COL lines, from
cli.main), signal handlers, crash recovery (pending undos replayed, dead runs marked
interrupted), the metrics listener, the scheduler (catch-up decided from history), READY=1.

The main thread only handles signals (handlers set flags and one wake Event), sd_notify, the
watchdog and `scheduler.wakeup()`; backups run in the BackgroundScheduler's worker threads
(barctl.service.scheduled). SIGHUP reloads the policy, SIGTERM/SIGINT stop: running backups abort at
their next safe point and run their undos while EXTEND_TIMEOUT_USEC keeps systemd waiting.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
import time
from datetime import datetime, timezone
from types import FrameType
from typing import Any

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from barctl.config import schedule
from barctl.config.policy import Policy, ScheduleSection
from barctl.errors import BarctlError, InputError
from barctl.history.store import open_history
from barctl.observe import logs
from barctl.run import backup, preflight
from barctl.service import daemon_state, metrics_listener
from barctl.service.catchup import (
    Verdict,
    decide,
    enabled_plans,
    job_id,
    plan_of,
    reconcile,
    status_line,
    timing_key,
)
from barctl.service.history_retention import prune_history
from barctl.service.loading import Loaded, load
from barctl.service.notify import extend_timeout, monotonic_usec, notify, status, watchdog_interval
from barctl.service.scheduled import Runtime, heartbeat, install, run_plan

log = structlog.get_logger("barctl.daemon")

STATUS_REFRESH_SECONDS = 5.0
STOP_EXTEND_SECONDS = 60.0
RECOVERY_EXTEND_SECONDS = 900.0
HEARTBEAT_STALE_INTERVALS = 4


class Daemon:
    """One daemon process: its runtime, scheduler, metrics listener and signal flags."""

    def __init__(self, arguments: argparse.Namespace, loaded: Loaded) -> None:
        self.arguments = arguments
        self.runtime = Runtime(loaded.policy, loaded.inventory, loaded.site)
        self.wake = threading.Event()
        self.stop_requested = False
        self.reload_requested = False
        self.ping_every = watchdog_interval(loaded.site.environ, os.getpid())
        self.next_ping = time.monotonic()
        self.keys: dict[str, tuple[object, ...]] = {}
        self.last_status = ""
        self.started_at = backup.utc_now()
        self.policy_path = loaded.path
        # The next runs last written to the state file (None: write at the next update).
        self.written: dict[str, datetime | None] | None = None
        self.scheduler = BackgroundScheduler(
            timezone=timezone.utc, executors={"default": ThreadPoolExecutor(max_workers=4)}
        )
        install(self.runtime)

    # ---- signals ------------------------------------------------------------------------------

    def install_signals(self) -> None:
        """SIGTERM/SIGINT request a stop, SIGHUP a reload; the main loop does the work."""
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)

    def _on_stop(self, number: int, frame: FrameType | None) -> None:
        self.stop_requested = True
        self.wake.set()

    def _on_reload(self, number: int, frame: FrameType | None) -> None:
        self.reload_requested = True
        self.wake.set()

    # ---- start-up -----------------------------------------------------------------------------

    def serve(self) -> int:
        """Recover, listen, schedule, READY=1, then loop until SIGTERM/SIGINT; exit status."""
        self.install_signals()
        self.recover()
        policy, _ = self.runtime.current
        listener = metrics_listener.start(self.runtime)
        try:
            metrics_listener.wait_accepting(policy.metrics.listen)
            self.start_scheduler(policy)
            self.update_next_runs()
            notify("READY=1", status(self.status_text()))
            log.info("Daemon ready", jobs=self.job_ids(), status=self.status_text())
            self.loop()
            self.stop()
        finally:
            listener.close()
            with contextlib.suppress(OSError):
                daemon_state.remove(self.runtime.site.runtime_directory, os.getpid())
        log.info("Daemon stopped")
        return 0

    def recover(self) -> None:
        """Replay the undo journal and mark dead runs interrupted, before anything else."""
        policy, _ = self.runtime.current
        site = self.runtime.site
        site.state_directory.mkdir(parents=True, exist_ok=True)
        notify(extend_timeout(RECOVERY_EXTEND_SECONDS), status("replaying the undo journal"))
        with open_history(site) as store:
            pending = len(store.pending_undos())
            settings = preflight.ssh_settings(policy, site)
            failures = preflight.recover(store, settings, backup.utc_now)
        log.info("Crash recovery done", undos_replayed=pending, undo_failures=len(failures))
        prune_history(site, policy.history.keep_days, backup.utc_now())

    def start_scheduler(self, policy: Policy) -> None:
        """One job per enabled plan (plus the watchdog heartbeat), then start the thread."""
        self.scheduler.add_listener(
            self.runtime.on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
        )
        now = backup.utc_now()
        for name, plan in enabled_plans(policy).items():
            self.add_job(policy, name, plan, now)
        if self.ping_every is not None:
            self.scheduler.add_job(
                heartbeat,
                "interval",
                seconds=self.ping_every,
                id="heartbeat",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )
        self.scheduler.start()

    def add_job(self, policy: Policy, name: str, plan: ScheduleSection, now: datetime) -> None:
        """Schedule `name`; run it at once when history says a slot was missed recently."""
        grace = policy.daemon.misfire_grace_seconds
        options: dict[str, Any] = {}
        if self.catch_up(policy, name, plan, now):
            options["next_run_time"] = now
        self.scheduler.add_job(
            run_plan,
            schedule.build_trigger(plan, start=now),
            args=(name,),
            id=job_id(name),
            name=f"backup {name}",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=grace,
            **options,
        )
        self.keys[name] = timing_key(plan, grace)

    def catch_up(self, policy: Policy, name: str, plan: ScheduleSection, now: datetime) -> bool:
        """Decide from history whether `name` needs a catch-up run; record a too-old miss."""
        with open_history(self.runtime.site) as store:
            last_attempt = store.last_attempt_time(name)
        window = policy.daemon.catch_up_window_seconds
        decision = decide(plan, last_attempt, now, window)
        slot = decision.slot.isoformat() if decision.slot else None
        if decision.verdict is Verdict.CATCH_UP:
            log.info("Catch-up run scheduled", plan=name, slot=slot)
            self.runtime.add_catch_up(name)
            return True
        if decision.verdict is Verdict.MISS and decision.slot is not None:
            reason = f"outside the catch-up window ({window} s)"
            self.runtime.record_miss(name, decision.slot, reason)
        return False

    # ---- the main loop ------------------------------------------------------------------------

    def loop(self) -> None:
        """Wait for a signal or the next tick; reload on SIGHUP; return on SIGTERM/SIGINT."""
        while True:
            self.wake.wait(self.tick_timeout())
            self.wake.clear()
            if self.stop_requested:
                return
            if self.reload_requested:
                self.reload_requested = False
                self.reload()
            self.tick()

    def tick_timeout(self) -> float:
        """Seconds until the next watchdog ping is due (at most the status refresh period)."""
        if self.ping_every is None:
            return STATUS_REFRESH_SECONDS
        return max(0.0, min(STATUS_REFRESH_SECONDS, self.next_ping - time.monotonic()))

    def tick(self) -> None:
        """Ping the watchdog when due and healthy, wake the scheduler, refresh STATUS=."""
        now = time.monotonic()
        if self.ping_every is not None and now >= self.next_ping:
            self.next_ping = now + self.ping_every
            if self.scheduler_healthy():
                notify("WATCHDOG=1")
            else:
                log.error("Scheduler thread dead or wedged: not pinging the watchdog")
        self.scheduler.wakeup()
        self.update_next_runs()
        text = self.status_text()
        if text != self.last_status:
            notify(status(text))

    def scheduler_healthy(self) -> bool:
        """The scheduler runs, its thread is alive and the heartbeat job ran recently."""
        thread = getattr(self.scheduler, "_thread", None)
        if not self.scheduler.running or thread is None or not thread.is_alive():
            return False
        assert self.ping_every is not None
        age = time.monotonic() - self.runtime.status.last_heartbeat
        return age < HEARTBEAT_STALE_INTERVALS * self.ping_every + 1.0

    def job_ids(self) -> list[str]:
        """Ids of the scheduled jobs (logged at start and after each reload)."""
        return sorted(job.id for job in self.scheduler.get_jobs())

    def update_next_runs(self) -> None:
        """Copy each plan job's next fire time into the status object."""
        next_runs = {}
        for job in self.scheduler.get_jobs():
            plan = plan_of(job.id)
            if plan is not None:
                next_runs[plan] = getattr(job, "next_run_time", None)
        with self.runtime.status.lock:
            self.runtime.status.next_runs = next_runs
        if next_runs != self.written:
            self.write_state(next_runs)

    def write_state(self, next_runs: dict[str, datetime | None]) -> None:
        """The state file `barctl status` reads (daemon_state): at start, after a reload and
        whenever a next run changed; a failed write is logged, never stops the daemon."""
        text = daemon_state.render(
            os.getpid(), self.started_at, self.policy_path, next_runs, backup.utc_now()
        )
        directory = self.runtime.site.runtime_directory
        try:
            daemon_state.write(directory, text)
        except OSError as error:
            log.warning("State file not written", directory=str(directory), error=str(error))
        self.written = dict(next_runs)

    def status_text(self) -> str:
        """The STATUS= text: running plans, next runs, a failed reload."""
        next_runs, running = self.runtime.status.snapshot()
        note = "" if self.runtime.status.reload_success else "last reload FAILED (old policy)"
        self.last_status = status_line(next_runs, running, note)
        return self.last_status

    # ---- reload and stop ----------------------------------------------------------------------

    def reload(self) -> None:
        """SIGHUP: re-validate; keep the old policy when invalid, else reschedule what changed."""
        notify("RELOADING=1", monotonic_usec(), status("reloading the policy"))
        try:
            loaded = load(self.arguments.config, os.environ)
        except BarctlError as error:
            problems: list[object] = [*error.problems] if isinstance(error, InputError) else [error]
            for problem in problems:
                log.error("Reload refused, keeping the previous policy", problem=str(problem))
            self.runtime.status.reload_success = False
        else:
            self.apply(loaded)
            self.runtime.status.reload_success = True
            self.policy_path = loaded.path
            self.written = None
            log.info("Policy reloaded", path=str(loaded.path), jobs=self.job_ids())
        self.update_next_runs()
        notify("READY=1", status(self.status_text()))

    def apply(self, loaded: Loaded) -> None:
        """Add, remove and reschedule jobs so they match the policy; keep a pending catch-up."""
        old_policy, _ = self.runtime.current
        policy = loaded.policy
        if policy.metrics.listen != old_policy.metrics.listen:
            log.warning("metrics.listen changed: takes effect at the next restart")
        self.runtime.replace(policy, loaded.inventory, loaded.site)
        now = backup.utc_now()
        grace = policy.daemon.misfire_grace_seconds
        plans = enabled_plans(policy)
        changes = reconcile(self.keys, {name: timing_key(p, grace) for name, p in plans.items()})
        for name in changes.removed:
            self.scheduler.remove_job(job_id(name))
            del self.keys[name]
        for name in changes.rescheduled:
            self.reschedule(name, plans[name], grace, now)
        for name in changes.added:
            self.add_job(policy, name, plans[name], now)
        log.info(
            "Jobs reconciled",
            added=changes.added,
            removed=changes.removed,
            rescheduled=changes.rescheduled,
            unchanged=changes.unchanged,
        )

    def reschedule(self, name: str, plan: ScheduleSection, grace: int, now: datetime) -> None:
        """New trigger and misfire grace for `name`; a pending catch-up still runs at once."""
        identifier = job_id(name)
        self.scheduler.reschedule_job(identifier, trigger=schedule.build_trigger(plan, start=now))
        self.scheduler.modify_job(identifier, misfire_grace_time=grace)
        if self.runtime.catch_up_pending(name):
            self.scheduler.modify_job(identifier, next_run_time=now)
        self.keys[name] = timing_key(plan, grace)
        job = self.scheduler.get_job(identifier)
        next_run = getattr(job, "next_run_time", None)
        log.info("Job rescheduled", plan=name, next_run=next_run.isoformat() if next_run else None)

    def stop(self) -> None:
        """SIGTERM/SIGINT: no new runs; running backups abort and undo; wait for them."""
        _, running = self.runtime.status.snapshot()
        notify("STOPPING=1", status(f"stopping; aborting {', '.join(running) or 'nothing'}"))
        log.info("Stopping", running=sorted(running))
        self.runtime.abort.set()
        self.scheduler.pause()
        stopper = threading.Thread(
            target=self.scheduler.shutdown, kwargs={"wait": True}, name="barctl-stop"
        )
        stopper.start()
        wait = min(STATUS_REFRESH_SECONDS, self.ping_every or STATUS_REFRESH_SECONDS)
        while stopper.is_alive():
            _, running = self.runtime.status.snapshot()
            undoing = ", ".join(sorted(running)) or "nothing"
            fields = [extend_timeout(STOP_EXTEND_SECONDS), status(f"stopping; undoing {undoing}")]
            if self.ping_every is not None:
                fields.append("WATCHDOG=1")
            notify(*fields)
            stopper.join(wait)


def main(arguments: argparse.Namespace) -> int:
    """`barctl daemon`: an invalid policy raises InputError (cli.main exits 2, no retry)."""
    loaded = load(arguments.config, os.environ)
    logs.configure(loaded.site.log_format, logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        return Daemon(arguments, loaded).serve()
    except OSError as error:
        log.error("Daemon failed", error=str(error))
        return 1
