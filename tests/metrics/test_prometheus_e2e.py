"""End to end: a real Prometheus scrapes a real `barctl daemon` while real lab runs happen.

Debian's /usr/bin/prometheus runs as this test's child on 127.0.0.1 with a tmp TSDB, the shipped
alert rules and 1 s scrape/evaluation intervals; it is killed by its PID when the test ends. The
daemon is a child process too (metrics on 127.0.0.1 only), stopped by its PID. Runs are one-shot
`barctl.run.backup.perform` calls against the network-namespace lab, as `barctl run` makes them
outside the daemon: they land in the history DB the daemon reads at scrape time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from barctl.config.inventory import load_inventory
from barctl.config.policy import load_policy
from barctl.config.site import Site
from barctl.outcome import RunOutcome
from barctl.run.backup import Request, perform
from lab import Lab
from tests.daemon.helpers import free_port
from tests.engine.helpers import set_up
from tests.metrics.helpers import (
    DASHBOARD,
    NO_PROXY,
    ServerProcess,
    panel_queries,
    parse,
    wait_for,
)

pytestmark = pytest.mark.lab

PROMETHEUS = Path("/usr/bin/prometheus")
ALERTS_FILE = Path(__file__).resolve().parents[2] / "etc/prometheus/barctl-alerts.yml"
# Series that describe the running process, not the past: left out of the restart comparison.
PROCESS_SERIES = {"barctl_build_info", "barctl_policy_reload_success"}


class Prometheus(ServerProcess):
    """A Prometheus server child process and its HTTP API."""

    name = "prometheus"

    def __init__(self, directory: Path, target_port: int, *more_ports: int) -> None:
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS_FILE)],
            "scrape_configs": [
                {
                    "job_name": "barctl",
                    "scrape_timeout": "1s",
                    "static_configs": [
                        {"targets": [f"127.0.0.1:{port}" for port in (target_port, *more_ports)]}
                    ],
                }
            ],
        }
        directory.mkdir()
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
        argv = [
            str(PROMETHEUS),
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        super().__init__(f"http://127.0.0.1:{self.port}", argv, directory / "prometheus.log")

    def get(self, path: str, **parameters: str) -> Any:
        url = f"{self.base}{path}?{urllib.parse.urlencode(parameters)}"
        with NO_PROXY.open(url, timeout=5) as response:
            return json.load(response)

    def query(self, expression: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/query", query=expression)["data"]["result"]
        return result


@pytest.fixture
def prometheus_binary() -> Path:
    if not PROMETHEUS.exists():
        pytest.skip(f"{PROMETHEUS} missing (Debian package prometheus)")
    return PROMETHEUS


class Daemon:
    """A real `barctl daemon` child process serving metrics on 127.0.0.1:`port`."""

    def __init__(self, policy: Path, port: int, log: Path) -> None:
        self.policy = policy
        self.port = port
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "barctl", "-c", str(self.policy), "daemon"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "BARCTL_LOG_FORMAT": "json"},
            )
        wait_for("the daemon's metrics port", self.serving, timeout=60)

    def serving(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"barctl daemon exited with {self.process.returncode}")
        try:
            return bool(self.scrape())
        except OSError:
            return False

    def scrape(self) -> bytes:
        with NO_PROXY.open(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            body: bytes = response.read()
            return body

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            assert self.process.wait(timeout=60) == 0
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def served(lab: Lab, tmp_path: Path, prometheus_binary: Path) -> Iterator[dict[str, Any]]:
    """The lab's policy, a real daemon serving metrics and a Prometheus scraping it."""
    port = free_port()
    policy_path = lab.write_policy(
        tmp_path / "policy.yaml",
        state_directory=str(tmp_path / "state"),
        runtime_directory=str(tmp_path / "run"),
        metrics={"listen": f"127.0.0.1:{port}"},
        log={"format": "json"},
    )
    set_up(policy_path)
    policy = load_policy(policy_path)
    inventory = load_inventory(str(policy.inventory.path))
    daemon = Daemon(policy_path, port, tmp_path / "daemon.log")
    world: dict[str, Any] = {"policy": policy, "inventory": inventory, "daemon": daemon}
    prometheus = Prometheus(tmp_path / "prometheus", port)
    world["prometheus"] = prometheus
    try:
        daemon.start()
        wait_for("prometheus ready", prometheus.ready, timeout=30)
        yield world
    finally:
        prometheus.stop()
        daemon.stop()
        lab.restore("ctl-1")


