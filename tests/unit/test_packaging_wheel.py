"""The wheel carries barctl's files: unit, sysusers, tmpfiles, example policy, monitoring, docs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.packaging import REPOSITORY

# What an installed wheel puts under its environment's prefix (docs/install.md, "What the wheel
# installs"): everything an operator needs beside the code, in the layout install-service reads.
SHIPPED = {
    "share/barctl/systemd/barctl.service": "systemd/barctl.service",
    "share/barctl/systemd/barctl.sysusers.conf": "systemd/barctl.sysusers.conf",
    "share/barctl/systemd/barctl.tmpfiles.conf": "systemd/barctl.tmpfiles.conf",
    "share/barctl/etc/barctl/policy.yaml": "etc/barctl/policy.yaml",
    "share/barctl/etc/prometheus/barctl-alerts.yml": "etc/prometheus/barctl-alerts.yml",
    "share/barctl/etc/prometheus/scrape-barctl.yml": "etc/prometheus/scrape-barctl.yml",
    "share/barctl/etc/grafana/barctl-dashboard.json": "etc/grafana/barctl-dashboard.json",
    "share/doc/barctl/README.md": "README.md",
    "share/doc/barctl/install.md": "docs/install.md",
    "share/doc/barctl/monitoring.md": "docs/monitoring.md",
    "share/doc/barctl/restore.md": "docs/restore.md",
}


@pytest.fixture(scope="module")
def wheel(built_wheel: Path) -> zipfile.ZipFile:
    """The wheel `pip wheel --no-deps` builds from this checkout (as docs/install.md does)."""
    return zipfile.ZipFile(built_wheel)


def data_files(wheel: zipfile.ZipFile) -> dict[str, str]:
    """The wheel's data files by install path (`share/...`), read from its `.data/data/` tree."""
    files = {}
    for name in wheel.namelist():
        head, marker, rest = name.partition(".data/data/")
        if marker and head.startswith("barctl-"):
            files[rest] = name
    return files


def test_wheel_installs_every_service_monitoring_and_doc_file(wheel: zipfile.ZipFile) -> None:
    """Each shipped file is in the wheel under share/, byte for byte the checkout's copy."""
    files = data_files(wheel)
    for installed, source in SHIPPED.items():
        assert installed in files, f"{installed} missing from the wheel"
        assert wheel.read(files[installed]) == (REPOSITORY / source).read_bytes()


def test_wheel_misses_no_file_of_the_shipped_directories(wheel: zipfile.ZipFile) -> None:
    """A file added to systemd/, etc/ or docs/ is shipped too (a glob, not a forgotten list)."""
    files = set(data_files(wheel))
    sources = [*(REPOSITORY / "systemd").iterdir(), *(REPOSITORY / "etc").glob("*/*")]
    for source in sources:
        relative = source.relative_to(REPOSITORY).as_posix()
        assert f"share/barctl/{relative}" in files, f"{relative} is not in the wheel"
    for doc in (REPOSITORY / "docs").glob("**/*.md"):
        relative = doc.relative_to(REPOSITORY / "docs").as_posix()
        assert f"share/doc/barctl/{relative}" in files, f"docs/{relative} is not in the wheel"


def test_wheel_carries_the_license_and_no_test_bed(wheel: zipfile.ZipFile) -> None:
    """LICENSE is in the metadata; the lab, the tests and the benchmarks are not shipped."""
    names = wheel.namelist()
    licenses = [name for name in names if name.endswith(".dist-info/licenses/LICENSE")]
    assert [wheel.read(name) for name in licenses] == [(REPOSITORY / "LICENSE").read_bytes()]
    assert not [name for name in names if name.startswith(("lab/", "tests/", "bench/"))]
