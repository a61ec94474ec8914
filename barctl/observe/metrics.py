"""Prometheus metrics read from the history DB at scrape time (docs/monitoring.md).

Everything describing the past is derived from `history.db` on every scrape, through a custom
collector in a private registry: a daemon restart changes nothing a dashboard shows, and a
one-shot `barctl run` outside the daemon shows up at the next scrape (ecosystem.md §3; the
Velero/K8up complaints in peers.md §3). Every configured plan, and every node of each plan and
its backup target (resolved from the inventory), is exported from the first scrape on, with 0
for "never", so a missing series never hides a problem. Nodes that only appear in old history
are not exported (a removed node must not linger).

The endpoint is plain HTTP on the policy's listen address (loopback by default): the client
library's TLS mode wedges on one idle client (ecosystem.md §3).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Self
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from barctl import __version__
from barctl.config import schedule
from barctl.config.inventory import Inventory
from barctl.config.policy import PlanSection, Policy, split_listen
from barctl.errors import BarctlError
from barctl.history.store import Store, StoreError, history_path
from barctl.observe.metric_families import Families
from barctl.outcome import NodeOutcome, RunOutcome
from barctl.reasons import Reason

log = structlog.get_logger("barctl.metrics")

OUTCOMES: tuple[RunOutcome, ...] = tuple(RunOutcome)
DURATION_BUCKETS: tuple[float, ...] = (60, 300, 900, 1800, 3600, 7200, 14400, 28800)
"""Run duration histogram upper bounds, 1 min to 8 h (plus +Inf)."""
DURATION_OUTCOMES = frozenset({RunOutcome.SUCCESS, RunOutcome.FAILED, RunOutcome.DEGRADED})
"""Runs that did work: a refused run stopped at the gate, an interrupted one ended at recovery."""

REASON_LABELS: tuple[str, ...] = (
    "timeout",
    "refused",
    "auth",
    "host_key",
    "banner",
    "unhealthy",
    "other",
)


def reason_label(reason: Reason | None) -> str:
    """The low-cardinality label of a refusal's stored class: timeout|refused|auth|host_key|…

    The class was decided where the error happened (barctl.reasons); a row without one is
    `other`.
    """
    return "other" if reason is None else reason.label


def is_unreachable(reason: Reason | None) -> bool:
    """Whether a refusal's class says barctl could not reach or log in to the node over SSH."""
    return reason is not None and reason.unreachable


@dataclass
class MetricsSource:
    """What the collector reads at scrape time; the daemon owns every callable."""

    policy: Callable[[], Policy]
    inventory: Callable[[], Inventory]
    state_directory: Path
    clock: Callable[[], datetime]
    reload_success: Callable[[], bool] = lambda: True
    next_runs: Callable[[], Mapping[str, datetime | None]] | None = None


@dataclass
class PlanHistory:
    """What the history DB says about one plan (all empty/zero for a plan never run)."""

    last_success: float = 0.0
    last_run: float = 0.0
    last_outcome: RunOutcome | None = None
    first_attempt: float | None = None
    runs_total: dict[RunOutcome, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    missed: int = 0
    durations: list[float] = field(default_factory=list)
    running_since: float = 0.0
    node_last_success: dict[str, tuple[float, int]] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)
    refusals: Counter[tuple[str, str]] = field(default_factory=Counter)
    degraded: set[str] = field(default_factory=set)


