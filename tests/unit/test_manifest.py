"""The manifest contract (issue 11, /tmp/prompts/manifest.md): render, parse, located problems."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

import pytest

from barctl.run import manifest, manifest_parse, manifest_writer
from barctl.run.manifest import Manifest, ManifestFile, Target, Verification
from barctl.run.manifest_parse import ManifestError

RUN_ID = "20261130T023000Z-controlplane-3f2a"
DIGEST = "a" * 64


def _sample(**changes: object) -> Manifest:
    moment = datetime(2026, 11, 30, 2, 30, tzinfo=manifest.UTC_ZONE)
    files = (
        ManifestFile(f"controller-0-{RUN_ID}.iso", "iso", 1024, DIGEST),
        ManifestFile("backup.tar.gz", "archive", 4096, "b" * 64),
        ManifestFile("restore/openstack-backup-mysql.sql", "database_dump", 10, "c" * 64),
    )
    base = Manifest(
        node="controller-0",
        run_id=RUN_ID,
        plan="controlplane",
        started_at=moment,
        finished_at=moment.replace(hour=3),
        rear_version="2.6",
        uefi=False,
        barctl_version="0.1.0",
        policy_sha256="d" * 64,
        target=Target("nfs", "/ctl_plane_backups"),
        files=files,
        verification=Verification("full", True, None, moment.replace(hour=4)),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _problems(text: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        manifest_parse.parse(text, "m.json")
    return [str(problem) for problem in caught.value.problems]


def test_render_then_parse_gives_the_same_manifest() -> None:
    """A rendered manifest parses back to an equal one."""
    original = _sample()
    assert manifest_parse.parse(manifest.render(original), "m.json") == original


def test_render_writes_the_contract_keys_and_utc_times() -> None:
    """The JSON has exactly the schema-1 keys, in contract order, with `Z` times."""
    document = json.loads(manifest.render(_sample()))
    assert list(document) == [
        "schema", "node", "run_id", "plan", "started_at", "finished_at", "rear_version", "uefi",
        "barctl_version", "policy_sha256", "target", "files", "verification",
    ]  # fmt: skip
    assert document["schema"] == 1
    assert document["started_at"] == "2026-11-30T02:30:00Z"
    assert document["files"][1] == {
        "path": "backup.tar.gz", "kind": "archive", "size_bytes": 4096, "sha256": "b" * 64,
    }  # fmt: skip
    assert document["verification"]["reason"] is None


def test_failed_verification_keeps_its_reason() -> None:
    """A manifest of a failed verification round-trips with the reason."""
    failed = Verification("quick", False, "archive: gzip -t failed", _sample().finished_at)
    parsed = manifest_parse.parse(manifest.render(_sample(verification=failed)), "m.json")
    assert parsed.verification.passed is False
    assert parsed.verification.reason == "archive: gzip -t failed"


def test_bad_values_are_each_located_at_their_line_and_column() -> None:
    """Every bad value is reported at once, as FILE:LINE:COL: key.path: message."""
    document = json.loads(manifest.render(_sample()))
    document["files"][1]["sha256"] = "XYZ"
    document["uefi"] = "yes"
    text = json.dumps(document, indent=2)
    problems = _problems(text)
    lines = text.splitlines()
    sha_line = next(i for i, line in enumerate(lines, 1) if '"XYZ"' in line)
    uefi_line = next(i for i, line in enumerate(lines, 1) if '"uefi"' in line)
    column = lines[sha_line - 1].index('"XYZ"') + 1
    assert f"m.json:{sha_line}:{column}: files[1].sha256: 'XYZ' is not 64 lowercase hex digits" in (
        problems
    )
    assert any(p.startswith(f"m.json:{uefi_line}:") and "uefi: must be true or false" in p
               for p in problems)  # fmt: skip


@pytest.mark.parametrize(
    "path",
    ["../other/backup.tar.gz", "/etc/passwd", "restore/../../x", "logs/rear.log", ".hidden", ""],
)
def test_file_paths_outside_the_run_directory_are_refused(path: str) -> None:
    """Retention deletes what a manifest lists: a path that could leave the run is refused."""
    document = json.loads(manifest.render(_sample()))
    document["files"][0]["path"] = path
    assert any("files[0].path" in problem for problem in _problems(json.dumps(document)))


def test_unknown_missing_and_duplicate_keys_are_refused() -> None:
    """Schema 1 is exact: an unknown key, a missing one and a key given twice are problems."""
    document = json.loads(manifest.render(_sample()))
    document["extra"] = 1
    del document["plan"]
    problems = _problems(json.dumps(document))
    assert any("extra: unknown key" in problem for problem in problems)
    assert any("missing key 'plan'" in problem for problem in problems)
    duplicated = manifest.render(_sample()).replace('"plan": ', '"plan": "x", "plan": ', 1)
    assert any("duplicate key 'plan'" in problem for problem in _problems(duplicated))


def test_another_schema_and_broken_json_are_refused_with_a_location() -> None:
    """A schema this barctl does not read, or text that is not JSON, is refused, located."""
    document = json.loads(manifest.render(_sample()))
    document["schema"] = 2
    assert any("unsupported schema 2" in problem for problem in _problems(json.dumps(document)))
    assert _problems('{"schema": 1,\n  "node": }')[0].startswith("m.json:2:11: ")


def test_times_must_be_utc_and_reason_must_match_the_verdict() -> None:
    """A time with a non-zero offset, and a passed verification with a reason, are refused."""
    document = json.loads(manifest.render(_sample()))
    document["started_at"] = "2026-11-30T02:30:00+01:00"
    document["verification"]["reason"] = "but why"
    problems = _problems(json.dumps(document))
    assert any("started_at: '2026-11-30T02:30:00+01:00' is not an RFC 3339" in p for p in problems)
    assert any("verification.reason: must be null when passed" in p for p in problems)


def test_paths_and_restore_material_kinds() -> None:
    """The manifest sits in <dir>/<node>/<run_id>/; restore material has a kind by file name."""
    assert manifest.manifest_path("/backups/", "controller-0", RUN_ID) == (
        f"/backups/controller-0/{RUN_ID}/barctl-manifest.json"
    )
    assert manifest.restore_kind("cib.xml") == "cib"
    assert manifest.restore_kind("pacemaker_backup.tar.bz2") == "pacemaker_config"
    assert manifest.restore_kind("rear.log") is None
    assert _sample().files_of("archive")[0].path == "backup.tar.gz"
    assert _sample().size_bytes == 1024 + 4096 + 10


def test_rear_version_is_read_from_rears_own_line_only() -> None:
    """The manifest's ReaR version comes from a line ReaR starts, version-shaped and bounded."""
    assert manifest_writer.rear_version("Relax-and-Recover 2.6 / 2020-06-17\n") == "2.6"
    assert manifest_writer.rear_version("Relax-and-Recover 2.7\nUsing log file\n") == "2.7"
    hostile = (
        "note: Relax-and-Recover 9.9 / x\n",
        "Relax-and-Recover $(reboot) / x\n",
        "Relax-and-Recover " + "9" * 100 + " / x\n",
        "Relax-and-Recover 2.6\u200b / x\n",
    )
    for stdout in hostile:
        assert manifest_writer.rear_version(stdout) == "unknown", stdout
