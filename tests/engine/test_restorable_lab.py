"""Restore runbooks and restore drills over real runs in the lab (issue 11 items 7 and 8).

Each test backs up through the real CLI (rear stand-in writing ISO and archive to the backup
node's export, barctl verifying them and writing the restore material and the manifest), then
reads what is on the export as an operator would: `barctl restore-runbook` must name only paths
that exist there, and `barctl run drill` must prove them, or name the file that changed.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from barctl.config.inventory import load_inventory
from barctl.config.policy import load_policy
from barctl.observe.metrics import MetricsSource, render
from lab import Lab
from tests.engine.helpers import barctl, changes, history, policy_for, run_backup
from tests.metrics.helpers import parse, value

pytestmark = pytest.mark.lab

EXPORT = "/ctl_plane_backups"
TARGET_PATH = re.compile(rf"{EXPORT}(?:/[^\s'\"`]+)?")


def node_rows(run: dict[str, object]) -> dict[str, dict[str, str]]:
    """A `history --json` run's node rows by node."""
    rows = run["nodes"]
    assert isinstance(rows, list)
    return {str(row["node"]): row for row in rows}


def on_export(lab: Lab, path: str) -> Path:
    """Where a path of the backup node's export is in the lab."""
    assert path == EXPORT or path.startswith(f"{EXPORT}/"), path
    return lab.export_directory / path[len(EXPORT) :].lstrip("/")


@pytest.mark.parametrize(
    ("node", "plan"), [("ctl-0", "controlplane"), ("undercloud", "undercloud")]
)
def test_runbook_names_only_paths_that_exist_on_the_target(
    lab: Lab, tmp_path: Path, node: str, plan: str
) -> None:
    """After a real run, the runbook of a controller and of the undercloud (text and JSON) is
    for that run, and every path of the backup node it names exists on the lab's export: ISO,
    archive, and the run's dump when the target holds it."""
    policy = policy_for(lab, tmp_path)
    run = run_backup(policy, plan)
    text = barctl(policy, "restore-runbook", node)
    assert text.exit_code == 0, text.stdout + text.stderr
    document = barctl(policy, "restore-runbook", node, run, "--json")
    assert document.exit_code == 0, document.stderr
    book = json.loads(document.stdout)
    assert (book["schema"], book["node"], book["run_id"]) == ("barctl.restore-runbook/1", node, run)
    assert f"NETFS_PREFIX={node}/{run}" in text.stdout
    named = set(book["paths_on_target"]) | set(TARGET_PATH.findall(text.stdout))
    missing = [path for path in sorted(named) if not on_export(lab, path).exists()]
    assert not missing, missing
    assert {"iso", "archive"} <= {item["kind"] for item in book["files"]}
    # The run's dump is named where the manifest lists it (the restore material on the
    # target), and fetched from there; without it the database section says so.
    dump = f"{EXPORT}/{node}/{run}/restore/openstack-backup-mysql.sql"
    if any(item["kind"] == "database_dump" for item in book["files"]):
        assert dump in book["paths_on_target"]
        assert dump.replace(EXPORT, "/mnt/barctl-target") in text.stdout
    else:
        assert f"Run {run} has no database dump" in text.stdout


def test_drill_proves_real_runs_and_names_a_tampered_file(lab: Lab, tmp_path: Path) -> None:
    """A drill after real runs of both plans succeeds for every node, changing nothing on any
    node; after one byte of ctl-1's ISO changes on the target, the drill fails (exit 1)
    naming ctl-1 and the file, and the other nodes still pass."""
    policy = policy_for(lab, tmp_path)
    run_backup(policy, "controlplane")
    run = run_backup(policy, "undercloud")
    lab.clear_invocations()
    good = barctl(policy, "run", "drill", timeout=300)
    assert good.exit_code == 0, good.stdout + good.stderr
    assert changes(lab) == []
    latest = history(policy)[0]
    assert (latest["plan"], latest["outcome"]) == ("drill", "success")
    rows = node_rows(latest)
    assert {node: row["outcome"] for node, row in rows.items()} == {
        "undercloud": "success", "ctl-0": "success", "ctl-1": "success", "ctl-2": "success",
    }  # fmt: skip
    assert rows["undercloud"]["reason"] == f"run {run} restorable"
    controlplane = str(next(r for r in history(policy) if r["plan"] == "controlplane")["run_id"])
    # One byte of ctl-1's ISO changes on the target (in its last, padding sector: the image
    # still reads, only its checksum tells).
    iso = on_export(lab, f"{EXPORT}/ctl-1/{controlplane}/ctl-1-{controlplane}.iso")
    data = bytearray(iso.read_bytes())
    data[-1] ^= 0xFF
    iso.write_bytes(bytes(data))
    bad = barctl(policy, "run", "drill", timeout=300)
    assert bad.exit_code == 1, bad.stdout + bad.stderr
    assert "ctl-1: run " in bad.stdout
    assert f"ctl-1-{controlplane}.iso: sha256 " in bad.stdout
    rows = node_rows(history(policy)[0])
    assert rows["ctl-1"]["outcome"] == "failed"
    assert rows["ctl-0"]["outcome"] == rows["undercloud"]["outcome"] == "success"


def test_metrics_after_real_runs_a_failed_verification_and_a_drill(
    lab: Lab, tmp_path: Path
) -> None:
    """Real runs read by the metrics: a verified undercloud backup gives sizes per artifact and
    its verified time; a truncated archive the next night sets verification failed, the
    previous verified sizes kept; a drill's success time follows; the gate's df reading is the
    target's free bytes."""
    policy = policy_for(lab, tmp_path, plans={"drill": {"covers": ["undercloud"]}})
    run_backup(policy, "undercloud")
    lab.set_rear(corrupt="truncated_archive", host="undercloud")
    failed = barctl(policy, "run", "undercloud", timeout=300)
    assert failed.exit_code == 1, failed.stdout + failed.stderr
    lab.set_rear(corrupt="")
    assert barctl(policy, "run", "drill", timeout=300).exit_code == 0
    loaded = load_policy(policy)
    inventory = load_inventory(str(loaded.inventory.path))
    source = MetricsSource(
        lambda: loaded,
        lambda: inventory,
        loaded.state_directory,
        lambda: datetime.now(timezone.utc),
    )
    samples = parse(render(source))
    node = {"plan": "undercloud", "node": "undercloud"}
    assert value(samples, "barctl_node_verification_failed", **node) == 1
    assert value(samples, "barctl_node_backup_size_bytes", **node, artifact="archive") > 0
    assert value(samples, "barctl_node_backup_size_bytes", **node, artifact="iso") > 0
    assert value(samples, "barctl_node_last_verified_timestamp_seconds", **node) > 0
    assert value(samples, "barctl_node_last_drill_success_timestamp_seconds", **node) > 0
    assert value(samples, "barctl_node_drill_failing", **node) == 0
    assert value(samples, "barctl_target_free_bytes") > 0