def read_plan_history(store: Store, plan: str) -> PlanHistory:
    """Everything exported about `plan`'s past, from one open store."""
    found = PlanHistory()
    last_success = store.last_success(plan)
    if last_success is not None:
        found.last_success = (last_success.ended_at or last_success.started_at).timestamp()
    recent = store.history(plan, limit=10)
    if recent:
        found.last_run = recent[0].started_at.timestamp()
    ended = next((run for run in recent if run.outcome is not None), None)
    if ended is not None:
        found.last_outcome = ended.outcome
        if ended.outcome == RunOutcome.REFUSED:
            detail = store.run_detail(ended.run_id)
            found.unreachable = {
                node.node
                for node in (detail.nodes if detail else ())
                if node.outcome == NodeOutcome.REFUSED and is_unreachable(node.reason_class)
            }
    first = store.first_attempt_time(plan)
    found.first_attempt = None if first is None else first.timestamp()
    found.runs_total = store.runs_total(plan)
    found.missed = store.misses_total(plan)
    found.durations = [
        seconds for outcome, seconds in store.run_durations(plan) if outcome in DURATION_OUTCOMES
    ]
    running = [run.started_at.timestamp() for run in store.running_runs() if run.plan == plan]
    found.running_since = min(running, default=0.0)
    found.node_last_success = {
        node: (when.timestamp(), size)
        for node, (when, size) in store.node_last_success(plan).items()
    }
    found.refusals = Counter(
        (node, reason_label(found_class)) for node, _, found_class in store.node_refusals(plan)
    )
    found.degraded = store.degraded_nodes(plan)
    return found


def read_history(path: Path, plans: Iterable[str]) -> dict[str, PlanHistory] | None:
    """Each plan's history; zeros when the DB does not exist yet; None when it cannot be read."""
    names = list(plans)
    if not path.exists():
        return {name: PlanHistory() for name in names}
    try:
        with Store.open(path) as store:
            return {name: read_plan_history(store, name) for name in names}
    except (sqlite3.Error, OSError, StoreError) as error:
        log.error("Cannot read the history database for metrics", path=str(path), error=str(error))
        return None


def plan_nodes(policy: Policy, inventory: Inventory, plan: PlanSection) -> tuple[list[str], str]:
    """The plan's node names (inventory groups, as barctl.run.backup.resolve) and the target's name.

    The target name follows barctl.run.backup: backup_target.node, else the single BackupNode host,
    else the NFS server / SFTP host address. Nothing is resolved to an address here, so a scrape
    never fails on a missing undercloud address.
    """
    nodes = [host.name for host in inventory.hosts_in(list(plan.groups))]
    section = policy.backup_target
    target = section.node
    if target is None and "BackupNode" in inventory.groups:
        backup_hosts = inventory.hosts_in(["BackupNode"])
        target = backup_hosts[0].name if len(backup_hosts) == 1 else None
    if target is None and section.nfs is not None:
        target = section.nfs.server
    if target is None and section.sftp is not None:
        target = section.sftp.host
    return nodes, target or ""


def _histogram_buckets(durations: list[float]) -> list[tuple[str, float]]:
    buckets = [
        (str(float(bound)), float(sum(1 for d in durations if d <= bound)))
        for bound in DURATION_BUCKETS
    ]
    return [*buckets, ("+Inf", float(len(durations)))]


