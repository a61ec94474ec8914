"""Rules generated for one cloud of a fleet, run by promtool against two clouds' series."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from barctl.config.policy import load_policy
from barctl.observe import alert_rules

EXAMPLE_POLICY = Path(__file__).resolve().parents[2] / "etc/barctl/policy.yaml"


def series(name: str, cloud: str, values: str, plan: str = "controlplane") -> dict[str, str]:
    """One input series of daemon `cloud` (instance named after it)."""
    labels = f'job="barctl",instance="{cloud}:17643",cloud="{cloud}",plan="{plan}"'
    return {"series": f"{name}{{{labels}}}", "values": values}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_east_rules_judge_east_by_its_schedule_and_west_by_the_interval_metric(
    tmp_path: Path,
) -> None:
    """With metrics.cloud east, east's weekly controlplane is not stale at 38 h (its threshold is
    10.5 days + 1 h) while west's daily controlplane, scraped by the same Prometheus, is: the
    other cloud falls back to barctl_plan_expected_interval_seconds, not east's thresholds."""
    policy_path = tmp_path / "east.yaml"
    policy_path.write_text(EXAMPLE_POLICY.read_text().replace("  cloud: null\n", "  cloud: east\n"))
    rules = alert_rules.rules_document(
        load_policy(policy_path),
        datetime(2026, 11, 30, tzinfo=timezone.utc),
        alert_rules.DEFAULT_RUNBOOK_BASE,
    )
    (tmp_path / "rules.yml").write_text(rules)
    inputs = []
    for cloud in ("east", "west"):
        inputs += [
            series("barctl_plan_last_success_timestamp_seconds", cloud, "1000x2400"),
            # East's metric says daily too: the generated threshold, not the metric, decides.
            series("barctl_plan_expected_interval_seconds", cloud, "86400x2400"),
            series("barctl_plan_enabled", cloud, "1x2400"),
        ]
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": inputs,
                "promql_expr_test": [
                    {
                        "expr": 'ALERTS{alertname="BarctlBackupStale",alertstate="firing"}',
                        "eval_time": "38h",
                        "exp_samples": [
                            {
                                "labels": 'ALERTS{alertname="BarctlBackupStale",'
                                'alertstate="firing",severity="critical",job="barctl",'
                                'instance="west:17643",cloud="west",plan="controlplane"}',
                                "value": 1,
                            }
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    checked = subprocess.run(
        ["promtool", "test", "rules", str(tmp_path / "test.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
