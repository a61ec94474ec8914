"""Retention and `barctl backups` against the lab's backup node over SSH (issue 11 items 4, 6).

Runs are laid out on the backup node's export as the manifest contract says
(tests.target_runs.write_run: ISO, archive, restore material, manifest written last), so
listing, judging and deleting go through the real find, head and rm on backup-0 over SSH.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from barctl.history.records import Artifact
from barctl.history.store import Store
from barctl.outcome import NodeOutcome, RunOutcome, Trigger
from lab import Lab
from tests.engine.helpers import barctl, changes, history, set_up
from tests.target_runs import run_id, write_run

pytestmark = pytest.mark.lab

CONTROLLERS = ("ctl-0", "ctl-1", "ctl-2")
GIB = 1 << 30


def policy(lab: Lab, tmp_path: Path, keep_last: int = 2) -> Path:
    """The lab's policy with this test's own state and runtime directories and retention."""
    retention = {"keep_last": keep_last, "keep_days": 0}
    return lab.write_policy(
        tmp_path / "policy.yaml",
        state_directory=str(tmp_path / "state"),
        runtime_directory=str(tmp_path / "run"),
        plans={"controlplane": {"retention": retention}},
    )


def runs_ago(count: int) -> list[str]:
    """Ids of `count` controlplane runs, one a day, newest first."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return [run_id(now - timedelta(days=day + 1)) for day in range(count)]


def on_target(lab: Lab, node: str) -> list[str]:
    """The run directories of `node` on the export, newest first."""
    where = lab.export_directory / node
    return sorted((path.name for path in where.iterdir()), reverse=True) if where.exists() else []


def tree(lab: Lab) -> list[str]:
    """Every path under the export, relative, sorted: what a read-only command must not change."""
    return sorted(
        str(path.relative_to(lab.export_directory)) for path in lab.export_directory.rglob("*")
    )


def prunes(tmp_path: Path) -> list[dict[str, Any]]:
    """The history's prune rows."""
    with sqlite3.connect(tmp_path / "state" / "history.db") as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute("SELECT * FROM prunes ORDER BY id")]


def test_keep_last_two_leaves_the_newest_two_runs_per_node(lab: Lab, tmp_path: Path) -> None:
    """Four verified runs per controller, keep_last 2: prune leaves exactly the newest two of
    each, every deletion recorded; no cluster command ran."""
    ids = runs_ago(4)
    for node in CONTROLLERS:
        for run in ids:
            write_run(lab.export_directory, node, run)
    path = policy(lab, tmp_path)
    result = barctl(path, "prune", "controlplane")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "deleted 6 of 12 runs" in result.stdout
    for node in CONTROLLERS:
        assert on_target(lab, node) == ids[:2]
    rows = prunes(tmp_path)
    assert sorted((row["node"], row["run_id"], row["state"]) for row in rows) == sorted(
        (node, run, "deleted") for node in CONTROLLERS for run in ids[2:]
    )
    assert {row["path"] for row in rows} == {
        f"/ctl_plane_backups/{node}/{run}" for node in CONTROLLERS for run in ids[2:]
    }
    assert changes(lab) == []


def test_failed_verification_never_causes_a_prune(lab: Lab, tmp_path: Path) -> None:
    """ctl-1's newest run failed verification: its four older verified runs all stay, while
    the other controllers are pruned to two."""
    newest, *older = runs_ago(5)
    for node in CONTROLLERS:
        for run in older:
            write_run(lab.export_directory, node, run)
        write_run(
            lab.export_directory, node, newest, state="failed" if node == "ctl-1" else "verified"
        )
    result = barctl(policy(lab, tmp_path), "prune", "controlplane")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert on_target(lab, "ctl-1") == [newest, *older]
    assert on_target(lab, "ctl-0") == [newest, older[0]]
    assert all(row["node"] != "ctl-1" for row in prunes(tmp_path))


def test_dry_run_deletes_nothing_and_says_what_would_go(lab: Lab, tmp_path: Path) -> None:
    """`prune --dry-run` names the runs it would delete and changes nothing on any host."""
    ids = runs_ago(3)
    for run in ids:
        write_run(lab.export_directory, "ctl-0", run)
    before = tree(lab)
    result = barctl(policy(lab, tmp_path, keep_last=1), "prune", "controlplane", "--dry-run")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "would delete 2 of 3 runs" in result.stdout
    assert f"ctl-0 {ids[2]} verified   DELETE" in result.stdout
    assert tree(lab) == before
    assert changes(lab) == []