class HistoryCollector(Collector):
    """Reads the policy, inventory and history DB on every scrape."""

    def __init__(self, source: MetricsSource) -> None:
        self.source = source
        self._first_seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._remember_plans(source.policy(), source.clock().timestamp())

    def _remember_plans(self, policy: Policy, now: float) -> None:
        with self._lock:
            for name, _ in policy.plans.items():
                self._first_seen.setdefault(name, now)

    def collect(self) -> Iterator[Metric]:
        """The exposition of one scrape."""
        source = self.source
        policy = source.policy()
        now = source.clock()
        self._remember_plans(policy, now.timestamp())
        plans = policy.plans.items()
        history = read_history(history_path(source.state_directory), (name for name, _ in plans))
        next_runs = source.next_runs() if source.next_runs is not None else None
        families = Families()
        for name, plan in plans:
            if history is not None:
                self._plan_history(families, name, history[name])
            self._plan_schedule(families, name, plan, now, next_runs)
            self._nodes(families, policy, name, plan, None if history is None else history[name])
        families.history_readable.add_metric([], 0.0 if history is None else 1.0)
        families.reload_success.add_metric([], 1.0 if source.reload_success() else 0.0)
        families.build_info.add_metric([__version__], 1.0)
        yield from families.all()

    def _plan_history(self, families: Families, name: str, found: PlanHistory) -> None:
        families.last_success.add_metric([name], found.last_success)
        families.last_run.add_metric([name], found.last_run)
        for outcome in OUTCOMES:
            families.last_outcome.add_metric(
                [name, outcome.value], float(found.last_outcome == outcome)
            )
            families.runs.add_metric([name, outcome.value], float(found.runs_total[outcome]))
        families.missed.add_metric([name], float(found.missed))
        families.duration.add_metric(
            [name], _histogram_buckets(found.durations), sum(found.durations)
        )
        families.running.add_metric([name], float(found.running_since > 0))
        families.run_started.add_metric([name], found.running_since)
        with self._lock:
            first_seen = self._first_seen[name]
        # From history once the plan has run, so a restart cannot move it; before that, when
        # this process first exported the plan.
        configured = first_seen if found.first_attempt is None else found.first_attempt
        families.configured.add_metric([name], configured)

    def _plan_schedule(
        self,
        families: Families,
        name: str,
        plan: PlanSection,
        now: datetime,
        next_runs: Mapping[str, datetime | None] | None,
    ) -> None:
        if next_runs is not None:
            upcoming = next_runs.get(name)
        else:
            upcoming = schedule.next_run(plan, now) if plan.enabled else None
        families.next_run.add_metric([name], 0.0 if upcoming is None else upcoming.timestamp())
        families.interval.add_metric([name], schedule.expected_interval_seconds(plan, now))
        families.timeout.add_metric([name], float(plan.timeouts.run_seconds))
        families.enabled.add_metric([name], float(plan.enabled))

    def _nodes(
        self,
        families: Families,
        policy: Policy,
        name: str,
        plan: PlanSection,
        found: PlanHistory | None,
    ) -> None:
        try:
            nodes, target = plan_nodes(policy, self.source.inventory(), plan)
        except BarctlError as error:
            log.error("Cannot resolve the plan's nodes for metrics", plan=name, error=str(error))
            return
        if found is None:
            return
        for node in nodes:
            when, size = found.node_last_success.get(node, (0.0, 0))
            families.node_last_success.add_metric([name, node], when)
            families.node_size.add_metric([name, node], float(size))
            families.degraded.add_metric([name, node], float(node in found.degraded))
        for node in dict.fromkeys([*nodes, target]):
            families.reachable.add_metric([name, node], float(node not in found.unreachable))
            for label in REASON_LABELS:
                families.precheck.add_metric(
                    [name, node, label], float(found.refusals[node, label])
                )


def build_registry(source: MetricsSource) -> CollectorRegistry:
    """A private registry holding only barctl's history collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HistoryCollector(source))
    return registry


def render(source: MetricsSource) -> bytes:
    """The exposition text of one scrape (tests, one-shot commands)."""
    return generate_latest(build_registry(source))


class MetricsServer:
    """The HTTP endpoint serving one registry; `close()` stops it and frees the port."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        """The port actually bound (useful after asking for port 0)."""
        return int(self._server.server_port)

    def close(self) -> None:
        """Stop serving and close the listening socket; safe to call twice."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()


def start_metrics_server(listen: str, source: MetricsSource) -> MetricsServer:
    """Serve `source` as plain HTTP on `listen` ("127.0.0.1:17643", "[::1]:0" for any port)."""
    host, port = _split(listen)
    server, thread = start_http_server(port, addr=host, registry=build_registry(source))
    return MetricsServer(server, thread)


def _split(listen: str) -> tuple[str, int]:
    """split_listen, but port 0 (any free port) is allowed, for tests."""
    if listen.endswith(":0"):
        host, _ = split_listen(listen[:-1] + "1")
        return host, 0
    return split_listen(listen)
