"""`barctl restore-runbook`'s choice of run, read from manifests on a target (real find/head)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from barctl.console import runbook_output
from barctl.console.runbook import subject_of
from barctl.console.runbook_command import NoSuchRunError, choose
from barctl.model import Node
from barctl.run import target_listing
from barctl.run.plan import BackupTarget
from barctl.run.rear_config import RearTarget
from tests.fakes import LocalRunner
from tests.target_runs import run_id, write_run

BACKUP = Node("backup-0", "198.18.0.14", "root")
FIRST = run_id(datetime(2026, 11, 28, 2, 30, tzinfo=timezone.utc))
SECOND = run_id(datetime(2026, 11, 29, 2, 30, tzinfo=timezone.utc))
THIRD = run_id(datetime(2026, 11, 30, 2, 30, tzinfo=timezone.utc))


def listing(directory: Path) -> target_listing.Listing:
    """ctl-0's runs on a target: verified, then failed, then one still being written."""
    write_run(directory, "ctl-0", FIRST)
    write_run(directory, "ctl-0", SECOND, state="failed")
    write_run(directory, "ctl-0", THIRD, state="incomplete")
    return target_listing.read_target(LocalRunner(), BACKUP, str(directory), ("ctl-0",), 30)


def test_default_run_is_the_newest_verified_one(tmp_path: Path) -> None:
    """Without a run id, a newer failed run and an incomplete one are passed over."""
    assert choose(listing(tmp_path), "ctl-0", None).run_id == FIRST


def test_a_named_run_is_given_whatever_its_verification_said(tmp_path: Path) -> None:
    """A named failed run is returned (the runbook prints its verdict); an incomplete or unknown
    run is an error naming what the target holds."""
    found = listing(tmp_path)
    assert choose(found, "ctl-0", SECOND).verification.passed is False
    with pytest.raises(NoSuchRunError, match="is incomplete: no manifest"):
        choose(found, "ctl-0", THIRD)
    with pytest.raises(NoSuchRunError, match=f"runs there: {THIRD}, {SECOND}, {FIRST}"):
        choose(found, "ctl-0", "20261101T000000Z-controlplane-ff")
    with pytest.raises(NoSuchRunError, match="no verified run of ctl-1"):
        choose(found, "ctl-1", None)


def test_subject_paths_are_the_manifests_files_on_the_target(tmp_path: Path) -> None:
    """Every path the runbook names exists in the target directory."""
    found = choose(listing(tmp_path), "ctl-0", None)
    rear = RearTarget("nfs", "198.18.0.14", str(tmp_path))
    target = BackupTarget(BACKUP, str(tmp_path), rear)
    subject = subject_of(found, "198.18.0.11", target, ("ctl-0",))
    assert subject.archive_name == "backup.tar.gz"
    assert subject.verification.startswith("full verification passed at 2026-11-28T02:35:00Z")
    book = runbook_output.build(subject)
    paths = runbook_output.paths_on_target(book)
    assert len(paths) == 3
    assert all(Path(path).is_file() for path in paths), paths
    assert f"{tmp_path}/ctl-0/{FIRST}/restore/openstack-backup-mysql.sql" in paths
