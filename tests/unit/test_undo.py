"""Crash replay of the undo journal through a scripted runner: live runs skipped, newest first."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from barctl.history.store import Store
from barctl.model import Node
from barctl.outcome import NodeOutcome, RunOutcome, Trigger, UndoState
from barctl.run import commands, commands_services, undo
from tests.fakes import FakeRunner, failed, ok, unreachable

NOW = datetime(2026, 11, 25, 2, 30, tzinfo=timezone.utc)
DEAD_PID = 99_999_999  # above any kernel's pid_max: no such process
CTL = Node("ctl-0", "198.18.0.1", "heat-admin")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A history with a dead run `dead` and a run `live` of this very process."""
    with Store.open(tmp_path / "history.db") as opened:
        opened.start_run("dead", "controlplane", Trigger.MANUAL, NOW, DEAD_PID)
        opened.start_run("live", "controlplane", Trigger.MANUAL, NOW, os.getpid())
        yield opened


def register(store: Store, run_id: str, command: commands.RemoteCommand) -> None:
    """Journal `command` as an undo of `run_id` on ctl-0, as the engine does."""
    store.register_undo(run_id, CTL.name, command.name, undo.encode(CTL, command), NOW)


def replay(store: Store, fake: FakeRunner) -> list[str]:
    """Replay pending undos; the failures as text."""
    return [str(failure) for failure in undo.replay_pending(store, fake, lambda: NOW)]


def test_replay_skips_live_runs_and_runs_dead_runs_undos_newest_first(store: Store) -> None:
    """Only the dead run's undos run, the last registered first; the live run's stay pending."""
    register(store, "dead", commands_services.ceph_start("ctl-0", 60))
    register(store, "dead", commands_services.pcs_cluster_start(60))
    register(store, "live", commands_services.unpause_containers(("nova_api",), 60))
    fake = FakeRunner()
    assert replay(store, fake) == []
    assert fake.ran() == ["pcs_cluster_start", "ceph_start"]
    assert [(record.run_id, record.step) for record in store.pending_undos()] == [
        ("live", "unpause_containers")
    ]


def test_replay_rereads_the_mysql_password_from_hiera(store: Store) -> None:
    """An undo that needs the password never stored it: hiera is asked first, stdin carries it."""
    register(
        store,
        "dead",
        commands_services.galera_desync("galera-bundle-podman-0", False, "s3cret", 60),
    )
    (record,) = store.pending_undos()
    assert "s3cret" not in str(dict(record.payload))
    fake = FakeRunner({"hiera_lookup": ok("s3cret\n")})
    assert replay(store, fake) == []
    assert fake.ran() == ["hiera_lookup", "galera_desync_off"]
    assert "s3cret" in (fake.calls[1].stdin or "")


def test_a_failed_replay_makes_the_dead_run_and_its_node_degraded(store: Store) -> None:
    """A replayed undo that fails: undo `failed`, node row and run `degraded`, naming it."""
    register(store, "dead", commands_services.pcs_cluster_start(60))
    failures = replay(store, FakeRunner({"pcs_cluster_start": failed(1, "Error: no quorum")}))
    assert failures == ["ctl-0: undo pcs_cluster_start failed (exit 1): exit 1: Error: no quorum"]
    detail = store.run_detail("dead")
    assert detail is not None
    assert detail.run.outcome is RunOutcome.DEGRADED
    assert "ctl-0: undo pcs_cluster_start failed" in detail.run.summary
    assert [(n.node, n.outcome) for n in detail.nodes] == [("ctl-0", NodeOutcome.DEGRADED)]
    assert detail.undos[0].state is UndoState.FAILED


def test_an_unreachable_node_keeps_its_undo_pending_for_the_next_start(store: Store) -> None:
    """Replay cannot reach ctl-0: the undo stays pending (retried next start), run degraded."""
    register(store, "dead", commands_services.pcs_cluster_start(60))
    assert replay(store, FakeRunner(default=unreachable())) == []
    assert [record.step for record in store.pending_undos()] == ["pcs_cluster_start"]
    detail = store.run_detail("dead")
    assert detail is not None
    assert detail.run.outcome is RunOutcome.DEGRADED
    assert "left for replay: node unreachable" in detail.run.summary


def test_a_missing_hiera_password_fails_the_undo_without_running_it(store: Store) -> None:
    """hiera prints nil: the desync undo is settled failed, and never sent without a password."""
    register(
        store, "dead", commands_services.galera_desync("galera-bundle-podman-0", False, "pw", 60)
    )
    fake = FakeRunner({"hiera_lookup": ok("nil\n")})
    assert replay(store, fake) == [
        "ctl-0: undo galera_desync_off failed (exit None): no MySQL root password in hiera"
    ]
    assert fake.ran() == ["hiera_lookup"]
    assert store.pending_undos() == []
