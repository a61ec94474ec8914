"""The daemon's systemd protocol with a real process: READY, WATCHDOG, RELOADING, STOPPING.

No lab needed: the plans' slots are hours away, so no backup starts during these tests.
"""

from __future__ import annotations

import re
import signal
import socket
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from tests.daemon.helpers import DaemonRunner, offline_policy, parse_time, write_yaml

NEXT_RUN = re.compile(r"(\w+) next ([^;\s]+)")


def next_runs(status: str) -> dict[str, datetime]:
    """Plan -> next run, from a STATUS= text."""
    return {plan: parse_time(when) for plan, when in NEXT_RUN.findall(status)}


def test_ready_watchdog_reload_and_stop_sequence(tmp_path: Path, daemons: DaemonRunner) -> None:
    """READY once metrics accept, WATCHDOG every ~0.5 s, RELOADING->READY on HUP, STOPPING, 0."""
    document = offline_policy(tmp_path)
    policy = write_yaml(tmp_path / "policy.yaml", document)
    host, port = document["metrics"]["listen"].split(":")
    daemon, notify = daemons.start(policy, watchdog_usec=1_000_000)

    ready = notify.wait("READY", "1", timeout=30)
    with socket.create_connection((host, int(port)), timeout=2):
        pass  # the metrics port accepted before READY was sent
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
        assert response.status == 200
    assert set(next_runs(ready.fields["STATUS"])) == {"undercloud", "controlplane"}

    window_start = time.monotonic()
    time.sleep(3.0)  # the behaviour under test is a rate: count pings over a fixed window
    pings = [m for m in notify.with_field("WATCHDOG", "1") if m.monotonic >= window_start]
    assert 4 <= len(pings) <= 8, [round(m.monotonic - window_start, 2) for m in pings]

    daemon.signal(signal.SIGHUP)
    reloading = notify.wait("RELOADING", "1")
    assert int(reloading.fields["MONOTONIC_USEC"]) > 0
    again = notify.wait("READY", "1", count=2)
    assert again.monotonic >= reloading.monotonic

    daemon.signal(signal.SIGTERM)
    stopping = notify.wait("STOPPING", "1")
    assert stopping.monotonic > again.monotonic
    assert daemon.wait_exit(20) == 0
    order = [key for m in notify.snapshot() for key in m.fields if key != "STATUS"]
    assert order.index("READY") < order.index("RELOADING") < order.index("STOPPING")


def test_no_watchdog_pings_for_another_pid(tmp_path: Path, daemons: DaemonRunner) -> None:
    """WATCHDOG_PID naming another process disables the pings (the variable is not ours)."""
    policy = write_yaml(tmp_path / "policy.yaml", offline_policy(tmp_path))
    daemon, notify = daemons.start(policy, watchdog_usec=200_000, WATCHDOG_PID="1")
    notify.wait("READY", "1", timeout=30)
    time.sleep(1.0)  # ~10 ping intervals
    assert notify.with_field("WATCHDOG") == []
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(20) == 0


def test_invalid_policy_exits_2_with_located_errors(tmp_path: Path, daemons: DaemonRunner) -> None:
    """An invalid policy: every FILE:LINE:COL error on stderr, exit 2, never READY."""
    document = offline_policy(tmp_path)
    document["plans"]["undercloud"]["interval_seconds"] = "often"
    document["metrics"]["colour"] = "blue"
    policy = write_yaml(tmp_path / "policy.yaml", document)
    daemon, notify = daemons.start(policy)
    assert daemon.wait_exit(30) == 2
    located = [line for line in daemon.text().splitlines() if line.startswith(f"{policy}:")]
    assert len(located) == 2, daemon.text()
    assert any("plans.undercloud.interval_seconds" in line for line in located)
    assert any("metrics.colour" in line for line in located)
    assert notify.with_field("READY") == []


def test_reload_with_changed_schedule_moves_next_run(tmp_path: Path, daemons: DaemonRunner) -> None:
    """SIGHUP with a new interval reschedules only that plan; STATUS= shows the new next run."""
    document = offline_policy(tmp_path)
    policy = write_yaml(tmp_path / "policy.yaml", document)
    daemon, notify = daemons.start(policy)
    before = next_runs(notify.wait("READY", "1", timeout=30).fields["STATUS"])
    assert before["undercloud"] > datetime.now(timezone.utc).replace(microsecond=0)

    document["plans"]["undercloud"]["interval_seconds"] = 120
    write_yaml(policy, document)
    daemon.signal(signal.SIGHUP)
    after = next_runs(notify.wait("READY", "1", count=2).fields["STATUS"])
    moved = (after["undercloud"] - datetime.now(timezone.utc)).total_seconds()
    assert 100 < moved <= 121, after
    assert after["controlplane"] == before["controlplane"]
    reconciled = daemon.wait_event("Jobs reconciled")
    assert reconciled["rescheduled"] == ["undercloud"]
    assert reconciled["unchanged"] == ["controlplane"]
    assert daemon.wait_event("Job rescheduled")["plan"] == "undercloud"
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(20) == 0
