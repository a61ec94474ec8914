"""The daemon against the lab: scheduled runs, catch-up after downtime, reload, stop, crash.

Every test starts real `barctl daemon` processes (killed by PID at the end) with their own
history database; plans use `interval_seconds` so that slots come within seconds.
"""

from __future__ import annotations

import re
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from barctl.history.records import RunRecord, new_run_id
from barctl.history.store import Store, history_path
from barctl.outcome import RunOutcome, Trigger
from barctl.run.backup import utc_now
from lab import Lab
from tests.daemon.helpers import DaemonRunner, free_port, parse_time, wait_until, write_yaml
from tests.engine.helpers import set_up

pytestmark = pytest.mark.lab

HOUR = 3600


def lab_policy(lab: Lab, directory: Path, **plans: dict[str, Any]) -> tuple[Path, Path]:
    """A policy for the lab with private state and a free metrics port; (path, state dir)."""
    state = directory / "state"
    defaults: dict[str, dict[str, Any]] = {
        "undercloud": {"schedule": None, "interval_seconds": HOUR},
        "controlplane": {"schedule": None, "interval_seconds": HOUR},
    }
    document = lab.policy(
        plans={name: defaults[name] | plans.get(name, {}) for name in defaults},
        state_directory=str(state),
        runtime_directory=str(directory / "run"),
        metrics={"listen": f"127.0.0.1:{free_port()}"},
        log={"format": "json"},
    )
    path = write_yaml(directory / "policy.yaml", document)
    set_up(path)  # runs find barctl's local.conf (issue 10)
    return path, state


def history(state: Path, plan: str) -> list[RunRecord]:
    """Runs of `plan`, oldest first."""
    with Store.open(history_path(state)) as store:
        return list(reversed(store.history(plan, limit=100)))


def seed_attempt(state: Path, plan: str, seconds_ago: float) -> None:
    """Pretend an earlier daemon ran `plan` successfully `seconds_ago` seconds ago."""
    state.mkdir(parents=True, exist_ok=True)
    started = utc_now() - timedelta(seconds=seconds_ago)
    with Store.open(history_path(state)) as store:
        run_id = new_run_id(plan, started, "5eed")
        store.start_run(run_id, plan, Trigger.SCHEDULED, started, 1)
        store.finish_run(run_id, RunOutcome.SUCCESS, started + timedelta(seconds=1), "seeded")


def plan_jobs(record: dict[str, Any]) -> list[str]:
    """The backup job ids of a "Daemon ready" log record."""
    return [job for job in record["jobs"] if job.startswith("backup:")]


def test_scheduled_runs_fire_at_the_configured_interval(
    lab: Lab, tmp_path: Path, daemons: DaemonRunner
) -> None:
    """An interval plan runs every interval from start, trigger `scheduled`, against the lab."""
    # 5 s: one undercloud run (gate with its local.conf and export checks, dump, ReaR, verify)
    # takes about 3 s on a loaded machine, and a run still going skips the next slot.
    policy, state = lab_policy(lab, tmp_path, undercloud={"interval_seconds": 5})
    daemon, notify = daemons.start(policy)
    ready = notify.wait("READY", "1", timeout=30)
    daemon.wait_event("Job ended", count=2, timeout=40)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(30) == 0
    runs = history(state, "undercloud")
    assert len(runs) >= 2
    assert {run.trigger for run in runs} == {Trigger.SCHEDULED}
    assert runs[0].outcome == RunOutcome.SUCCESS, runs[0].summary
    first_delay = runs[0].started_at.timestamp() - ready.wall
    assert 4.0 <= first_delay <= 7.0, first_delay
    gap = (runs[1].started_at - runs[0].started_at).total_seconds()
    assert 4.5 <= gap <= 6.5, gap
    assert history(state, "controlplane") == []
    assert lab.is_cluster_healthy()


