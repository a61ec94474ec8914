"""Every `--json` document: one object, its schema id first, and exactly the keys docs/json.md
documents (the test reads the document, so code and docs stay in step)."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from barctl import redaction
from barctl.console import cli, cli_parser, json_views, runbook_output, target_report
from barctl.console.runbook import RunFile, Subject
from barctl.history.records import Artifact
from barctl.history.store import Store, history_path
from barctl.outcome import NodeOutcome, RunOutcome, Trigger
from barctl.run import gate, gate_probe, manifest
from barctl.run.prune import PruneResult
from barctl.run.rear_config import RearTarget
from barctl.run.retention import Rules, decide
from barctl.run.target_listing import Listing, RunDirectory, judge
from barctl.service import daemon_state
from tests.cli_site import VALID_POLICY, write_policy
from tests.target_runs import run_files, run_id, sample

REPOSITORY = Path(__file__).resolve().parents[2]
DOCUMENT = REPOSITORY / "docs" / "json.md"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
POLICY = VALID_POLICY + "runtime_directory: DIRECTORY/run\n"


def documented() -> dict[str, set[str]]:
    """docs/json.md's key paths per schema id: each `## barctl.X/1` section's table rows."""
    schemas: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in DOCUMENT.read_text().splitlines():
        heading = re.match(r"^## `(barctl\.[a-z-]+/\d+)`", line)
        if heading:
            current = schemas.setdefault(heading.group(1), set())
            continue
        row = re.match(r"^\| `([^`]+)` \|", line)
        if row and current is not None:
            current.add(row.group(1))
    return schemas


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON value: `a.b`, list items as `a[].b` (union over the items)."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths |= {path} | key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            paths |= key_paths(item, f"{prefix}[]")
    return paths


def assert_documented(text: str, command: str) -> dict[str, Any]:
    """`text` parses as one object with the command's schema id and exactly the documented keys."""
    value = json.loads(text)
    assert next(iter(value.items())) == ("schema", f"barctl.{command}/1")
    assert key_paths(value) == documented()[f"barctl.{command}/1"]
    return dict(value)


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    """A valid policy over the train inventory, with a history holding one finished run."""
    path = write_policy(tmp_path, POLICY)
    (tmp_path / "state").mkdir()
    with Store.open(history_path(tmp_path / "state")) as store:
        store.start_run("R1", "undercloud", Trigger.MANUAL, NOW, pid=os.getpid())
        artifact = Artifact("/ctl_plane_backups/undercloud/R1/backup.tar.gz", 2048)
        store.record_node("R1", "undercloud", NodeOutcome.SUCCESS, [artifact], "", now=NOW)
        store.finish_run("R1", RunOutcome.SUCCESS, NOW + timedelta(minutes=9), "1 node backed up")
    return path


