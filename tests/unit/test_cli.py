"""The CLI boundary: exit codes, located errors without tracebacks, no connections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from barctl.console import cli
from tests.cli_site import VALID_POLICY, write_policy


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    """A valid policy over the train inventory, with its own state directory."""
    return write_policy(tmp_path)


def test_validate_accepts_a_valid_policy(policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A valid policy exits 0 and names its plans."""
    assert cli.main(["-c", str(policy), "validate"]) == 0
    assert "valid; plans: undercloud, controlplane" in capsys.readouterr().out


def test_validate_reports_every_problem_located_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Several mistakes give exit 2 and one FILE:LINE:COL: key: message line each."""
    body = VALID_POLICY.replace('{schedule: "30 1 * * *"}', '{schedule: "30 1 * * 0"}')
    body = body.replace("export: /ctl_plane_backups", "export: ctl_plane_backups, colour: red")
    path = write_policy(tmp_path, body)
    assert cli.main(["-c", str(path), "validate"]) == 2
    error = capsys.readouterr().err
    lines = error.splitlines()
    assert any(line.startswith(f"{path}:6:57: backup_target.nfs.colour: ") for line in lines)
    assert any(line.startswith(f"{path}:6:38: backup_target.nfs.export: ") for line in lines)
    assert any(line.startswith(f"{path}:8:26: plans.undercloud.schedule: ") for line in lines)
    assert "Traceback" not in error


def test_unknown_inventory_group_lists_existing_groups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan group missing from the inventory is located and the real groups are listed."""
    path = write_policy(tmp_path, VALID_POLICY.replace("Database]", "Databse]"))
    assert cli.main(["-c", str(path), "validate"]) == 2
    error = capsys.readouterr().err
    assert f"{path}:9:65: plans.controlplane.groups.1: unknown inventory group 'Databse'" in error
    assert "Controller, Database" in error


def test_missing_policy_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A policy path that does not exist is a located error, exit 2."""
    assert cli.main(["-c", str(tmp_path / "absent.yaml"), "validate"]) == 2
    assert "absent.yaml:1:1: cannot read file" in capsys.readouterr().err


def test_plan_prints_commands_without_connecting(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`barctl plan` shows nodes in order and exact commands; 192.0.2.x is never contacted."""
    assert cli.main(["-c", str(policy), "plan", "controlplane"]) == 0
    out = capsys.readouterr().out
    assert "nodes in order: ctl-a-0, ctl-a-1, db-a-0" in out
    assert "pcs cluster stop --request-timeout=3600" in out
    assert "undo registered first: pcs cluster start" in out


def test_inventory_shows_address_user_and_groups(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`barctl inventory` resolves the undercloud address and the heat-admin user."""
    assert cli.main(["-c", str(policy), "inventory"]) == 0
    out = capsys.readouterr().out
    assert "undercloud  192.0.2.1        stack" in out
    assert "ctl-a-0  192.0.2.21       heat-admin" in out


def test_history_and_status_work_before_any_run(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no history yet, history says so and status shows never and the next slot."""
    assert cli.main(["-c", str(policy), "history"]) == 0
    assert "no runs recorded yet" in capsys.readouterr().out
    assert cli.main(["-c", str(policy), "status"]) == 0
    out = capsys.readouterr().out
    assert "controlplane  last run: never; last success: never; next run: 20" in out


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """`barctl --help` lists every exit code."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for code in (
        "0  success",
        "1  backup failed",
        "2  usage",
        "3  refused",
        "4  another run",
        "5  degraded",
    ):
        assert code in out


_IMPORTED = """
import sys
from barctl.console.cli import main
main(sys.argv[1:])
heavy = {"paramiko", "cryptography", "prometheus_client"}
print(" ".join(sorted(name for name in sys.modules if name in heavy)))
"""


# Commands that only read the policy, the inventory or the history need no SSH stack and no
# exporter (issue 12: start-up imports were 30 % of a gate's client time).
NOT_FOR_READING = {"prometheus_client", "paramiko", "cryptography"}


@pytest.mark.parametrize(
    ("arguments", "forbidden"),
    [
        pytest.param(["status"], NOT_FOR_READING, id="status"),
        pytest.param(["history"], NOT_FOR_READING, id="history"),
        pytest.param(["validate"], NOT_FOR_READING, id="validate"),
    ],
)
def test_read_only_commands_do_not_import_the_exporter(
    policy: Path, arguments: list[str], forbidden: set[str]
) -> None:
    """status, history and validate start without the SSH libraries or the Prometheus client."""
    import subprocess
    import sys

    command = [sys.executable, "-c", _IMPORTED, "-c", str(policy), *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    assert set(completed.stdout.split()) & forbidden == set()


def test_version_imports_neither_ssh_nor_exporter_libraries() -> None:
    """`barctl --version` answers without loading SSH, crypto, Prometheus, pydantic, YAML,
    structlog, the scheduler or SQLite (bench/startup_bench.py: target 0.15 s)."""
    import subprocess
    import sys

    code = (
        "import sys, runpy\nsys.argv = ['barctl', '--version']\n"
        "try:\n    runpy.run_module('barctl', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(name.split('.')[0] for name in sys.modules)), file=sys.stderr)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    from barctl import __version__

    assert completed.stdout == f"barctl {__version__}\n"
    loaded = set(completed.stderr.split())
    heavy = {"paramiko", "cryptography", "prometheus_client", "pydantic"}
    assert loaded & {*heavy, "yaml", "structlog", "apscheduler", "sqlite3"} == set()


def test_setup_render_writes_each_nodes_rear_files(
    policy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`setup --render` writes local.conf and the run file per node and prints rear's argv."""
    out = tmp_path / "rendered"
    arguments = ["-c", str(policy), "setup", "controlplane", "--render", str(out), "--run-id", "R7"]
    assert cli.main(arguments) == 0
    local = (out / "ctl-a-0" / "etc/rear/local.conf").read_text()
    run = (out / "ctl-a-0" / "etc/rear/barctl-run.conf").read_text()
    assert "BACKUP_URL=nfs://192.0.2.250/ctl_plane_backups" in local
    assert "NETFS_PREFIX=ctl-a-0/R7" in run
    assert oct((out / "ctl-a-0/etc/rear/local.conf").stat().st_mode & 0o777) == "0o600"
    assert "runs: rear -v -C barctl-run mkbackup" in capsys.readouterr().out


def test_plan_shows_each_nodes_rear_configuration(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`barctl plan` prints every node's local.conf (placed by setup, not by a step of the run)
    and the artifacts it verifies."""
    assert cli.main(["-c", str(policy), "plan", "undercloud"]) == 0
    text = capsys.readouterr().out
    assert "/etc/rear/local.conf (mode 0600):" in text
    assert "local.conf is placed by `barctl setup`" in text
    assert "write_local_conf" not in text
    assert "BACKUP_PROG_EXCLUDE+=(" in text
    assert "verifies on the target: /ctl_plane_backups/" in text


def test_status_lists_the_restore_drill(policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`status --json` has a row for the drill, disabled by default, so with no next run."""
    assert cli.main(["-c", str(policy), "status", "--json"]) == 0
    rows = {row["plan"]: row for row in json.loads(capsys.readouterr().out)["plans"]}
    assert list(rows) == ["undercloud", "controlplane", "drill"]
    assert (rows["drill"]["enabled"], rows["drill"]["next_run"]) == (False, None)
