"""The systemd unit and packaging files, checked with systemd-analyze (never run for real)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.daemon.helpers import REPO

SYSTEMD = REPO / "systemd"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def unit_copy(directory: Path) -> Path:
    """The unit in `directory` with ExecStart pointed at /bin/true (ExecReload kept)."""
    text = (SYSTEMD / "barctl.service").read_text()
    text, count = re.subn(r"(?m)^ExecStart=.*$", "ExecStart=/bin/true", text)
    assert count == 1
    unit = directory / "barctl.service"
    unit.write_text(text)
    return unit


def analyze(*argv: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, *argv], capture_output=True, text=True, timeout=60, check=False)


@needs_analyze
def test_unit_verifies_without_any_warning(tmp_path: Path) -> None:
    """`systemd-analyze verify` exits 0 and prints nothing (typos only show on stderr)."""
    result = analyze("verify", "--man=no", str(unit_copy(tmp_path)))
    assert (result.returncode, result.stderr) == (0, "")


@needs_analyze
def test_unit_exposure_is_below_1_5(tmp_path: Path) -> None:
    """`systemd-analyze security --offline=yes --threshold=15` passes (exposure <= 1.5)."""
    result = analyze("security", "--offline=yes", "--threshold=15", str(unit_copy(tmp_path)))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


def test_unit_has_the_daemon_contract() -> None:
    """Type=notify with watchdog, reload by SIGHUP, no restart loop on an invalid policy."""
    settings = {}
    for line in (SYSTEMD / "barctl.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings.setdefault(key, value)
    assert settings["Type"] == "notify"
    assert settings["NotifyAccess"] == "main"
    assert settings["WatchdogSec"] == "60"
    assert settings["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert settings["KillMode"] == "mixed"
    assert settings["RestartPreventExitStatus"] == "2"
    assert settings["User"] == "barctl"
    assert settings["LoadCredential"] == "ssh_key:/etc/barctl/credentials/id_ed25519"


def test_every_hardening_line_says_when_to_relax_it() -> None:
    """Each setting after the hardening marker is preceded by its own comment."""
    lines = (SYSTEMD / "barctl.service").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "hardening" in line)
    end = lines.index("[Install]")
    for index in range(start + 1, end):
        line = lines[index]
        if line and not line.startswith("#"):
            assert lines[index - 1].startswith("#"), f"no comment above {line!r}"


def test_sysusers_and_tmpfiles_name_the_barctl_user() -> None:
    """sysusers creates `barctl`; tmpfiles gives it the state and runtime directories."""
    users = [
        line.split()
        for line in (SYSTEMD / "barctl.sysusers.conf").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert [(fields[0], fields[1]) for fields in users] == [("u", "barctl")]
    entries = {
        fields[1]: fields
        for line in (SYSTEMD / "barctl.tmpfiles.conf").read_text().splitlines()
        if line and not line.startswith("#")
        for fields in [line.split()]
    }
    assert entries["/var/lib/barctl"][2:5] == ["0700", "barctl", "barctl"]
    assert entries["/run/barctl"][3] == "barctl"
    assert entries["/etc/barctl/credentials"][2:5] == ["0750", "root", "barctl"]
