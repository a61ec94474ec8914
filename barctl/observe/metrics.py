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
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from typing_extensions import Self

from barctl import __version__
from barctl.config import schedule
from barctl.config.inventory import Inventory
from barctl.config.policy import PlanSection, Policy, split_listen
from barctl.errors import BarctlError
from barctl.history.records import PlanTotals
from barctl.history.store import Store, StoreError, history_path
from barctl.history.store_schema import DURATION_BUCKETS, SUMMARY_TABLES
from barctl.observe import metrics_runs
from barctl.observe.metric_families import Families, with_label
from barctl.observe.metrics_runs import VerifiedHistory
from barctl.outcome import NodeOutcome, RunOutcome
from barctl.reasons import Reason

log = structlog.get_logger("barctl.metrics")

OUTCOMES: tuple[RunOutcome, ...] = tuple(RunOutcome)
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
    duration_buckets: list[tuple[str, float]] = field(default_factory=lambda: _histogram({}))
    duration_sum: float = 0.0
    running_since: float = 0.0
    node_last_success: dict[str, tuple[float, int]] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)
    refusals: Counter[tuple[str, str]] = field(default_factory=Counter)
    degraded: set[str] = field(default_factory=set)
    verified: VerifiedHistory = field(default_factory=VerifiedHistory)


def _histogram(counts: Mapping[float, int], total: int = 0) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs over DURATION_BUCKETS plus +Inf = `total`."""
    buckets = [(str(float(le)), float(counts.get(float(le), 0))) for le in DURATION_BUCKETS]
    return [*buckets, ("+Inf", float(total))]


def _durations(found: PlanHistory, totals: PlanTotals) -> None:
    """The histogram of the runs that did work, from the counts kept at write time."""
    counts: Counter[float] = Counter()
    total = 0
    for outcome in DURATION_OUTCOMES:
        counts.update(totals.duration_buckets.get(outcome, {}))
        total += totals.runs.get(outcome, 0)
    found.duration_buckets = _histogram(counts, total)
    found.duration_sum = sum(totals.duration_seconds.get(o, 0.0) for o in DURATION_OUTCOMES)


def _latest_runs(store: Store, plan: str, found: PlanHistory) -> None:
    """Latest success, latest run and latest ended run (unreachable nodes of a refusal)."""
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
    running = [run.started_at.timestamp() for run in store.running_runs() if run.plan == plan]
    found.running_since = min(running, default=0.0)


def _node_states(store: Store, plan: str, nodes: Iterable[str], found: PlanHistory) -> None:
    """Each node's latest success and whether a degraded row is newer than it."""
    for node in nodes:
        success = store.node_latest(plan, node, NodeOutcome.SUCCESS)
        degraded = store.node_latest(plan, node, NodeOutcome.DEGRADED)
        if success is not None:
            found.node_last_success[node] = (success.recorded_at.timestamp(), success.size_bytes)
        if degraded is not None and (
            success is None or success.recorded_at <= degraded.recorded_at
        ):
            found.degraded.add(node)


def read_plan_history(store: Store, plan: str, nodes: Iterable[str] = ()) -> PlanHistory:
    """Everything exported about `plan`'s past (and its `nodes`'), from one open store.

    A bounded number of indexed reads, whatever the history's length: counters from the summary
    tables the store keeps at write time, the rest from the newest index entries.
    """
    found = PlanHistory()
    with store.snapshot():
        _latest_runs(store, plan, found)
        totals = store.plan_totals(plan)
        _node_states(store, plan, nodes, found)
    found.first_attempt = (
        None if totals.first_started_at is None else totals.first_started_at.timestamp()
    )
    found.runs_total = dict.fromkeys(OUTCOMES, 0) | dict(totals.runs)
    found.missed = totals.missed_slots
    _durations(found, totals)
    found.refusals = Counter()
    for (node, found_class), count in totals.refusals.items():
        found.refusals[node, reason_label(found_class)] += count
    found.verified = metrics_runs.read_verified(store, plan, nodes)
    return found


def read_history(
    path: Path, plans: Mapping[str, Iterable[str]]
) -> tuple[dict[str, PlanHistory], dict[str, int]] | None:
    """Each plan's history (of its nodes) and the rows per table; zeros when the DB does not
    exist yet; None when it cannot be read."""
    if not path.exists():
        return {name: PlanHistory() for name in plans}, dict.fromkeys(SUMMARY_TABLES, 0)
    try:
        with Store.open(path) as store:
            found = {name: read_plan_history(store, name, nodes) for name, nodes in plans.items()}
            return found, store.table_rows()
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
        members = {name: self._members(policy, name, plan) for name, plan in plans}
        wanted = {name: found[0] if found else [] for name, found in members.items()}
        read = read_history(history_path(source.state_directory), wanted)
        next_runs = source.next_runs() if source.next_runs is not None else None
        families = Families()
        for name, plan in plans:
            found = None if read is None else read[0][name]
            if found is not None:
                self._plan_history(families, name, found)
            self._plan_schedule(families, name, plan, now, next_runs)
            resolved = members[name]
            if found is not None and resolved is not None:
                self._nodes(families, name, resolved[0], resolved[1], found)
        for table, rows in ({} if read is None else read[1]).items():
            families.history_rows.add_metric([table], float(rows))
        if read is not None:
            metrics_runs.add_target_metrics(families, (each.verified for each in read[0].values()))
        drill = policy.plans.drill
        families.drill_enabled.add_metric([], float(drill.enabled))
        families.drill_interval.add_metric([], schedule.expected_interval_seconds(drill, now))
        families.history_readable.add_metric([], 0.0 if read is None else 1.0)
        families.reload_success.add_metric([], 1.0 if source.reload_success() else 0.0)
        families.build_info.add_metric([__version__], 1.0)
        yield from with_label(families.all(), "cloud", policy.metrics.cloud)

    def _members(
        self, policy: Policy, name: str, plan: PlanSection
    ) -> tuple[list[str], str] | None:
        """The plan's node names and its target's; None (logged) when they cannot be resolved."""
        try:
            return plan_nodes(policy, self.source.inventory(), plan)
        except BarctlError as error:
            log.error("Cannot resolve the plan's nodes for metrics", plan=name, error=str(error))
            return None

    def _plan_history(self, families: Families, name: str, found: PlanHistory) -> None:
        families.last_success.add_metric([name], found.last_success)
        families.last_run.add_metric([name], found.last_run)
        for outcome in OUTCOMES:
            families.last_outcome.add_metric(
                [name, outcome.value], float(found.last_outcome == outcome)
            )
            families.runs.add_metric([name, outcome.value], float(found.runs_total[outcome]))
        families.missed.add_metric([name], float(found.missed))
        families.duration.add_metric([name], found.duration_buckets, found.duration_sum)
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
        self, families: Families, name: str, nodes: list[str], target: str, found: PlanHistory
    ) -> None:
        for node in nodes:
            when, _size = found.node_last_success.get(node, (0.0, 0))
            families.node_last_success.add_metric([name, node], when)
            families.degraded.add_metric([name, node], float(node in found.degraded))
        metrics_runs.add_node_metrics(families, name, nodes, found.verified)
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