def firing(prometheus: Prometheus, alertname: str) -> list[dict[str, str]]:
    """Labels of each firing instance of `alertname`, through the HTTP API."""
    query = f'ALERTS{{alertname="{alertname}",alertstate="firing"}}'
    return [sample["metric"] for sample in prometheus.query(query)]


def run(world: dict[str, Any], plan: str = "controlplane") -> RunOutcome:
    site = Site.from_policy(world["policy"], {})
    request = Request(world["policy"], world["inventory"], plan, site=site, poll_seconds=0.2)
    return perform(request).outcome


def test_refused_alert_fires_with_the_node_then_resolves_and_survives_a_restart(
    lab: Lab, served: dict[str, Any]
) -> None:
    """Refused with ctl-1 down fires BarctlBackupRefused naming ctl-1; success resolves it.

    Then the daemon restarts: no past-describing series changes, and Prometheus sees
    last_success unchanged across the restart.
    """
    prometheus: Prometheus = served["prometheus"]
    wait_for("the first scrape", lambda: prometheus.query('up{job="barctl"} == 1'))
    assert firing(prometheus, "BarctlBackupRefused") == []

    lab.link_down("ctl-1")
    assert run(served) == RunOutcome.REFUSED
    alerts = wait_for(
        "BarctlBackupRefused firing", lambda: firing(prometheus, "BarctlBackupRefused")
    )
    assert [(a["plan"], a.get("node")) for a in alerts] == [("controlplane", "ctl-1")]
    assert alerts[0]["severity"] == "warning"
    api_alert = next(
        a for a in prometheus.get("/api/v1/alerts")["data"]["alerts"]
        if a["labels"]["alertname"] == "BarctlBackupRefused"
    )  # fmt: skip
    assert "node ctl-1 is unreachable" in api_alert["annotations"]["summary"]
    failures = prometheus.query(
        'barctl_precheck_failures_total{plan="controlplane",node="ctl-1",reason="timeout"}'
    )
    assert failures[0]["value"][1] == "1"

    lab.restore("ctl-1")
    assert run(served) == RunOutcome.SUCCESS
    wait_for("BarctlBackupRefused resolved", lambda: not firing(prometheus, "BarctlBackupRefused"))
    assert firing(prometheus, "BarctlBackupFailed") == []
    query = 'barctl_plan_last_success_timestamp_seconds{plan="controlplane"} > 0'
    seen = wait_for("last success scraped", lambda: prometheus.query(query))
    seen_at, last_success = (float(field) for field in seen[0]["value"])

    # Restart the daemon (SIGTERM, exit 0, start again on the same port), let Prometheus see it
    # down in between, and compare every past-describing series.
    daemon: Daemon = served["daemon"]
    before = parse(daemon.scrape())
    stopped_at = time.time()
    daemon.stop()
    wait_for("the scrape failing", lambda: prometheus.query('up{job="barctl"} == 0'))
    daemon.start()
    after = parse(daemon.scrape())
    wait_for("scrapes again", lambda: prometheus.query('up{job="barctl"} == 1'))

    def past(samples: dict[Any, float]) -> dict[Any, float]:
        # The undercloud plan never ran: its configured timestamp is when this process first
        # exported it (documented in docs/monitoring.md), so it moves with a restart. The next
        # run is the future, computed from the schedule.
        never_run = (
            "barctl_plan_configured_timestamp_seconds",
            frozenset({("plan", "undercloud")}),
        )
        return {
            key: value
            for key, value in samples.items()
            if key[0] not in PROCESS_SERIES
            and key != never_run
            and key[0] != "barctl_plan_next_run_timestamp_seconds"
        }

    assert past(before) == past(after)
    assert len(past(after)) > 100
    wait_for(
        "a sample scraped from the new server",
        lambda: prometheus.query(f'timestamp(up{{job="barctl"}} == 1) > {stopped_at + 1}'),
    )
    time.sleep(2)  # so that the range's 1 s steps reach past the first new sample
    history = prometheus.get(
        "/api/v1/query_range",
        query='barctl_plan_last_success_timestamp_seconds{plan="controlplane"}',
        start=str(seen_at),
        end=str(time.time()),
        step="1",
    )["data"]["result"]
    points = history[0]["values"]
    # The range spans the restart (Prometheus's clock may run a few ms ahead of ours).
    assert points[0][0] < stopped_at + 0.5 and points[-1][0] > stopped_at + 1
    assert {float(value) for _, value in points} == {last_success}