def test_slot_missed_while_stopped_gives_one_catch_up_run(
    lab: Lab, tmp_path: Path, daemons: DaemonRunner
) -> None:
    """Two slots pass while the daemon is down: the restart runs the plan once, `catch-up`."""
    interval = 3
    policy, state = lab_policy(lab, tmp_path, undercloud={"interval_seconds": interval})
    first, _ = daemons.start(policy)
    first.wait_event("Job ended", timeout=30)
    first.signal(signal.SIGTERM)
    assert first.wait_exit(30) == 0
    last = history(state, "undercloud")[-1].started_at
    wait_until(
        lambda: (utc_now() - last).total_seconds() > 2 * interval + 0.5,
        3 * interval + 5,
        "two missed slots",
    )

    second, notify = daemons.start(policy)
    ready = notify.wait("READY", "1", timeout=30)
    assert second.wait_event("Catch-up run scheduled")["plan"] == "undercloud"
    finished = second.wait_event("Job ended", timeout=30)
    assert finished["trigger"] == "catch-up"
    second.signal(signal.SIGTERM)
    assert second.wait_exit(30) == 0
    catch_ups = [run for run in history(state, "undercloud") if run.trigger == Trigger.CATCH_UP]
    assert len(catch_ups) == 1
    assert catch_ups[0].started_at.timestamp() - ready.wall < interval - 0.5


def test_slot_outside_the_catch_up_window_is_recorded_as_missed(
    lab: Lab, tmp_path: Path, daemons: DaemonRunner
) -> None:
    """A missed slot older than catch_up_window_seconds gives no run but one recorded miss."""
    policy, state = lab_policy(lab, tmp_path)
    document = policy.read_text().replace("log:", "daemon:\n  catch_up_window_seconds: 60\nlog:")
    policy.write_text(document)
    seed_attempt(state, "undercloud", HOUR + 100)
    daemon, notify = daemons.start(policy)
    notify.wait("READY", "1", timeout=30)
    missed = daemon.wait_event("Missed a scheduled run")
    assert missed["plan"] == "undercloud"
    slot = parse_time(missed["slot"])
    assert 90 <= (utc_now() - slot).total_seconds() <= 130
    time.sleep(1.0)  # a catch-up would start at once: give it the chance to show up
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(30) == 0
    assert [run.summary for run in history(state, "undercloud")] == ["seeded"]
    with Store.open(history_path(state)) as store:
        assert store.misses_total("undercloud") == 1
    assert daemon.events("Job started") == []


def test_three_restarts_never_duplicate_a_job(
    lab: Lab, tmp_path: Path, daemons: DaemonRunner
) -> None:
    """Four starts: one job per plan each time, one catch-up in total, no extra runs."""
    policy, state = lab_policy(lab, tmp_path)
    seed_attempt(state, "undercloud", HOUR + 100)
    for start in range(4):
        daemon, notify = daemons.start(policy)
        notify.wait("READY", "1", timeout=30)
        ready = daemon.wait_event("Daemon ready")
        assert plan_jobs(ready) == ["backup:controlplane", "backup:undercloud"]
        if start == 0:
            assert daemon.wait_event("Job ended", timeout=30)["trigger"] == "catch-up"
        daemon.signal(signal.SIGTERM)
        assert daemon.wait_exit(30) == 0
        assert len(daemon.events("Catch-up run scheduled")) == (1 if start == 0 else 0)
    triggers = [run.trigger for run in history(state, "undercloud")]
    assert triggers == [Trigger.SCHEDULED, Trigger.CATCH_UP]
    assert history(state, "controlplane") == []


def test_sighup_with_a_broken_policy_keeps_the_old_schedule(
    lab: Lab, tmp_path: Path, daemons: DaemonRunner
) -> None:
    """A broken policy on SIGHUP: each error logged with file:line, old schedule keeps firing."""
    policy, state = lab_policy(lab, tmp_path, undercloud={"interval_seconds": 3})
    good = policy.read_text()
    daemon, notify = daemons.start(policy)
    notify.wait("READY", "1", timeout=30)
    daemon.wait_event("Job ended", timeout=30)

    broken = good.replace("interval_seconds: 3\n", "interval_seconds: soon\n    colour: red\n", 1)
    assert broken != good
    policy.write_text(broken)
    daemon.signal(signal.SIGHUP)
    reloaded = notify.wait("READY", "1", count=2)
    assert "reload FAILED" in reloaded.fields["STATUS"]
    refused = daemon.wait_event("Reload refused, keeping the previous policy", count=2)
    problems = [r["problem"] for r in daemon.events("Reload refused, keeping the previous policy")]
    assert len(problems) == 2, problems
    located = re.compile(rf"{re.escape(str(policy))}:\d+:\d+: plans\.undercloud\.")
    assert all(located.match(problem) for problem in problems), problems
    reload_time = parse_time(refused["timestamp"])

    def run_after_reload() -> bool:
        return any(run.started_at > reload_time for run in history(state, "undercloud"))

    wait_until(run_after_reload, 10, "a scheduled run after the refused reload")
    policy.write_text(good)
    daemon.signal(signal.SIGHUP)
    assert "FAILED" not in notify.wait("READY", "1", count=3).fields["STATUS"]
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(30) == 0


