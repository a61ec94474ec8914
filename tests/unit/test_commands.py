"""Remote command building and rendering."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from barctl.run import (
    commands,
    commands_probe,
    commands_rear,
    commands_services,
    rear_config,
    setup_commands,
    setup_state,
)
from tests.fakes import failed, lost, ok


def test_render_wraps_in_server_side_timeout_for_root() -> None:
    """A root user gets no sudo, and the command runs under `timeout --kill-after`."""
    rendered = commands.render(commands_services.pcs_cluster_stop(120), "root")
    assert shlex.split(rendered) == [
        "timeout",
        "--kill-after=30",
        "120s",
        "pcs",
        "cluster",
        "stop",
        "--request-timeout=3600",
    ]


def test_render_prefixes_sudo_before_timeout_for_other_users() -> None:
    """`sudo -n` comes first so `timeout` runs as root and can kill a root process."""
    rendered = commands.render(commands_rear.rear_mkbackup(7200), "heat-admin")
    assert shlex.split(rendered)[:5] == ["sudo", "-n", "timeout", "--kill-after=30", "7200s"]


def test_render_quotes_every_argument() -> None:
    """Arguments with shell metacharacters reach the node as single words."""
    hostile = "x; rm -rf / #"
    rendered = commands.render(commands_probe.directory_exists(hostile, 5), "root")
    assert shlex.split(rendered)[-1] == hostile


def test_redirection_runs_through_bash_with_restrictive_umask() -> None:
    """Dumps are written by `bash -c` with umask 077 and pipefail when filtered."""
    command = commands_services.grants_dump(
        "galera-bundle-podman-0", (("root", "%"),), "pw", "/d/g.sql", 60
    )
    words = shlex.split(commands.render(command, "root"))
    assert words[3:5] == ["bash", "-c"]
    script = words[5]
    assert script.startswith("umask 077; set -o pipefail; podman exec -i galera-bundle-podman-0")
    assert script.endswith("| sed 's/$/;/' > /d/g.sql")


@pytest.mark.parametrize(
    "command",
    [
        commands_services.galera_desync("c", True, "s3cret-pw", 10),
        commands_services.galera_status("c", "s3cret-pw", 10),
        commands_services.database_dump("c", ("nova",), "s3cret-pw", "/p", 10),
        commands_services.grants_dump("c", (("root", "localhost"),), "s3cret-pw", "/p", 10),
        commands_services.database_names("c", "s3cret-pw", 10),
        commands_services.database_accounts("c", "s3cret-pw", 10),
    ],
    ids=lambda command: command.name,
)
def test_password_travels_on_stdin_only(command: commands.RemoteCommand) -> None:
    """The MySQL password is in stdin, never in argv, the rendered string or the description."""
    assert command.stdin is not None and "s3cret-pw" in command.stdin
    assert "s3cret-pw" not in commands.render(command, "heat-admin")
    assert "s3cret-pw" not in command.describe()
    assert "--defaults-extra-file=/dev/stdin" in command.argv


def test_grants_query_escapes_quotes_in_account_names() -> None:
    """An account name with a quote cannot break out of the SQL string."""
    command = commands_services.grants_dump("c", (("o'brien", "%"),), "pw", "/p", 10)
    assert "SHOW GRANTS FOR 'o''brien'@'%';" in command.argv[-1]


def test_client_timeout_exceeds_server_side_limit() -> None:
    """The client waits longer than the node's `timeout` plus its kill grace."""
    command = commands_rear.rear_mkbackup(100)
    assert commands.client_timeout_seconds(command) > 100 + commands.KILL_AFTER_SECONDS


def test_state_changing_commands_are_marked() -> None:
    """Probes are read-only; stops, pauses, desync and rear change state."""
    assert not commands_probe.pcs_status(5).changes_state
    assert not commands_probe.container_names(5).changes_state
    assert commands_services.pcs_cluster_stop(5).changes_state
    assert commands_services.pause_containers(("a",), 5).changes_state
    assert commands_rear.rear_mkbackup(5).changes_state


def _write_local_conf(root: Path, content: str) -> None:
    """Run setup's local.conf write (its own argv) with its paths moved under `root`."""
    wanted = setup_state.local_conf(content)
    command = setup_commands.write_file(wanted, rear_config.MANAGED_MARK, 10)
    local, original = root / "local.conf", root / "local.conf.before-barctl"
    argv = (*command.argv[:4], str(local), command.argv[5], str(original), command.argv[7])
    subprocess.run(argv, input=command.stdin, text=True, check=True)


def test_write_local_conf_keeps_the_first_foreign_file_once(tmp_path: Path) -> None:
    """A local.conf barctl did not write is kept as local.conf.before-barctl, never overwritten
    later; barctl's own file is not copied; what is written is 0600, and no temporary is left."""
    local = tmp_path / "local.conf"
    local.write_text("BACKUP_URL=nfs://vendor/old\n")
    local.chmod(0o644)
    ours = rear_config.MANAGED_HEADER + "\nOUTPUT=ISO\n"
    _write_local_conf(tmp_path, ours)
    original = tmp_path / "local.conf.before-barctl"
    assert original.read_text() == "BACKUP_URL=nfs://vendor/old\n"
    assert local.read_text() == ours
    assert local.stat().st_mode & 0o777 == 0o600
    assert original.stat().st_mode & 0o077 == 0
    local.write_text("# edited by hand\n")
    _write_local_conf(tmp_path, ours)
    assert original.read_text() == "BACKUP_URL=nfs://vendor/old\n"
    _write_local_conf(tmp_path, ours + "ISO_DEFAULT=manual\n")
    assert original.read_text() == "BACKUP_URL=nfs://vendor/old\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "local.conf",
        "local.conf.before-barctl",
    ]


def test_write_local_conf_without_an_existing_file_copies_nothing(tmp_path: Path) -> None:
    """On a node with no local.conf there is no original to keep."""
    _write_local_conf(tmp_path, rear_config.MANAGED_HEADER + "\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["local.conf"]


def test_local_conf_of_an_older_barctl_is_not_kept_as_the_original(tmp_path: Path) -> None:
    """A local.conf with an older barctl header is barctl's own: replaced, not kept."""
    older = "# Managed by barctl: rewritten before every run from the barctl policy.\nX=1\n"
    (tmp_path / "local.conf").write_text(older)
    _write_local_conf(tmp_path, rear_config.MANAGED_HEADER + "\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["local.conf"]


def test_managed_file_write_into_a_missing_directory_fails(tmp_path: Path) -> None:
    """A hook whose ReaR directory is absent (rear not installed) fails, creating nothing."""
    wanted = setup_state.ManagedFile(str(tmp_path / "absent" / "hook.sh"), "0644", "x\n")
    command = setup_commands.write_file(wanted, rear_config.MANAGED_MARK, 10)
    done = subprocess.run(command.argv, input=command.stdin, text=True, check=False)
    assert done.returncode == setup_commands.NO_DIRECTORY_EXIT
    assert not (tmp_path / "absent").exists()


def test_firmware_answer_is_read_from_test_exit_status() -> None:
    """`test -d /sys/firmware/efi`: 0 is UEFI, 1 BIOS, anything else (127, lost) unknown."""
    assert commands_probe.firmware(5).argv == ("test", "-d", "/sys/firmware/efi")
    assert not commands_probe.firmware(5).changes_state
    assert commands_probe.firmware_of(ok()) == "uefi"
    assert commands_probe.firmware_of(failed(1)) == "bios"
    assert commands_probe.firmware_of(failed(127)) == "unknown"
    assert commands_probe.firmware_of(lost()) == "unknown"
