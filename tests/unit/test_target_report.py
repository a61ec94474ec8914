"""`barctl prune` and `barctl backups` as operators read them (barctl.console.target_report)."""

from __future__ import annotations

from datetime import datetime, timedelta

from barctl.console import target_report
from barctl.run import manifest
from barctl.run.prune import PruneResult
from barctl.run.retention import Rules, decide
from barctl.run.target_listing import Listing, RunDirectory, judge
from tests.target_runs import run_files, run_id, sample

NOW = datetime.fromisoformat("2026-11-30T12:00:00+00:00")
NEWER, OLDER = run_id(NOW - timedelta(days=1)), run_id(NOW - timedelta(days=2))


def listing() -> Listing:
    """ctl-0 with a verified run and an older one without a manifest."""
    files = run_files("ctl-0", NEWER)
    text = manifest.render(sample("ctl-0", NEWER, files=files))
    newer = RunDirectory("ctl-0", NEWER, NOW - timedelta(days=1), "controlplane")
    older = RunDirectory(
        "ctl-0", OLDER, NOW - timedelta(days=2), "controlplane", (("backup.tar.gz", 2048),)
    )
    return Listing("/ctl_plane_backups", (judge(newer, text, "m"), judge(older, None, "m")))


def test_backups_text_names_every_path_newest_first() -> None:
    """Per node, each run with time, id, state and size, then its ISO, archive and restore
    material; a run without a manifest shows the files found."""
    base = f"/ctl_plane_backups/ctl-0/{NEWER}"
    size = sum(len(content) for content in run_files("ctl-0", NEWER).values())
    text = target_report.backups_text(target_report.backup_rows(listing()))
    assert text.splitlines() == [
        "ctl-0",
        f"  {manifest.rfc3339(NOW - timedelta(days=1))}  {NEWER}  verified  {size} bytes",
        f"    iso      {base}/ctl-0-{NEWER}.iso",
        f"    archive  {base}/backup.tar.gz",
        f"    restore  {base}/restore/openstack-backup-mysql.sql",
        f"  {manifest.rfc3339(NOW - timedelta(days=2))}  {OLDER}  incomplete  2 KiB",
        f"    file     /ctl_plane_backups/ctl-0/{OLDER}/backup.tar.gz",
    ]


def test_prune_text_says_what_each_run_became() -> None:
    """Dry: DELETE/KEEP with reasons and a 'would delete' count; real: DELETED and FAILED."""
    verdicts = decide(
        [run.target_run() for run in listing().runs], Rules(1, 0, timedelta(hours=1)), NOW
    )
    dry = target_report.prune_text(PruneResult("controlplane", "/b", verdicts, dry_run=True))
    assert f"ctl-0 {OLDER} incomplete DELETE  deleted: no manifest" in dry
    assert f"ctl-0 {NEWER} verified   KEEP    kept: the newest verified run" in dry
    assert dry.endswith("would delete 1 of 2 runs")
    failed = PruneResult("controlplane", "/b", verdicts, ((verdicts[1], "Permission denied"),))
    text = target_report.prune_text(failed)
    assert "FAILED" in text and text.endswith("deleted 0 of 2 runs; 1 deletions failed")
    assert target_report.prune_rows(failed)[1]["detail"] == "Permission denied"
