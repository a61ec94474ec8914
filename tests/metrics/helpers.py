"""Shared helpers of the metrics tests: a small world (policy, inventory, history) and parsing."""

from __future__ import annotations

import os
import subprocess
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from barctl.config.inventory import Inventory, load_inventory
from barctl.config.policy import Policy, load_policy
from barctl.history.records import Artifact
from barctl.history.store import Store
from barctl.observe.metrics import MetricsSource
from barctl.outcome import NodeOutcome, RunOutcome, Trigger
from tests.daemon.helpers import wait_until

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
CONTROLLERS = ("ctl-0", "ctl-1", "ctl-2")
INVENTORY = {
    "Undercloud": {"hosts": {"undercloud": {}}, "vars": {"ansible_connection": "local"}},
    "Controller": {
        "hosts": {name: {"ansible_host": f"192.0.2.{10 + i}"} for i, name in enumerate(CONTROLLERS)}
    },
    "BackupNode": {"hosts": {"backup-0": {"ansible_host": "192.0.2.50"}}},
    "overcloud": {"children": {"Controller": {}}},
}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
# Loopback requests to the servers these tests start must not go through an HTTP proxy.
DASHBOARD = Path(__file__).resolve().parents[2] / "etc/grafana/barctl-dashboard.json"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
T = TypeVar("T")


def at(minutes: float) -> datetime:
    """NOW shifted by `minutes` (negative: in the past)."""
    return NOW + timedelta(minutes=minutes)


def write_world(directory: Path, **plans: Any) -> tuple[Policy, Inventory]:
    """A policy (two plans unless `plans` overrides them) and its inventory under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    inventory_path = directory / "inventory.yaml"
    inventory_path.write_text(yaml.safe_dump(INVENTORY))
    policy = {
        "inventory": {"path": str(inventory_path)},
        "undercloud": {"address": "192.0.2.1"},
        "backup_target": {"nfs": {"server": "192.0.2.50", "export": "/ctl_plane_backups"}},
        "plans": plans
        or {
            "undercloud": {"schedule": "30 1 * * *"},
            "controlplane": {"schedule": "30 2 * * sun"},
        },
        "state_directory": str(directory / "state"),
    }
    policy_path = directory / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(policy))
    return load_policy(policy_path), load_inventory(str(inventory_path))


def make_source(
    policy: Policy,
    inventory: Inventory,
    now: datetime = NOW,
    **extra: Any,
) -> MetricsSource:
    """A MetricsSource over the policy's state directory with a fixed clock."""
    return MetricsSource(
        policy=lambda: policy,
        inventory=lambda: inventory,
        state_directory=policy.state_directory,
        clock=lambda: now,
        **extra,
    )


def open_store(policy: Policy) -> Store:
    """The history store of the policy's state directory (created when missing)."""
    policy.state_directory.mkdir(parents=True, exist_ok=True)
    return Store.open(policy.state_directory / "history.db")


def add_run(
    store: Store,
    run_id: str,
    start: float,
    outcome: RunOutcome | None,
    *,
    plan: str = "controlplane",
    minutes: float = 10,
    nodes: Mapping[str, tuple[NodeOutcome, int, str]] | None = None,
) -> None:
    """A run of `plan` starting at at(start), lasting `minutes`, with node rows (outcome, size,
    reason) recorded when it ends; `outcome` None leaves it running."""
    store.start_run(run_id, plan, Trigger.SCHEDULED, at(start), pid=os.getpid())
    end = at(start + minutes)
    for node, (node_outcome, size, reason) in (nodes or {}).items():
        artifacts = [Artifact(f"/ctl_plane_backups/{node}/R/backup.tar.gz", size)] if size else []
        store.record_node(run_id, node, node_outcome, artifacts, reason, now=end)
    if outcome is not None:
        store.finish_run(run_id, outcome, end, summary=str(outcome))


def parse(text: bytes | str) -> Samples:
    """Every sample of an exposition, keyed by (sample name, labels)."""
    if isinstance(text, bytes):
        text = text.decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; KeyError when it is not exported."""
    return samples[name, frozenset(labels.items())]


def names(samples: Samples) -> set[str]:
    """The sample names present."""
    return {name for name, _ in samples}


def environ_without_proxy() -> dict[str, str]:
    """os.environ without HTTP proxies (loopback requests must not go through one)."""
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`.
    Every 0.25 s: most checks here are HTTP queries to Prometheus or Alertmanager."""
    result: T = wait_until(check, timeout, what, step=0.25)
    return result


def panel_queries(dashboard: Mapping[str, Any], variables: Mapping[str, str]) -> list[str]:
    """Every panel query of a Grafana dashboard, its `variables` substituted as Grafana does."""
    queries = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            query = target["expr"]
            for variable, replacement in variables.items():
                query = query.replace(variable, replacement)
            queries.append(query)
    return queries


class ServerProcess:
    """A server (Prometheus, Alertmanager) this test started as its child, answering HTTP on
    `base`; it is stopped by the PID it was started with, never by name."""

    name = "server"

    def __init__(self, base: str, argv: list[str], log_path: Path) -> None:
        self.base = base
        self.log: IO[bytes] = log_path.open("wb")
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def ready(self) -> bool:
        """Whether /-/ready answers 200; fails the test when the process has exited."""
        try:
            with NO_PROXY.open(f"{self.base}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.process.returncode}")
            return False

    def stop(self) -> None:
        """SIGTERM to the child's PID, SIGKILL when it has not exited 15 s later."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
        self.log.close()
