"""`barctl install-service`: the service files in place for the environment barctl runs from."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from barctl.console.cli import main
from barctl.service import install
from tests.packaging import REPOSITORY

UNIT = "etc/systemd/system/barctl.service"
SYSUSERS = "etc/sysusers.d/barctl.conf"
TMPFILES = "etc/tmpfiles.d/barctl.conf"
POLICY = "etc/barctl/policy.yaml"
ANALYZE = shutil.which("systemd-analyze")
SYSUSERS_TOOL = shutil.which("systemd-sysusers")


def install_service(root: Path, *options: str) -> tuple[int, list[str]]:
    """`barctl install-service --prefix root OPTIONS` through the CLI: (exit code, stdout lines)."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = main(["install-service", "--prefix", str(root), *options])
    return code, output.getvalue().splitlines()


def exec_start(unit: str) -> str:
    """The value of the unit's ExecStart= line."""
    (line,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    return line.removeprefix("ExecStart=")


def test_unit_runs_the_interpreter_running_barctl(tmp_path: Path) -> None:
    """ExecStart is `<sys.executable> -m barctl --config /etc/barctl/policy.yaml daemon`."""
    code, _ = install_service(tmp_path)
    placed = (tmp_path / UNIT).read_text()
    assert code == 0
    assert (
        exec_start(placed) == f"{sys.executable} -m barctl --config /etc/barctl/policy.yaml daemon"
    )
    shipped = (REPOSITORY / "systemd/barctl.service").read_text()
    assert placed.replace(exec_start(placed), "") == shipped.replace(exec_start(shipped), "")


def test_exec_start_command_starts_this_barctl(tmp_path: Path) -> None:
    """The placed ExecStart's interpreter and module answer `--version`: the right environment."""
    install_service(tmp_path)
    argv = exec_start((tmp_path / UNIT).read_text()).split()
    assert argv[1:3] == ["-m", "barctl"]
    result = subprocess.run(
        [*argv[:3], "--version"], capture_output=True, text=True, timeout=60, check=True, cwd="/"
    )
    assert result.stdout.startswith("barctl ")


def test_files_land_with_their_modes_and_shipped_text(tmp_path: Path) -> None:
    """sysusers and tmpfiles as shipped (0644), the example policy 0640."""
    install_service(tmp_path)
    shipped = {
        SYSUSERS: "systemd/barctl.sysusers.conf",
        TMPFILES: "systemd/barctl.tmpfiles.conf",
        POLICY: "etc/barctl/policy.yaml",
    }
    for placed, source in shipped.items():
        assert (tmp_path / placed).read_text() == (REPOSITORY / source).read_text()
    modes = {name: (tmp_path / name).stat().st_mode & 0o777 for name in (UNIT, *shipped)}
    assert modes == {UNIT: 0o644, SYSUSERS: 0o644, TMPFILES: 0o644, POLICY: 0o640}


def test_second_run_changes_nothing(tmp_path: Path) -> None:
    """Idempotent: the second run reports every file unchanged (the policy kept), bytes equal."""
    install_service(tmp_path)
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    code, lines = install_service(tmp_path)
    after = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert code == 0
    assert after == before
    assert [line.split()[0] for line in lines[1:5]] == ["unchanged"] * 3 + ["kept"]


def test_existing_policy_is_never_overwritten_and_old_unit_is_updated(tmp_path: Path) -> None:
    """An operator's policy stays; a unit with another ExecStart (e.g. /opt/barctl) is replaced."""
    (tmp_path / "etc/barctl").mkdir(parents=True)
    (tmp_path / POLICY).write_text("inventory: {path: /etc/barctl/inventory.yaml}\n")
    (tmp_path / UNIT).parent.mkdir(parents=True)
    shutil.copy(REPOSITORY / "systemd/barctl.service", tmp_path / UNIT)
    _, lines = install_service(tmp_path)
    assert (tmp_path / POLICY).read_text() == "inventory: {path: /etc/barctl/inventory.yaml}\n"
    assert f"updated {tmp_path / UNIT}" in lines
    assert f"kept {tmp_path / POLICY}" in lines
    assert exec_start((tmp_path / UNIT).read_text()).startswith(sys.executable)


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    """--dry-run says what it would create and leaves the prefix empty."""
    code, lines = install_service(tmp_path, "--dry-run")
    assert code == 0
    assert f"would be created {tmp_path / UNIT}" in lines
    assert list(tmp_path.iterdir()) == []


def test_interpreter_path_that_systemd_would_split_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A venv under a path with a space or `%` exits 2 with the reason, writing nothing."""
    monkeypatch.setattr(sys, "executable", "/opt/my venv/bin/python3")
    assert main(["install-service", "--prefix", str(tmp_path)]) == 2
    assert "ExecStart= would expand or split" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(install.BarctlError):
        install.exec_start("/opt/barctl%i/bin/python3")


def test_unwritable_prefix_exits_2_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A prefix whose etc/ is a file: exit 2 and `barctl: cannot write PATH: reason`."""
    (tmp_path / "etc").write_text("not a directory\n")
    assert main(["install-service", "--prefix", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"barctl: cannot write {tmp_path / UNIT}: ")
    assert "Traceback" not in error


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
def test_placed_unit_verifies_without_any_warning(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts the placed unit, real ExecStart included: rc 0, quiet."""
    install_service(tmp_path)
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "verify", "--man=no", str(tmp_path / UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.skipif(SYSUSERS_TOOL is None, reason="systemd-sysusers is not installed")
def test_placed_sysusers_file_creates_the_barctl_user(tmp_path: Path) -> None:
    """systemd-sysusers --root=PREFIX reads the placed file and adds a nologin `barctl` user."""
    install_service(tmp_path)
    assert SYSUSERS_TOOL is not None
    subprocess.run(
        [SYSUSERS_TOOL, f"--root={tmp_path}"], check=True, capture_output=True, timeout=60
    )
    users = [line.split(":") for line in (tmp_path / "etc/passwd").read_text().splitlines()]
    (barctl,) = [user for user in users if user[0] == "barctl"]
    assert (barctl[5], barctl[6]) == ("/var/lib/barctl", "/usr/sbin/nologin")


def test_installed_wheel_files_are_found_through_its_record(
    tmp_path: Path, built_wheel: Path
) -> None:
    """Installed from the wheel (not editable), the files come from <venv>/share/barctl."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # pip --python installs into the new venv only; the test's own environment is untouched.
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin/python")]
    subprocess.run(
        [*pip, "install", "--no-deps", "-q", str(built_wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # The dependencies come from the test's environment; barctl itself from the new venv.
    (dependencies,) = [path for path in sys.path if path.endswith("site-packages")]
    result = subprocess.run(
        [str(venv / "bin/python"), "-m", "barctl", "install-service", "--prefix", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PYTHONPATH": dependencies, "PATH": "/usr/bin:/bin"},
        cwd="/",
    )
    assert result.stdout.splitlines()[0] == f"files from {venv / 'share/barctl'}"
    assert exec_start((tmp_path / UNIT).read_text()).startswith(f"{venv}/bin/python ")
