"""The lab rear's tar exclusion (lab/rear_tar.py) matches as GNU tar does for ReaR's exclude
list (500_make_backup.sh: -X backup-exclude.txt --no-wildcards-match-slash)."""

from __future__ import annotations

from pathlib import Path

from lab import rear_tar

RUN = "20261125T023000Z-undercloud-d4"
OLD = "20261124T023000Z-undercloud-c3"


def test_an_excluded_directory_takes_its_contents_with_it() -> None:
    """A directory pattern excludes the directory and everything below it, nothing else."""
    patterns = [f"/var/lib/barctl/{OLD}"]
    assert rear_tar.excluded(f"/var/lib/barctl/{OLD}", patterns)
    assert rear_tar.excluded(f"/var/lib/barctl/{OLD}/dump.sql", patterns)
    assert not rear_tar.excluded(f"/var/lib/barctl/{RUN}/dump.sql", patterns)
    assert not rear_tar.excluded(f"/var/lib/barctl/{OLD}x", patterns)


def test_wildcards_do_not_match_a_slash() -> None:
    """`/tmp/*` takes /tmp's entries (so what is below them too), not /tmp itself; `/var/*/x`
    does not match /var/lib/barctl/x."""
    assert rear_tar.excluded("/tmp/a", ["/tmp/*"])
    assert rear_tar.excluded("/tmp/a/b", ["/tmp/*"])
    assert not rear_tar.excluded("/tmp", ["/tmp/*"])
    assert not rear_tar.excluded("/var/lib/barctl/x", ["/var/*/x"])


def test_node_members_lists_what_tar_takes(tmp_path: Path) -> None:
    """Every file and directory under the root, minus the excluded ones, directories as None."""
    root = tmp_path / "barctl"
    (root / RUN).mkdir(parents=True)
    (root / RUN / "dump.sql").write_text("dump")
    (root / OLD).mkdir()
    (root / OLD / "dump.sql").write_text("old")
    members = dict(rear_tar.node_members([f"{root}/{OLD}"], root))
    base = str(root).lstrip("/")
    assert members == {f"{base}/{RUN}": None, f"{base}/{RUN}/dump.sql": b"dump"}
