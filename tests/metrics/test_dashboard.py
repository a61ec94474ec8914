"""The shipped Grafana dashboard: valid JSON, well-formed panels, PromQL that Prometheus parses."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.metrics.helpers import DASHBOARD, panel_queries

VARIABLES = {"$job": "barctl", "$cloud": ".*", "$instance": ".*", "$__range": "7d"}


def expressions(dashboard: dict[str, Any]) -> list[str]:
    """The dashboard's panel queries over every cloud and instance, a 7 d range."""
    return panel_queries(dashboard, VARIABLES)


def test_dashboard_is_importable_json_with_unique_panels() -> None:
    """The dashboard parses, has a uid, a Prometheus datasource variable and unique panel ids."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "barctl-backups"
    assert dashboard["templating"]["list"][0]["type"] == "datasource"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"]
    used = " ".join(expressions(dashboard))
    for metric in ("barctl_plan_last_outcome", "barctl_node_reachable", "barctl_node_degraded",
                   "barctl_plan_run_duration_seconds", "barctl_node_backup_size_bytes",
                   "barctl_plan_expected_interval_seconds"):  # fmt: skip
        assert metric in used


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Each panel query, variables substituted, passes `promtool check rules` as a rule."""
    dashboard = json.loads(DASHBOARD.read_text())
    rules = [
        {"record": f"barctl:dashboard_query_{index}", "expr": expression}
        for index, expression in enumerate(expressions(dashboard))
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
