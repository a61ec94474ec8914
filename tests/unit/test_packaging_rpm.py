"""The RPM spec builds a noarch RPM with barctl's files in their RHEL homes (rpmbuild, rpm -qlp)."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

import barctl
from tests.packaging import REPOSITORY

SPEC = REPOSITORY / "packaging/barctl.spec"
RPMBUILD = shutil.which("rpmbuild")
# rpm's Python dependency generator (/usr/lib/rpm/pythondistdeps.py) imports `packaging` with
# the system Python: Debian's python3-packaging, which ./dev installs.
GENERATOR = subprocess.run(
    ["/usr/bin/python3", "-c", "import packaging"], capture_output=True, check=False
)
pytestmark = pytest.mark.skipif(
    RPMBUILD is None, reason="rpmbuild is not installed (apt package rpm; ./dev test installs it)"
)

# Everything but the Python modules, as installed on RHEL (docs/install.md, "The RPM").
NOT_PYTHON = {
    "/etc/barctl",
    "/usr/bin/barctl",
    "/usr/lib/systemd/system/barctl.service",
    "/usr/lib/sysusers.d/barctl.conf",
    "/usr/lib/tmpfiles.d/barctl.conf",
    "/usr/share/barctl",
    "/usr/share/barctl/etc",
    "/usr/share/barctl/etc/barctl",
    "/usr/share/barctl/etc/barctl/policy.yaml",
    "/usr/share/barctl/etc/grafana",
    "/usr/share/barctl/etc/grafana/barctl-dashboard.json",
    "/usr/share/barctl/etc/prometheus",
    "/usr/share/barctl/etc/prometheus/barctl-alerts.yml",
    "/usr/share/barctl/etc/prometheus/scrape-barctl.yml",
    "/usr/share/doc/barctl",
    "/usr/share/doc/barctl/README.md",
    "/usr/share/doc/barctl/install.md",
    "/usr/share/doc/barctl/monitoring.md",
    "/usr/share/doc/barctl/restore.md",
    "/usr/share/licenses/barctl",
    "/usr/share/licenses/barctl/LICENSE",
}


def rpm(*argv: str) -> str:
    """The output of `rpm ARGV`, which must succeed."""
    return subprocess.run(
        ["rpm", *argv], capture_output=True, text=True, check=True, timeout=60
    ).stdout


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory, built_wheel: Path) -> tuple[Path, Path]:
    """(the RPM, the wheel it was built from): rpmbuild -bb packaging/barctl.spec, as documented."""
    scratch = tmp_path_factory.mktemp("rpm")
    wheel = built_wheel
    assert RPMBUILD is not None
    define = ("--define", f"_topdir {scratch}", "--define", f"_sourcedir {wheel.parent}")
    subprocess.run(
        [RPMBUILD, "-bb", *define, str(SPEC)],
        capture_output=True,
        check=True,
        timeout=300,
    )
    (built,) = (scratch / "RPMS/noarch").glob("barctl-*.noarch.rpm")
    return built, wheel


def test_rpm_installs_every_file_in_its_rhel_home(package: tuple[Path, Path]) -> None:
    """Unit, sysusers, tmpfiles under /usr/lib; policy, monitoring under /usr/share/barctl; docs."""
    files = set(rpm("-qlp", str(package[0])).split())
    assert {name for name in files if "/site-packages/" not in name} >= NOT_PYTHON
    # Files added later (docs, monitoring examples) may only land in the two shared trees.
    extra = {name for name in files if "/site-packages/" not in name} - NOT_PYTHON
    shared = ("/usr/share/doc/barctl/", "/usr/share/barctl/etc/")
    assert all(name.startswith(shared) for name in extra), extra


def test_rpm_carries_every_module_of_the_wheel(package: tuple[Path, Path]) -> None:
    """Each barctl/*.py of the wheel is in the RPM's site-packages, and nothing of the test bed."""
    built, wheel = package
    modules = {name for name in zipfile.ZipFile(wheel).namelist() if name.startswith("barctl/")}
    files = rpm("-qlp", str(built)).split()
    installed = {re.sub(r"^.*/site-packages/", "", name) for name in files if name.endswith(".py")}
    assert installed == modules


def test_rpm_is_noarch_at_the_package_version(package: tuple[Path, Path]) -> None:
    """noarch, version barctl.__version__, license Apache-2.0."""
    query = rpm("-qp", "--queryformat", "%{ARCH} %{VERSION} %{LICENSE}", str(package[0]))
    assert query == f"noarch {barctl.__version__} Apache-2.0"


def test_unit_in_rpm_runs_the_packaged_barctl(package: tuple[Path, Path], tmp_path: Path) -> None:
    """The packaged unit's ExecStart is /usr/bin/barctl; otherwise it is the shipped unit."""
    payload = subprocess.run(
        ["rpm2cpio", str(package[0])], capture_output=True, check=True, timeout=60
    ).stdout
    subprocess.run(
        ["cpio", "-idm", "--quiet", "-D", str(tmp_path)], input=payload, check=True, timeout=60
    )
    unit = (tmp_path / "usr/lib/systemd/system/barctl.service").read_text()
    shipped = (REPOSITORY / "systemd/barctl.service").read_text()
    command = "ExecStart=/usr/bin/barctl --config /etc/barctl/policy.yaml daemon"
    assert command in unit.splitlines()
    assert unit == re.sub(r"(?m)^ExecStart=.*$", command, shipped)
    script = (tmp_path / "usr/bin/barctl").read_text()
    assert script.startswith("#!/usr/bin/python3 -s\n")


def test_scriptlets_start_nothing(package: tuple[Path, Path]) -> None:
    """%post creates user and directories and applies the preset; no start, restart or reload."""
    scripts = rpm("-qp", "--scripts", str(package[0]))
    post = scripts.split("postinstall scriptlet")[1].split("preuninstall scriptlet")[0]
    assert "systemd-sysusers barctl.conf" in post
    assert "systemd-tmpfiles --create barctl.conf" in post
    assert "systemctl --no-reload preset barctl.service" in post
    # systemctl's verbs that start a unit (systemctl(1)); `disable --now` on removal stops it.
    starting = (
        r"systemctl\s+(--\S+\s+)*(start|restart|try-restart|reload-or-restart|enable\s+--now)\b"
    )
    commands = [line for line in scripts.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in commands if re.search(starting, line)]


@pytest.mark.skipif(GENERATOR.returncode != 0, reason="python3-packaging missing: no generator")
def test_rpm_requires_the_wheels_dependencies(package: tuple[Path, Path]) -> None:
    """Each unconditional runtime Requires-Dist of the wheel is a python3.Xdist(...) Requires."""
    built, wheel = package
    requires = rpm("-qp", "--requires", str(built))
    (metadata,) = [name for name in zipfile.ZipFile(wheel).namelist() if name.endswith("METADATA")]
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    # pythondistdeps.py evaluates a python_version marker against the building interpreter, so
    # eval_type_backport (`python_version < '3.10'`) is required only by an RPM built on 3.9.
    dependencies = re.findall(
        r"(?m)^Requires-Dist: ([A-Za-z0-9_.-]+)(?!.*(?:extra ==|python_version))", text
    )
    assert len(dependencies) >= 8
    for dependency in dependencies:
        name = dependency.lower()
        assert re.search(rf"python3\.\d+dist\({re.escape(name)}\)", requires), name


def test_spec_version_is_the_package_version() -> None:
    """The spec's Version: is barctl.__version__ (one release, one number)."""
    (version,) = re.findall(r"(?m)^Version:\s*(\S+)$", SPEC.read_text())
    assert version == barctl.__version__
