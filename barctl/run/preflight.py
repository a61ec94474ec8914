"""What comes before a run, shared by `barctl run`, `precheck`, `prune`, `drill` and the daemon:
how to reach the nodes, the run's locks, crash recovery, what the run will write on the target
and the gate over fresh SSH sessions.

The imperative shell's first steps; `backup.perform` runs them in this order.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from barctl.config.policy import Policy
from barctl.config.site import Site
from barctl.history.history_queries import HistoryQueries
from barctl.history.store import Store
from barctl.model import UndoFailure
from barctl.run import gate, locks, rear_capability, remote
from barctl.run.rear_capability import SpaceNeed
from barctl.run.resolution import Resolved
from barctl.run.runner import Runner
from barctl.run.undo import replay_pending

Clock = Callable[[], datetime]


def ssh_settings(policy: Policy, site: Site) -> remote.SshSettings:
    """How to reach nodes: the site's key and known_hosts, the policy's connect timeout."""
    accept_new = site.accept_new_hosts_file
    return remote.SshSettings(
        str(site.private_key),
        str(site.known_hosts),
        policy.ssh.connect_timeout_seconds,
        str(accept_new) if accept_new is not None else None,
    )


def run_locks(runtime: Path, resolved: Resolved) -> ExitStack:
    """One run per plan across processes, and no node shared by two running plans."""
    return locks.run_locks(runtime, resolved.name, (node.name for node in resolved.nodes))


def recover(store: Store, settings: remote.SshSettings, clock: Clock) -> list[UndoFailure]:
    """Crash recovery, before anything else: replay pending undos, then mark dead runs."""
    with remote.SessionPool(remote.session_opener(settings)) as pool:
        failures = replay_pending(store, pool, clock)
    store.mark_interrupted_runs(clock())
    return failures


def space_need(store: HistoryQueries | None, resolved: Resolved) -> SpaceNeed | None:
    """What the next run of `resolved` writes on the target, from the history (None: unknown)."""
    last = store.node_last_success(resolved.name) if store is not None else {}
    sizes = {node: size for node, (_, size) in last.items()}
    names = [node.name for node in resolved.nodes]
    return rear_capability.space_need(sizes, names, resolved.target.space_margin_percent)


def gate_of(
    resolved: Resolved,
    runner: Runner,
    max_parallel: int,
    need: SpaceNeed | None = None,
) -> gate.GateResult:
    """The gate for `resolved` through `runner`: the one place a plan's nodes, target and
    limits become `gate.check`'s arguments; `need` is what the run will write on the target."""
    return gate.check(
        resolved.nodes,
        resolved.target.node,
        resolved.target.directory,
        runner,
        pacemaker=resolved.name == "controlplane",
        timeout=resolved.timeouts.command,
        max_parallel=max_parallel,
        settings=resolved.target.settings_for,
        min_free_bytes=resolved.target.min_free_bytes,
        need=need,
        rear_target=resolved.target.rear,
    )


def precheck(
    resolved: Resolved,
    settings: remote.SshSettings,
    max_parallel: int,
    need: SpaceNeed | None = None,
) -> gate.GateResult:
    """The gate for `resolved`, over fresh SSH sessions: `barctl precheck` and every run."""
    with remote.SessionPool(remote.session_opener(settings)) as runner:
        return gate_of(resolved, runner, max_parallel, need)