def dashboard_queries(cloud: str) -> list[str]:
    """Every panel query of the shipped dashboard with $cloud set as Grafana substitutes it."""
    values = {"$job": "barctl", "$cloud": cloud, "$instance": ".*", "$__range": "1h"}
    return panel_queries(json.loads(DASHBOARD.read_text()), values)


@pytest.fixture
def fleet(lab: Lab, tmp_path: Path, prometheus_binary: Path) -> Iterator[dict[str, Any]]:
    """Two daemons (clouds east and west, different schedules), one Prometheus scraping both."""
    daemons: dict[str, Daemon] = {}
    schedules = {"east": "30 2 * * sun", "west": "30 2 * * *"}
    for cloud, schedule in schedules.items():
        port = free_port()
        policy_path = lab.write_policy(
            tmp_path / f"{cloud}.yaml",
            state_directory=str(tmp_path / cloud / "state"),
            runtime_directory=str(tmp_path / cloud / "run"),
            metrics={"listen": f"127.0.0.1:{port}", "cloud": cloud},
            log={"format": "json"},
            plans={"controlplane": {"schedule": schedule}},
        )
        daemons[cloud] = Daemon(policy_path, port, tmp_path / f"{cloud}.log")
    prometheus = Prometheus(tmp_path / "prometheus", *(d.port for d in daemons.values()))
    try:
        for daemon in daemons.values():
            daemon.start()
        wait_for("prometheus ready", prometheus.ready, timeout=30)
        yield {"prometheus": prometheus, "daemons": daemons}
    finally:
        prometheus.stop()
        for daemon in daemons.values():
            daemon.stop()


def test_two_daemons_stay_apart_under_the_dashboard_cloud_selector(
    fleet: dict[str, Any],
) -> None:
    """One Prometheus scrapes two daemons with metrics.cloud east and west: the dashboard's cloud
    variable lists both, each cloud's instance variable lists only its own daemon, and every
    panel query with $cloud=east returns only east's series (weekly interval), with west only
    west's (daily); All returns both."""
    prometheus: Prometheus = fleet["prometheus"]
    daemons: dict[str, Daemon] = fleet["daemons"]
    wait_for("both targets up", lambda: len(prometheus.query('up{job="barctl"} == 1')) == 2)
    wait_for("both clouds scraped", lambda: len(prometheus.query("barctl_build_info")) == 2)
    clouds = prometheus.get(
        "/api/v1/label/cloud/values", **{"match[]": 'barctl_build_info{job="barctl"}'}
    )
    assert clouds["data"] == ["east", "west"]
    for cloud, daemon in daemons.items():
        instances = {
            sample["metric"]["instance"]
            for sample in prometheus.query(f'barctl_build_info{{job="barctl",cloud=~"{cloud}"}}')
        }
        assert instances == {f"127.0.0.1:{daemon.port}"}
    interval = {"east": "604800", "west": "86400"}
    for cloud, daemon in daemons.items():
        answered = 0
        for query in dashboard_queries(cloud):
            for sample in prometheus.query(query):
                answered += 1
                assert sample["metric"].get("instance") == f"127.0.0.1:{daemon.port}", query
                if "cloud" in sample["metric"]:
                    assert sample["metric"]["cloud"] == cloud, query
        assert answered >= 4
        # Panel "Time since last success vs. stale threshold", its expected-interval query.
        seen = {
            sample["metric"]["plan"]: sample["value"][1]
            for sample in prometheus.query(dashboard_queries(cloud)[4])
        }
        assert seen == {"undercloud": "86400", "controlplane": interval[cloud]}
    both = prometheus.query(dashboard_queries(".*")[4])
    assert sorted(sample["metric"]["cloud"] for sample in both) == ["east"] * 2 + ["west"] * 2
