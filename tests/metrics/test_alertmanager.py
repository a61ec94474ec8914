"""The shipped Alertmanager example (etc/alertmanager/alertmanager.yml) in a real Alertmanager.

Debian's /usr/bin/prometheus-alertmanager (package prometheus-alertmanager) runs as this test's
child on 127.0.0.1 with clustering off and a tmp storage directory, with the example's route and
inhibit_rules and its receivers emptied (nothing is sent anywhere); it is stopped by its PID.
Alerts are posted through its v2 API as Prometheus posts them; the same API reports, per alert,
whether it is inhibited and which receivers it is routed to.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.daemon.helpers import free_port
from tests.metrics.helpers import NO_PROXY, ServerProcess, wait_for

ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")
EXAMPLE = Path(__file__).resolve().parents[2] / "etc/alertmanager/alertmanager.yml"


class Alertmanager(ServerProcess):
    """An Alertmanager child process and its v2 API."""

    name = "alertmanager"

    def __init__(self, directory: Path) -> None:
        config = yaml.safe_load(EXAMPLE.read_text())
        config["receivers"] = [{"name": each["name"]} for each in config["receivers"]]
        (directory / "alertmanager.yml").write_text(yaml.safe_dump(config))
        address = f"127.0.0.1:{free_port()}"
        argv = [
            str(ALERTMANAGER),
            f"--config.file={directory / 'alertmanager.yml'}",
            f"--storage.path={directory / 'data'}",
            f"--web.listen-address={address}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]
        super().__init__(f"http://{address}", argv, directory / "alertmanager.log")

    def request(self, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base}{path}", data=data, headers={"Content-Type": "application/json"}
        )
        with NO_PROXY.open(request, timeout=5) as response:
            text = response.read()
        return json.loads(text) if text else None


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    if not ALERTMANAGER.exists():
        pytest.skip(f"{ALERTMANAGER} missing (Debian package prometheus-alertmanager)")
    server = Alertmanager(tmp_path)
    try:
        wait_for("alertmanager ready", server.ready, timeout=30)
        yield server
    finally:
        server.stop()


def alert(name: str, severity: str, instance: str, **labels: str) -> dict[str, Any]:
    """An alert as Prometheus sends it for barctl's job."""
    return {
        "labels": {
            "alertname": name,
            "severity": severity,
            "job": "barctl",
            "instance": instance,
            **labels,
        }
    }


def states(server: Alertmanager) -> dict[tuple[str, str, str], tuple[str, list[str]]]:
    """(alertname, instance, plan) -> (state, receivers) as the API reports them."""
    return {
        (
            each["labels"]["alertname"],
            each["labels"]["instance"],
            each["labels"].get("plan", ""),
        ): (each["status"]["state"], sorted(r["name"] for r in each["receivers"]))
        for each in server.request("/api/v2/alerts")
    }


def test_daemon_down_inhibits_its_own_stale_plans_and_degraded_nodes_page(
    alertmanager: Alertmanager,
) -> None:
    """With BarctlDaemonDown on one undercloud, its stale and never-succeeded plans are
    suppressed while another undercloud's stale plan still notifies; BarctlNodeDegraded goes
    to the pager, a warning to the backup team."""
    alertmanager.request(
        "/api/v2/alerts",
        [
            alert("BarctlDaemonDown", "warning", "ucd-a:17643"),
            alert("BarctlBackupStale", "critical", "ucd-a:17643", plan="undercloud"),
            alert("BarctlBackupNeverSucceeded", "warning", "ucd-a:17643", plan="controlplane"),
            alert("BarctlBackupStale", "critical", "ucd-b:17643", plan="undercloud"),
            alert(
                "BarctlNodeDegraded", "critical", "ucd-b:17643", plan="controlplane", node="ctl-1"
            ),
            alert("BarctlBackupFailed", "warning", "ucd-b:17643", plan="controlplane"),
        ],
    )
    expected = {
        ("BarctlDaemonDown", "ucd-a:17643", ""): ("active", ["backup-team"]),
        ("BarctlBackupStale", "ucd-a:17643", "undercloud"): ("suppressed", ["pager"]),
        ("BarctlBackupNeverSucceeded", "ucd-a:17643", "controlplane"): (
            "suppressed",
            ["backup-team"],
        ),
        ("BarctlBackupStale", "ucd-b:17643", "undercloud"): ("active", ["pager"]),
        ("BarctlNodeDegraded", "ucd-b:17643", "controlplane"): ("active", ["pager"]),
        ("BarctlBackupFailed", "ucd-b:17643", "controlplane"): ("active", ["backup-team"]),
    }
    wait_for("the inhibitions", lambda: states(alertmanager) == expected or None, timeout=30)


def test_example_passes_amtool_check_config() -> None:
    """amtool check-config accepts the shipped example as it is (receivers included)."""
    amtool = Path("/usr/bin/amtool")
    if not amtool.exists():
        pytest.skip(f"{amtool} missing (Debian package prometheus-alertmanager)")
    checked = subprocess.run(
        [str(amtool), "check-config", str(EXAMPLE)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "2 inhibit rules" in checked.stdout
