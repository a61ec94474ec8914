"""`barctl alert-rules`: rules generated from the policy, thresholds from the plans' schedules."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from barctl.config.policy import ControlplanePlan, load_policy
from barctl.console.cli import main
from barctl.observe import alert_rules

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE_POLICY = REPOSITORY / "etc/barctl/policy.yaml"
SHIPPED_RULES = REPOSITORY / "etc/prometheus/barctl-alerts.yml"
START = datetime(2026, 11, 30, tzinfo=timezone.utc)
# Every alert of the hand-written rules file this generator replaced (issues 6, 9 and 11).
ALERTS_BEFORE = {
    "BarctlBackupFailed",
    "BarctlBackupRefused",
    "BarctlBackupStale",
    "BarctlBackupNeverSucceeded",
    "BarctlBackupHung",
    "BarctlNodeDegraded",
    "BarctlPolicyReloadFailed",
    "BarctlHistoryUnreadable",
    "BarctlDaemonDown",
    "BarctlDaemonAbsent",
    "BarctlTargetWillFill",
    "BarctlBackupSizeDropped",
    "BarctlVerificationFailed",
    "BarctlDrillFailing",
    "BarctlDrillStale",
}
POLICY = """\
inventory:
  path: /home/stack/tripleo-inventory.yaml
backup_target:
  nfs: {server: 192.168.24.250, export: /ctl_plane_backups}
plans:
"""


def rules_of(text: str) -> dict[str, list[dict[str, object]]]:
    """Alert name -> its rules (a name has one rule per plan for the staleness alerts)."""
    found: dict[str, list[dict[str, object]]] = {}
    for group in yaml.safe_load(text)["groups"]:
        for rule in group["rules"]:
            found.setdefault(rule["alert"], []).append(rule)
    return found


def generate(tmp_path: Path, plans: str, base: str = alert_rules.DEFAULT_RUNBOOK_BASE) -> str:
    """The rules for a policy with `plans` (YAML lines under plans:)."""
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY + plans)
    return alert_rules.rules_document(load_policy(path), START, base)


def test_shipped_rules_are_the_generated_rules_of_the_example_policy() -> None:
    """etc/prometheus/barctl-alerts.yml is exactly `barctl alert-rules` for etc/barctl/policy.yaml
    (regenerate with: barctl -c etc/barctl/policy.yaml alert-rules --output FILE)."""
    generated = alert_rules.rules_document(
        load_policy(EXAMPLE_POLICY), START, alert_rules.DEFAULT_RUNBOOK_BASE
    )
    assert SHIPPED_RULES.read_text() == generated


def test_every_alert_that_existed_is_still_generated() -> None:
    """The generated file names the same 15 alerts the hand-written one did."""
    assert set(rules_of(SHIPPED_RULES.read_text())) == ALERTS_BEFORE


def test_weekly_plan_threshold_is_ten_and_a_half_days_plus_an_hour(tmp_path: Path) -> None:
    """A weekly plan is stale after 1.5 weeks + 1 h, a daily one after 37 h, from the cron."""
    text = generate(
        tmp_path,
        '  undercloud: {schedule: "30 1 * * *"}\n  controlplane: {schedule: "30 2 * * sun"}\n',
    )
    stale = {
        rule["labels"].get("plan"): rule["expr"] for rule in rules_of(text)["BarctlBackupStale"]
    }  # type: ignore[union-attr]
    assert "> 133200\n" in str(stale["undercloud"])
    assert "> 910800\n" in str(stale["controlplane"])
    assert 'plan="controlplane"' in str(stale["controlplane"])


def test_weekday_plan_allows_the_weekend_gap() -> None:
    """mon-fri: the longest gap is Friday to Monday (3 days), not the next slot's one day."""
    plan = ControlplanePlan(schedule="30 2 * * mon-fri")
    assert alert_rules.stale_threshold_seconds(plan, START) == int(3 * 86400 * 1.5) + 3600


def test_interval_plan_threshold_is_its_interval() -> None:
    """interval_seconds: 3600 gives 1.5 h + 1 h."""
    plan = ControlplanePlan(interval_seconds=3600)
    assert alert_rules.stale_threshold_seconds(plan, START) == 9000


def test_plans_missing_from_the_policy_keep_the_metric_based_rule(tmp_path: Path) -> None:
    """With only undercloud in the policy, a controlplane added later is still watched, through
    barctl_plan_expected_interval_seconds, and undercloud is not counted twice."""
    rules = rules_of(generate(tmp_path, '  undercloud: {schedule: "30 1 * * *"}\n'))
    for name in ("BarctlBackupStale", "BarctlBackupNeverSucceeded"):
        others = [rule for rule in rules[name] if "plan" not in rule["labels"]]  # type: ignore[operator]
        assert len(rules[name]) == 2 and len(others) == 1
        assert '{plan!~"undercloud"}' in str(others[0]["expr"])
        assert "barctl_plan_expected_interval_seconds" in str(others[0]["expr"])


def test_drill_threshold_follows_the_drill_schedule(tmp_path: Path) -> None:
    """A daily drill gives BarctlDrillStale 37 h, without the interval metric."""
    text = generate(
        tmp_path,
        '  undercloud: {schedule: "30 1 * * *"}\n  drill: {schedule: "0 5 * * *"}\n',
    )
    (drill,) = rules_of(text)["BarctlDrillStale"]
    assert "> 133200\n" in str(drill["expr"])
    assert "barctl_drill_expected_interval_seconds" not in str(drill["expr"])


def test_runbook_links_are_under_the_operator_base(tmp_path: Path) -> None:
    """Every runbook_url is BASE#<alert lower-cased>."""
    base = "https://docs.example.net/barctl/monitoring.html"
    rules = rules_of(generate(tmp_path, '  undercloud: {schedule: "30 1 * * *"}\n', base))
    for name, each in rules.items():
        for rule in each:
            assert rule["annotations"]["runbook_url"] == f"{base}#{name.lower()}"  # type: ignore[index]


@pytest.mark.parametrize("base", ["file:///usr/share/doc/barctl/monitoring.md", "docs#x", ""])
def test_cli_refuses_a_runbook_base_that_is_not_http(
    base: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A non-http(s) base exits 2 with one line naming --runbook-base, no traceback."""
    code = main(["-c", str(EXAMPLE_POLICY), "alert-rules", "--runbook-base", base])
    assert code == 2
    assert "--runbook-base: expected an http:// or https:// URL" in capsys.readouterr().err


def test_cli_writes_the_rules_to_the_output_file(tmp_path: Path) -> None:
    """--output FILE holds the same rules the shipped file has, for the example policy."""
    output = tmp_path / "rules.yml"
    assert main(["-c", str(EXAMPLE_POLICY), "alert-rules", "--output", str(output)]) == 0
    assert rules_of(output.read_text()) == rules_of(SHIPPED_RULES.read_text())