def wait_for_rear(lab: Lab, host: str) -> float:
    """Wall time at which `rear mkbackup` started on `host`."""

    def started() -> float | None:
        for invocation in lab.invocations(host):
            if invocation.argv[:2] == ("rear", "-v"):
                return invocation.time
        return None

    value: float = wait_until(started, 60, f"rear mkbackup on {host}")
    return value


def test_sigterm_during_a_rolling_backup_runs_the_undos(
    lab: Lab, tmp_path: Path, daemons: DaemonRunner
) -> None:
    """SIGTERM mid-backup: STOPPING, undos run, cluster healthy, run `interrupted`, exit 0."""
    lab.inject("ctl-0", ["rear", "-v"], sleep=5)
    policy, state = lab_policy(lab, tmp_path, undercloud={"enabled": False})
    seed_attempt(state, "controlplane", HOUR + 10)  # catch-up: the backup starts at once
    daemon, notify = daemons.start(policy, watchdog_usec=2_000_000)
    notify.wait("READY", "1", timeout=30)
    wait_for_rear(lab, "ctl-0")
    assert not lab.is_cluster_healthy()  # ctl-0 is out of the cluster while rear runs
    wait_until(
        lambda: any(
            m.fields.get("STATUS", "").startswith("running controlplane since")
            for m in notify.snapshot()
        ),
        5,
        "STATUS= naming the running backup",
    )
    stopped_at = time.time()
    daemon.signal(signal.SIGTERM)
    notify.wait("STOPPING", "1")
    assert daemon.wait_exit(60) == 0
    assert lab.is_cluster_healthy(), lab.cluster_health()
    run = history(state, "controlplane")[-1]
    assert run.outcome == RunOutcome.INTERRUPTED, run.summary
    undone = [i.argv[:3] for i in lab.invocations("ctl-0") if i.time > stopped_at]
    assert ("pcs", "cluster", "start") in undone
    assert not any(i.argv[:2] == ("rear", "-v") for i in lab.invocations("ctl-1"))
    with Store.open(history_path(state)) as store:
        assert store.pending_undos() == []
    assert notify.with_field("EXTEND_TIMEOUT_USEC")


def test_sigkill_during_a_backup_is_recovered_before_ready(
    lab: Lab, tmp_path: Path, daemons: DaemonRunner
) -> None:
    """SIGKILL mid-backup, restart: the undo journal is replayed before READY=1."""
    lab.inject("ctl-0", ["rear", "-v"], sleep=5)
    policy, state = lab_policy(lab, tmp_path, undercloud={"enabled": False})
    seed_attempt(state, "controlplane", HOUR + 10)
    first, notify = daemons.start(policy)
    notify.wait("READY", "1", timeout=30)
    wait_for_rear(lab, "ctl-0")
    killed_at = time.time()
    first.kill()

    second, notify = daemons.start(policy)
    ready = notify.wait("READY", "1", timeout=60)
    replayed = [
        i.time
        for i in lab.invocations("ctl-0")
        if i.argv[:3] == ("pcs", "cluster", "start") and i.time > killed_at
    ]
    assert replayed, "pcs cluster start was not replayed"
    assert replayed[0] < ready.wall
    recovery = second.wait_event("Crash recovery done")
    assert recovery["undos_replayed"] >= 1 and recovery["undo_failures"] == 0
    wait_until(lab.is_cluster_healthy, 20, "a healthy cluster")
    run = history(state, "controlplane")[-1]
    assert run.outcome == RunOutcome.INTERRUPTED
    assert second.events("Job started") == []  # the last attempt is recent: no catch-up
    second.signal(signal.SIGTERM)
    assert second.wait_exit(30) == 0
