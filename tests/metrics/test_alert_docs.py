"""The shipped alert rules and their runbooks in docs/monitoring.md stay in step."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from barctl.observe.alert_rules import DEFAULT_RUNBOOK_BASE

REPOSITORY = Path(__file__).resolve().parents[2]
RULES = REPOSITORY / "etc/prometheus/barctl-alerts.yml"
DOCS = REPOSITORY / "docs/monitoring.md"


def test_every_rule_has_severity_summary_description_and_a_documented_runbook_anchor() -> None:
    """Each alert has severity, summary, description and a runbook_url whose anchor is a heading."""
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in DOCS.read_text().splitlines()
        if line.startswith("#")
    }
    rules = [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]
    assert len({rule["alert"] for rule in rules}) == 15
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(f"{DEFAULT_RUNBOOK_BASE}#"), url
        anchor = url.partition("#")[2]
        assert anchor == rule["alert"].lower()
        assert anchor in headings, f"docs/monitoring.md has no heading for {rule['alert']}"
