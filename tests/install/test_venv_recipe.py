"""docs/install.md's venv recipe, way 1: systemd-python from the distribution, nothing compiled.

Debian's system Python with its `python3-systemd` stands in for RHEL 9's system Python with
RHEL's `python3-systemd` (the same mechanism: a venv with --system-site-packages sees the
distribution's systemd-python and pip installs no sdist). Slow (every dependency is installed
into a fresh venv), so it lives outside tests/unit.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.packaging import build_wheel

SYSTEM_PYTHON = "/usr/bin/python3"
HAS_SYSTEMD = subprocess.run(
    [SYSTEM_PYTHON, "-c", "import systemd.journal, venv"], capture_output=True, check=False
)
pytestmark = pytest.mark.skipif(
    HAS_SYSTEMD.returncode != 0,
    reason="the system Python lacks python3-systemd or venv (apt; ./dev test installs both)",
)


def run(*argv: str, cwd: str = "/") -> str:
    """Run a command that must succeed; its stdout."""
    return subprocess.run(
        argv, capture_output=True, text=True, check=True, timeout=600, cwd=cwd
    ).stdout


def test_wheel_installs_in_a_system_site_packages_venv_without_compiling(tmp_path: Path) -> None:
    """--only-binary :all: succeeds: systemd-python is the distribution's; install-service works."""
    venv = tmp_path / "barctl"
    run(SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", str(venv))
    # --only-binary refuses every sdist: systemd-python (an sdist only, on PyPI) must come from
    # the distribution's package, or this fails.
    run(
        str(venv / "bin/pip"), "install", "-q", "--only-binary", ":all:", str(build_wheel(tmp_path))
    )
    imported = run(
        str(venv / "bin/python"), "-c", "import systemd.journal; print(systemd.journal.__file__)"
    )
    assert imported.startswith("/usr/lib/python3/dist-packages/systemd/")
    assert run(str(venv / "bin/barctl"), "--version").startswith("barctl ")
    run(str(venv / "bin/barctl"), "install-service", "--prefix", str(tmp_path / "root"))
    unit = (tmp_path / "root/etc/systemd/system/barctl.service").read_text()
    (command,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    interpreter, _, rest = command.removeprefix("ExecStart=").partition(" ")
    assert Path(interpreter).parent == venv / "bin"
    assert rest == "-m barctl --config /etc/barctl/policy.yaml daemon"