def test_backups_lists_exactly_what_is_there_also_without_history(lab: Lab, tmp_path: Path) -> None:
    """`barctl backups --json` lists every run on the target, newest first per node, with its
    paths, and lists the same after the history database is deleted."""
    ids = runs_ago(3)
    write_run(lab.export_directory, "ctl-0", ids[0], state="failed")
    write_run(lab.export_directory, "ctl-0", ids[1])
    write_run(lab.export_directory, "ctl-0", ids[2], state="incomplete")
    write_run(lab.export_directory, "ctl-2", ids[1])
    path = policy(lab, tmp_path)
    pruned = barctl(path, "prune", "controlplane")  # holds ctl-0, keeps ctl-2: a history, no change
    assert pruned.exit_code == 0, pruned.stdout + pruned.stderr
    assert "deleted 0 of 4 runs" in pruned.stdout
    before = tree(lab)
    first = barctl(path, "backups", "--json")
    assert first.exit_code == 0, first.stdout + first.stderr
    document = json.loads(first.stdout)
    assert document["schema"] == "barctl.backups/1"
    rows = document["runs"]
    assert [(row["node"], row["run_id"], row["state"]) for row in rows] == [
        ("ctl-0", ids[0], "failed"),
        ("ctl-0", ids[1], "verified"),
        ("ctl-0", ids[2], "incomplete"),
        ("ctl-2", ids[1], "verified"),
    ]
    assert rows[0]["verification"]["reason"].startswith("archive: gzip -t failed")
    base = f"/ctl_plane_backups/ctl-0/{ids[1]}"
    assert rows[1]["iso"] == f"{base}/ctl-0-{ids[1]}.iso"
    assert rows[1]["archive"] == f"{base}/backup.tar.gz"
    assert rows[1]["restore"] == [f"{base}/restore/openstack-backup-mysql.sql"]
    assert rows[2]["iso"] is None and len(rows[2]["files"]) == 3
    for row in rows:
        for listed in (row["iso"], row["archive"], *row["restore"], *row["files"]):
            if listed:
                assert (lab.export_directory / listed.removeprefix("/ctl_plane_backups/")).is_file()
    (tmp_path / "state" / "history.db").unlink()
    again = barctl(path, "backups", "--json")
    assert again.exit_code == 0, again.stdout + again.stderr
    assert json.loads(again.stdout) == document
    only = json.loads(barctl(path, "backups", "ctl-2", "--json").stdout)["runs"]
    assert [row["run_id"] for row in only] == [ids[1]]
    assert tree(lab) == before
    assert changes(lab) == []


def test_target_nearly_full_is_refused_with_the_numbers(lab: Lab, tmp_path: Path) -> None:
    """Last verified sizes 3 GiB per controller, 20% margin, 5 GiB free (floor 1 MiB): the next
    run would not fit; refused naming free, need and sizes, nothing changed anywhere."""
    path = policy(lab, tmp_path)
    (tmp_path / "state").mkdir()
    started = datetime.now(timezone.utc) - timedelta(days=1)
    with Store.open(tmp_path / "state" / "history.db") as store:
        store.start_run("earlier", "controlplane", Trigger.SCHEDULED, started, 1)
        for node in CONTROLLERS:
            artifact = Artifact(f"/ctl_plane_backups/{node}/earlier/backup.tar.gz", 3 * GIB)
            store.record_node("earlier", node, NodeOutcome.SUCCESS, [artifact], "", now=started)
        store.finish_run("earlier", RunOutcome.SUCCESS, started, "")
    lab.set_free_space("backup-0", 5 * GIB)
    result = barctl(path, "run", "controlplane")
    assert result.exit_code == 3, result.stdout + result.stderr
    assert (
        "REFUSED  backup-0: 5 GiB free under /ctl_plane_backups: the next run would not fit, it"
        " needs about 10.8 GiB (last verified sizes ctl-0 3 GiB + ctl-1 3 GiB + ctl-2 3 GiB ="
        " 9 GiB, plus 20%, backup_target.space_margin_percent)"
    ) in result.stdout
    assert changes(lab) == []
    precheck = barctl(path, "precheck", "controlplane")
    assert precheck.exit_code == 3 and "the next run would not fit" in precheck.stdout


def test_unreachable_target_deletes_nothing_and_exits_3(lab: Lab, tmp_path: Path) -> None:
    """backup-0's sshd stopped: prune and backups say they cannot list it, exit 3, and every
    run stays."""
    ids = runs_ago(3)
    for run in ids:
        write_run(lab.export_directory, "ctl-0", run)
    lab.stop_sshd("backup-0")
    path = policy(lab, tmp_path, keep_last=1)
    for arguments in (("prune", "controlplane"), ("backups",)):
        result = barctl(path, *arguments)
        assert result.exit_code == 3, result.stdout + result.stderr
        assert "cannot list /ctl_plane_backups on backup-0: connection refused" in result.stderr
    assert on_target(lab, "ctl-0") == ids


def test_four_real_runs_then_keep_last_two(lab: Lab, tmp_path: Path) -> None:
    """Four real controlplane runs, each verified on the target and its manifest written by
    barctl; prune with keep_last 2 leaves exactly the newest two runs per controller, which
    `barctl backups` lists, also without history.db. A fifth run failing verification on ctl-1
    then prunes nothing of ctl-1."""
    path = policy(lab, tmp_path)
    set_up(path, "controlplane")
    ids = []
    for _ in range(4):
        result = barctl(path, "run", "controlplane", timeout=300)
        assert result.exit_code == 0, result.stdout + result.stderr
        ids.insert(0, str(history(path)[0]["run_id"]))
    pruned = barctl(path, "prune", "controlplane")
    assert pruned.exit_code == 0, pruned.stdout + pruned.stderr
    for node in CONTROLLERS:
        assert on_target(lab, node) == ids[:2]
    (tmp_path / "state" / "history.db").unlink()
    listed = json.loads(barctl(path, "backups", "--json").stdout)["runs"]
    assert [(row["node"], row["run_id"], row["state"]) for row in listed] == [
        (node, run, "verified") for node in CONTROLLERS for run in ids[:2]
    ]
    lab.set_rear(corrupt="truncated_archive", host="ctl-1")
    failed = barctl(path, "run", "controlplane", timeout=300)
    assert failed.exit_code == 1, failed.stdout + failed.stderr
    newest = str(history(path)[0]["run_id"])
    assert barctl(path, "prune", "controlplane").exit_code == 0
    assert on_target(lab, "ctl-1") == [newest, *ids[:2]]