def run_cli(policy: Path, capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    """`barctl -c POLICY ARGUMENTS --json`'s stdout, after asserting it exited 0."""
    assert cli.main(["-c", str(policy), *arguments, "--json"]) == 0
    return capsys.readouterr().out


def test_inventory_json_exits_0_with_every_plans_nodes(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`inventory --json` (which exited 2 before) lists each plan's nodes and target."""
    value = assert_documented(run_cli(policy, capsys, "inventory"), "inventory")
    plans = {plan["plan"]: plan for plan in value["plans"]}
    assert [node["name"] for node in plans["undercloud"]["nodes"]] == ["undercloud"]
    assert len(plans["controlplane"]["nodes"]) >= 1
    assert plans["controlplane"]["target"]["directory"] == "/ctl_plane_backups"


def test_plan_json_holds_each_steps_command_and_rear_files(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plan --json`: phases with each step's exact command, and every node's local.conf."""
    value = assert_documented(run_cli(policy, capsys, "plan", "controlplane"), "plan")
    commands = [
        step["command"]
        for phase in value["phases"]
        for node in phase["nodes"]
        for step in node["steps"]
    ]
    assert any(command and command.startswith("rear ") for command in commands)
    paths = {item["path"] for node in value["rear"] for item in node["files"]}
    assert "/etc/rear/local.conf" in paths


def test_status_and_history_json(policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`status --json` has the daemon (here from a state file) and a row per plan,
    `history --json` the recorded run with its node."""
    runs = {"undercloud": NOW, "controlplane": None}
    text = daemon_state.render(os.getpid(), NOW, policy, runs, NOW)
    daemon_state.write(policy.parent / "run", text)
    status = assert_documented(run_cli(policy, capsys, "status"), "status")
    assert status["daemon"]["state"] == "stale state file"
    assert [row["plan"] for row in status["plans"]] == ["undercloud", "controlplane", "drill"]
    history = assert_documented(run_cli(policy, capsys, "history"), "history")
    assert history["runs"][0]["nodes"][0]["node"] == "undercloud"


def test_precheck_json_names_each_refusing_node_with_its_reasons() -> None:
    """`precheck --json`: passed false, ok nodes true, refusing nodes with every reason."""
    probes = (gate_probe.Probe("ctl-0"), gate_probe.Probe("ctl-1", "connect timeout"))
    target = gate_probe.Probe("backup-0", free_bytes=10**9)
    verdict = gate.GateResult(probes, target, gate.evaluate(probes, target, pacemaker=True))
    text = json_views.render("precheck", json_views.precheck_body("controlplane", verdict))
    value = assert_documented(text, "precheck")
    nodes = {node["node"]: node for node in value["nodes"]}
    assert value["passed"] is False
    assert nodes["ctl-1"]["ok"] is False and nodes["ctl-1"]["reasons"] == ["connect timeout"]
    assert nodes["backup-0"]["free_bytes"] == 10**9


def target_listing() -> Listing:
    """ctl-0 with a verified run and an older one without a manifest."""
    newer, older = run_id(NOW - timedelta(days=1)), run_id(NOW - timedelta(days=2))
    text = manifest.render(sample("ctl-0", newer, files=run_files("ctl-0", newer)))
    runs = (
        judge(RunDirectory("ctl-0", newer, NOW - timedelta(days=1), "controlplane"), text, "m"),
        judge(
            RunDirectory("ctl-0", older, NOW - timedelta(days=2), "controlplane", (("x", 1),)),
            None,
            "m",
        ),
    )
    return Listing("/ctl_plane_backups", runs)


def test_backups_and_prune_json() -> None:
    """`backups --json` and `prune --json` carry their runs under their schema ids."""
    rows = target_report.backup_rows(target_listing())
    backups = assert_documented(json_views.render("backups", {"runs": rows}), "backups")
    assert [row["state"] for row in backups["runs"]] == ["verified", "incomplete"]
    runs = [run.target_run() for run in target_listing().runs]
    verdicts = decide(runs, Rules(1, 0, timedelta(hours=1)), NOW)
    result = PruneResult("controlplane", "/b", verdicts, dry_run=True)
    pruned = assert_documented(
        json_views.render("prune", target_report.prune_body(result)), "prune"
    )
    assert [row["action"] for row in pruned["runs"]] == ["keep", "delete"]


def test_restore_runbook_json() -> None:
    """`restore-runbook --json` carries barctl.restore-runbook/1 and the documented keys."""
    target = RearTarget("nfs", "198.18.0.14", "/ctl_plane_backups")
    base = "/ctl_plane_backups/undercloud/R1"
    files = (
        RunFile("iso", f"{base}/undercloud-R1.iso", 4096, "a" * 64),
        RunFile("archive", f"{base}/backup.tar.gz", 8192, "b" * 64),
    )
    subject = Subject(
        "undercloud", "198.18.0.10", "undercloud", "R1", target, "backup-0", "198.18.0.14",
        "backup.tar.gz", files,
    )  # fmt: skip
    book = runbook_output.build(subject)
    assert_documented(json.dumps(runbook_output.to_json(book)), "restore-runbook")


def test_every_documented_schema_is_a_command_with_json() -> None:
    """docs/json.md documents one schema per command that takes --json, and no other."""
    parser = cli_parser.build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    with_json = {
        name
        for name, sub in commands.items()
        if any("--json" in action.option_strings for action in sub._actions)
    }
    assert {schema[len("barctl.") : -2] for schema in documented()} == with_json


def test_printed_documents_mask_registered_secrets() -> None:
    """A registered secret reaching a document is printed as ***."""
    redaction.register_secret("Galera-Root-7f3b9c")
    try:
        text = json_views.render("history", {"runs": [{"summary": "pw Galera-Root-7f3b9c"}]})
    finally:
        redaction.SECRETS.clear()
    assert "Galera-Root-7f3b9c" not in text and "***" in text
