"""The metric families barctl exports, declared once: name, type, help text and labels.

One field per family, in exposition order; barctl.observe.metrics fills a fresh `Families` on every
scrape. The names, help texts and labels are the interface the alert rules, the dashboard and
docs/monitoring.md are written against (etc/prometheus/barctl-alerts.yml): change one only
together with them. Counters are declared without `_total`: the client library appends it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from prometheus_client.metrics_core import CounterMetricFamily as Counter
from prometheus_client.metrics_core import GaugeMetricFamily as Gauge
from prometheus_client.metrics_core import HistogramMetricFamily as Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

PLAN = ("plan",)
NODE = ("plan", "node")
ARTIFACT = ("plan", "node", "artifact")


# Each helper returns the factory of one empty family: a scrape must never add to the last one's.
def _gauge(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Callable[[], Gauge]:
    return partial(Gauge, name, documentation, labels=labels)


def _counter(name: str, documentation: str, labels: tuple[str, ...]) -> Callable[[], Counter]:
    return partial(Counter, name, documentation, labels=labels)


def _histogram(name: str, documentation: str, labels: tuple[str, ...]) -> Callable[[], Histogram]:
    return partial(Histogram, name, documentation, labels=labels)


@dataclass
class Families:
    """The metric families of one scrape, created empty with their help texts."""

    last_success: Gauge = field(
        default_factory=_gauge(
            "barctl_plan_last_success_timestamp_seconds",
            "End of the plan's latest successful run (0: never).",
            PLAN,
        )
    )
    last_run: Gauge = field(
        default_factory=_gauge(
            "barctl_plan_last_run_timestamp_seconds",
            "Start of the plan's latest run, any outcome (0: never).",
            PLAN,
        )
    )
    last_outcome: Gauge = field(
        default_factory=_gauge(
            "barctl_plan_last_outcome",
            "1 for the outcome of the plan's latest ended run, 0 for the others.",
            ("plan", "outcome"),
        )
    )
    runs: Counter = field(
        default_factory=_counter(
            "barctl_plan_runs",
            "Ended runs of the plan, by outcome, from history.",
            ("plan", "outcome"),
        )
    )
    missed: Counter = field(
        default_factory=_counter(
            "barctl_plan_missed_runs",
            "Schedule slots of the plan that were missed, from history.",
            PLAN,
        )
    )
    duration: Histogram = field(
        default_factory=_histogram(
            "barctl_plan_run_duration_seconds",
            "Duration of the plan's ended runs that did work (success, failed, degraded).",
            PLAN,
        )
    )
    running: Gauge = field(
        default_factory=_gauge(
            "barctl_plan_running", "1 while a run of the plan has not ended.", PLAN
        )
    )
    run_started: Gauge = field(
        default_factory=_gauge(
            "barctl_plan_run_started_timestamp_seconds",
            "Start of the oldest unended run of the plan (0: none).",
            PLAN,
        )
    )
    next_run: Gauge = field(
        default_factory=_gauge(
            "barctl_plan_next_run_timestamp_seconds",
            "When the scheduler fires the plan next (0: never).",
            PLAN,
        )
    )
    interval: Gauge = field(
        default_factory=_gauge(
            "barctl_plan_expected_interval_seconds",
            "Seconds between the plan's next two schedule slots.",
            PLAN,
        )
    )
    timeout: Gauge = field(
        default_factory=_gauge(
            "barctl_plan_run_timeout_seconds", "The plan's timeouts.run_seconds.", PLAN
        )
    )
    configured: Gauge = field(
        default_factory=_gauge(
            "barctl_plan_configured_timestamp_seconds",
            "Earliest run of the plan, or when this process first exported it if it never ran.",
            PLAN,
        )
    )
    enabled: Gauge = field(
        default_factory=_gauge(
            "barctl_plan_enabled", "1 when the plan is enabled in the policy.", PLAN
        )
    )
    node_last_success: Gauge = field(
        default_factory=_gauge(
            "barctl_node_last_success_timestamp_seconds",
            "When the node's latest successful backup was recorded (0: never).",
            NODE,
        )
    )
    node_size: Gauge = field(
        default_factory=_gauge(
            "barctl_node_backup_size_bytes",
            "Size of each artifact of the node's latest verified backup (0: never).",
            ARTIFACT,
        )
    )
    node_previous_size: Gauge = field(
        default_factory=_gauge(
            "barctl_node_previous_backup_size_bytes",
            "Size of each artifact of the node's verified backup before the latest (0: none).",
            ARTIFACT,
        )
    )
    node_last_verified: Gauge = field(
        default_factory=_gauge(
            "barctl_node_last_verified_timestamp_seconds",
            "When the node's latest backup verified on the target was recorded (0: never).",
            NODE,
        )
    )
    node_verification_failed: Gauge = field(
        default_factory=_gauge(
            "barctl_node_verification_failed",
            "1 when the node's latest backup failed its verification on the target.",
            NODE,
        )
    )
    node_last_drill_success: Gauge = field(
        default_factory=_gauge(
            "barctl_node_last_drill_success_timestamp_seconds",
            "When a restore drill last proved the node's newest verified run (0: never).",
            NODE,
        )
    )
    node_drill_failing: Gauge = field(
        default_factory=_gauge(
            "barctl_node_drill_failing",
            "1 when the node's latest restore drill failed.",
            NODE,
        )
    )
    pruned: Counter = field(
        default_factory=_counter(
            "barctl_retention_pruned_runs",
            "Run directories retention deleted from the target for the plan, from history.",
            PLAN,
        )
    )
    target_free: Gauge = field(
        default_factory=_gauge(
            "barctl_target_free_bytes",
            "Bytes free in the backup target's directory at the gate's latest measurement.",
        )
    )
    drill_enabled: Gauge = field(
        default_factory=_gauge(
            "barctl_drill_enabled", "1 when the restore drill (plans.drill) is enabled."
        )
    )
    drill_interval: Gauge = field(
        default_factory=_gauge(
            "barctl_drill_expected_interval_seconds",
            "Seconds between the restore drill's next two schedule slots.",
        )
    )
    reachable: Gauge = field(
        default_factory=_gauge(
            "barctl_node_reachable",
            "0 when the plan's latest ended run was refused because SSH to the node failed.",
            NODE,
        )
    )
    precheck: Counter = field(
        default_factory=_counter(
            "barctl_precheck_failures",
            "Gate refusals of the node in runs of the plan, by reason class.",
            ("plan", "node", "reason"),
        )
    )
    degraded: Gauge = field(
        default_factory=_gauge(
            "barctl_node_degraded",
            "1 while a failed undo left the node degraded and no later success cleared it.",
            NODE,
        )
    )
    history_rows: Gauge = field(
        default_factory=_gauge(
            "barctl_history_rows",
            "Rows in the history database's table (history.keep_days prunes old runs).",
            ("table",),
        )
    )
    history_readable: Gauge = field(
        default_factory=_gauge(
            "barctl_history_read_success", "0 when the history database exists but cannot be read."
        )
    )
    reload_success: Gauge = field(
        default_factory=_gauge(
            "barctl_policy_reload_success",
            "0 when the latest policy reload failed (the old one stays).",
        )
    )
    build_info: Gauge = field(
        default_factory=_gauge("barctl_build_info", "barctl version, always 1.", ("version",))
    )

    def all(self) -> list[Metric]:
        """Every family, in declaration order (the order of the exposition)."""
        return [value for value in vars(self).values() if isinstance(value, Metric)]


def with_label(families: list[Metric], name: str, value: str | None) -> list[Metric]:
    """`families` with label `name`=`value` on every sample (metrics.cloud); as is for None.

    A constant label set by the daemon rather than by Prometheus's target labels: the policy
    that names the cloud travels with the daemon, and the label reaches every series without
    each scrape configuration having to repeat it.
    """
    if value is None:
        return families
    for family in families:
        family.samples = [
            Sample(sample.name, {**sample.labels, name: value}, *sample[2:])
            for sample in family.samples
        ]
    return families
