"""The daemon prunes the plan's runs on the target after each run it did not refuse (issue 11
item 4), and never after a refusal; runs are laid out on the lab's export by tests.target_runs.

The scheduled run fails at `rear mkbackup` (an injected fault, before ReaR writes anything), so
what the prune sees on the target is exactly what the test wrote.
"""

from __future__ import annotations

import signal
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from barctl.history.store import Store, history_path
from lab import Lab
from tests.daemon.helpers import DaemonRunner, free_port, write_yaml
from tests.engine.helpers import set_up
from tests.target_runs import run_id, write_run

pytestmark = pytest.mark.lab

HOUR = 3600


def policy(lab: Lab, directory: Path, **target: int) -> Path:
    """The undercloud plan every 2 s with keep_last 1, controlplane hourly; private state."""
    document = lab.policy(
        plans={
            "undercloud": {
                "schedule": None,
                "interval_seconds": 2,
                "retention": {"keep_last": 1, "keep_days": 0},
            },
            "controlplane": {"schedule": None, "interval_seconds": HOUR},
        },
        state_directory=str(directory / "state"),
        runtime_directory=str(directory / "run"),
        metrics={"listen": f"127.0.0.1:{free_port()}"},
        log={"format": "json"},
        backup_target=target,
    )
    return write_yaml(directory / "policy.yaml", document)


def seed(lab: Lab) -> list[str]:
    """Three verified undercloud runs, one a day, newest first."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    ids = [run_id(now - timedelta(days=day + 1), "undercloud") for day in range(3)]
    for run in ids:
        write_run(lab.export_directory, "undercloud", run)
    return ids


def on_target(lab: Lab) -> list[str]:
    """The undercloud's run directories on the export, newest first."""
    return sorted(
        (path.name for path in (lab.export_directory / "undercloud").iterdir()), reverse=True
    )


def test_daemon_prunes_after_a_run(lab: Lab, tmp_path: Path, daemons: DaemonRunner) -> None:
    """After the scheduled run ends, the daemon applies keep_last 1: the two older runs go,
    each logged `Run pruned`, and `Prune ended` follows `Job ended`."""
    ids = seed(lab)
    path = policy(lab, tmp_path)
    set_up(path, "undercloud")
    lab.inject("undercloud", ["rear", "-v"], exit_code=1)
    daemon, notify = daemons.start(path)
    notify.wait("READY", "1", timeout=30)
    ended = daemon.wait_event("Prune ended", timeout=60)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(30) == 0
    assert (ended["plan"], ended["deleted"], ended["failed"]) == ("undercloud", 2, 0)
    assert on_target(lab) == ids[:1]
    pruned = daemon.events("Run pruned")
    assert sorted(record["run_id"] for record in pruned) == sorted(ids[1:])
    events = [record["event"] for record in daemon.events()]
    assert events.index("Job ended") < events.index("Prune ended")


def test_daemon_does_not_prune_after_a_refusal(
    lab: Lab, tmp_path: Path, daemons: DaemonRunner
) -> None:
    """The target below its floor refuses the run; no prune follows and every run stays."""
    ids = seed(lab)
    path = policy(lab, tmp_path, min_free_bytes=1 << 30)
    set_up(path, "undercloud")
    lab.set_free_space("backup-0", 1 << 20)
    daemon, notify = daemons.start(path)
    notify.wait("READY", "1", timeout=30)
    job = daemon.wait_event("Job ended", timeout=60)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(30) == 0
    assert job["outcome"] == "refused"
    with Store.open(history_path(tmp_path / "state")) as store:
        assert "below the floor of 1 GiB" in store.history("undercloud")[0].summary
    assert daemon.events("Prune ended") == [] and daemon.events("Run pruned") == []
    assert on_target(lab) == ids


def test_daemon_prunes_the_previous_verified_run_after_the_next(
    lab: Lab, tmp_path: Path, daemons: DaemonRunner
) -> None:
    """Real scheduled runs, each verified on the target, keep_last 1: the prune after the
    second run deletes the first run's directory, and nothing before it was deleted."""
    path = policy(lab, tmp_path)
    set_up(path, "undercloud")
    daemon, notify = daemons.start(path)
    notify.wait("READY", "1", timeout=30)
    first = daemon.wait_event("Prune ended", timeout=120)
    second = daemon.wait_event("Prune ended", count=2, timeout=120)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(60) == 0
    jobs = daemon.events("Job ended")
    assert [job["outcome"] for job in jobs[:2]] == ["success", "success"]
    assert (first["deleted"], second["deleted"]) == (0, 1)
    pruned = daemon.events("Run pruned")
    assert pruned[0]["run_id"] == jobs[0]["run_id"]
    assert not (lab.export_directory / "undercloud" / jobs[0]["run_id"]).exists()
    assert (
        lab.export_directory / "undercloud" / jobs[1]["run_id"] / "barctl-manifest.json"
    ).is_file()
