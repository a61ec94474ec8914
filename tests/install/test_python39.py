"""The wheel on Python 3.9, barctl's floor (issue 13): installed, validating, running as a daemon.

docs/install.md's recipe for a 3.9 whose distribution has no `python3-systemd` for it (RHEL 8.4's
`python39`), way 2, "Prebuilt wheels": on a build host `python3.9 -m pip wheel` compiles
systemd-python once; the target venv installs from those files with `--no-index --only-binary
:all:`, so nothing is fetched or compiled there. Then `barctl validate` on the example policy the
wheel installed, and a short `barctl daemon` under a stand-in journald
(tests/logs/journal_capture.py) and notify socket: what systemd would see of it on the undercloud.

Slow (every dependency is built and installed for 3.9), so outside tests/unit. Skipped only when
no Python 3.9 exists; `./dev test` finds one (pyenv's) or fails, and passes it as BARCTL_PYTHON39.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.daemon.helpers import NotifySocket, offline_policy, wait_until, write_yaml
from tests.packaging import build_wheel

REPOSITORY = Path(__file__).resolve().parents[2]
CAPTURE = REPOSITORY / "tests" / "logs" / "journal_capture.py"
INVENTORY = REPOSITORY / "tests" / "data" / "inventory" / "wallaby_single.yaml"
MOUNT_THEN_EXEC = 'mount -t tmpfs tmpfs /run/systemd && exec "$0" "$@"'


def is_python39(candidate: str) -> bool:
    """`candidate` is an executable Python 3.9."""
    check = "import sys; sys.exit(sys.version_info[:2] != (3, 9))"
    return (
        bool(candidate)
        and os.access(candidate, os.X_OK)
        and (
            subprocess.run([candidate, "-c", check], capture_output=True, check=False).returncode
            == 0
        )
    )


def find_python39() -> str | None:
    """The interpreter ./dev uses: $BARCTL_PYTHON39, python3.9 on PATH, else pyenv's newest 3.9."""
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = [os.environ.get("BARCTL_PYTHON39", ""), shutil.which("python3.9") or ""]
    for root in (pyenv_root, "/root/.pyenv", "/opt/pyenv"):
        candidates += sorted(glob.glob(f"{root}/versions/3.9*/bin/python3.9"), reverse=True)
    return next((candidate for candidate in candidates if is_python39(candidate)), None)


PYTHON39 = find_python39()
pytestmark = pytest.mark.skipif(
    PYTHON39 is None,
    reason="no Python 3.9 (BARCTL_PYTHON39, python3.9, pyenv): ./dev test requires one",
)


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command (bounded), return it whatever its exit code."""
    return subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=900, cwd=cwd or "/"
    )


def succeed(*argv: str) -> str:
    """Run a command that must succeed; its stdout."""
    result = run(*argv)
    assert result.returncode == 0, f"{argv}: {result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def venv39(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean 3.9 venv with the wheel installed from prebuilt wheels (install.md, way 2)."""
    assert PYTHON39 is not None
    scratch = tmp_path_factory.mktemp("python39")
    wheel = build_wheel(scratch)
    wheels = scratch / "wheels"
    # The build host: every dependency as a wheel for 3.9 (systemd-python compiled here).
    # --use-pep517: systemd-python has only a setup.py, and an older pip (RHEL 8's python39 has
    # 20.2) without the `wheel` package fails its legacy `setup.py bdist_wheel`.
    succeed(PYTHON39, "-m", "pip", "wheel", "-q", "--use-pep517", "-w", str(wheels), str(wheel))
    venv = scratch / "barctl"
    succeed(PYTHON39, "-m", "venv", str(venv))
    # The undercloud: no index, and any sdist refused, so nothing can be compiled.
    succeed(
        str(venv / "bin/pip"), "install", "-q", "--no-index", "--only-binary", ":all:",
        "--find-links", str(wheels), str(wheel),
    )  # fmt: skip
    return venv


def test_the_wheel_installs_on_python39_without_compiling(venv39: Path) -> None:
    """The 3.9 venv imports barctl and systemd.journal from itself; 3.9's extra dependency came."""
    probe = (
        "import sys, importlib.metadata as m, barctl, systemd.journal;"
        "print(sys.version_info[:2], barctl.__file__, m.version('eval_type_backport'))"
    )
    version, location, backport = succeed(str(venv39 / "bin/python"), "-c", probe).rsplit(" ", 2)
    assert version == "(3, 9)"
    assert location.startswith(str(venv39 / "lib/python3.9/site-packages/barctl/"))
    assert backport
    assert succeed(str(venv39 / "bin/barctl"), "--version").startswith("barctl ")


def example_policy(venv: Path, directory: Path) -> Path:
    """The example policy the wheel installed, its host paths pointed at files in `directory`."""
    text = (venv / "share/barctl/etc/barctl/policy.yaml").read_text(encoding="utf-8")
    for name in ("id_ed25519", "known_hosts"):
        (directory / name).write_text("placeholder: validate only reads it\n", encoding="utf-8")
        (directory / name).chmod(0o600)
    text = text.replace("/home/stack/tripleo-inventory.yaml", str(INVENTORY))
    text = text.replace("/etc/barctl/credentials/id_ed25519", str(directory / "id_ed25519"))
    text = text.replace("/etc/barctl/known_hosts", str(directory / "known_hosts"))
    policy = directory / "policy.yaml"
    policy.write_text(text, encoding="utf-8")
    return policy


def test_validate_on_python39_accepts_the_example_and_locates_errors(
    venv39: Path, tmp_path: Path
) -> None:
    """The example policy is valid on 3.9; a bad value is FILE:LINE:COL: key: message, exit 2."""
    policy = example_policy(venv39, tmp_path)
    valid = run(str(venv39 / "bin/barctl"), "--config", str(policy), "validate")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert f"{policy}: valid; plans: undercloud, controlplane" in valid.stdout
    text = policy.read_text(encoding="utf-8")
    policy.write_text(text.replace('schedule: "30 1 * * *"', 'schedule: "often"', 1))
    invalid = run(str(venv39 / "bin/barctl"), "--config", str(policy), "validate")
    assert invalid.returncode == 2
    assert "Traceback" not in invalid.stderr
    assert any(
        line.startswith(f"{policy}:") and "plans.undercloud.schedule" in line
        for line in invalid.stderr.splitlines()
    ), invalid.stderr


@dataclass
class Captured:
    """A daemon started under the stand-in journald: the capture process and the daemon's PID."""

    capture: subprocess.Popen[bytes]
    out: Path
    daemon_pid: int | None = None

    def find_daemon(self) -> int | None:
        """The capture's child (the barctl process), once it exists (/proc .../children)."""
        children = Path(f"/proc/{self.capture.pid}/task/{self.capture.pid}/children")
        words = children.read_text().split() if children.exists() else []
        self.daemon_pid = int(words[0]) if words else None
        return self.daemon_pid

    def stop(self) -> None:
        """SIGKILL the daemon, then the capture, each by its PID, if still running."""
        if self.daemon_pid is not None and self.capture.poll() is None:
            os.kill(self.daemon_pid, signal.SIGKILL)
        try:
            self.capture.wait(20)
        except subprocess.TimeoutExpired:
            self.capture.kill()
            self.capture.wait(20)


@pytest.fixture
def captured_daemon(venv39: Path, tmp_path: Path) -> Iterator[tuple[Captured, NotifySocket]]:
    """`barctl daemon` from the 3.9 venv, journald and NOTIFY_SOCKET stood in; always stopped."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare: a private mount namespace for the stand-in journald")
    document = offline_policy(tmp_path / "site")
    document["log"] = {"format": "auto"}  # journald, as under systemd (JOURNAL_STREAM)
    policy = write_yaml(tmp_path / "policy.yaml", document)
    notify = NotifySocket(tmp_path / "notify.sock")
    hidden = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "PYTHONPATH"}
    environ = {key: value for key, value in os.environ.items() if key not in hidden}
    environ.pop("BARCTL_LOG_FORMAT", None)
    environ |= {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"}
    out = tmp_path / "journal.json"
    argv = [
        "unshare", "--mount", "--propagation", "private", "sh", "-c", MOUNT_THEN_EXEC,
        sys.executable, str(CAPTURE), str(out), "--",
        str(venv39 / "bin/barctl"), "--config", str(policy), "daemon",
    ]  # fmt: skip
    # cwd outside the checkout and no PYTHONPATH: the venv's installed barctl runs, not ours.
    started = Captured(subprocess.Popen(argv, env=environ, cwd=tmp_path), out)
    try:
        yield started, notify
    finally:
        started.stop()
        notify.close()


def test_daemon_on_python39_notifies_systemd_and_logs_journal_fields(
    venv39: Path, captured_daemon: tuple[Captured, NotifySocket]
) -> None:
    """READY, WATCHDOG, STOPPING and exit 0 on SIGTERM; its log reaches journald as fields."""
    started, notify = captured_daemon
    ready = notify.wait("READY", "1", timeout=60)
    assert "undercloud next " in ready.fields["STATUS"]
    notify.wait("WATCHDOG", "1", timeout=10)
    daemon_pid = wait_until(started.find_daemon, 10, "the daemon's PID")
    assert b"barctl" in Path(f"/proc/{daemon_pid}/cmdline").read_bytes()
    os.kill(daemon_pid, signal.SIGTERM)
    notify.wait("STOPPING", "1", timeout=30)
    assert started.capture.wait(60) == 0
    document = json.loads(started.out.read_text(encoding="utf-8"))
    assert document["returncode"] == 0
    assert document["stderr"] == "", "stderr is the journal: nothing is written there"
    entries = {entry["MESSAGE"]: entry for entry in document["entries"]}
    ready_entry = entries["Daemon ready"]
    assert ready_entry["SYSLOG_IDENTIFIER"] == "barctl"
    assert ready_entry["PRIORITY"] == "6"
    assert ready_entry["CODE_FILE"].startswith(str(venv39 / "lib/python3.9/site-packages/"))
    assert "backup:undercloud" in json.loads(ready_entry["JOBS"])
    assert entries["Daemon stopped"]["SYSLOG_IDENTIFIER"] == "barctl"
