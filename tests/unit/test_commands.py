"""Remote command building and rendering."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from barctl.run import commands


def test_render_wraps_in_server_side_timeout_for_root() -> None:
    """A root user gets no sudo, and the command runs under `timeout --kill-after`."""
    rendered = commands.render(commands.pcs_cluster_stop(120), "root")
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
    rendered = commands.render(commands.rear_mkbackup(7200), "heat-admin")
    assert shlex.split(rendered)[:5] == ["sudo", "-n", "timeout", "--kill-after=30", "7200s"]


def test_render_quotes_every_argument() -> None:
    """Arguments with shell metacharacters reach the node as single words."""
    hostile = "x; rm -rf / #"
    rendered = commands.render(commands.directory_exists(hostile, 5), "root")
    assert shlex.split(rendered)[-1] == hostile


def test_redirection_runs_through_bash_with_restrictive_umask() -> None:
    """Dumps are written by `bash -c` with umask 077 and pipefail when filtered."""
    command = commands.grants_dump("galera-bundle-podman-0", (("root", "%"),), "pw", "/d/g.sql", 60)
    words = shlex.split(commands.render(command, "root"))
    assert words[3:5] == ["bash", "-c"]
    script = words[5]
    assert script.startswith("umask 077; set -o pipefail; podman exec -i galera-bundle-podman-0")
    assert script.endswith("| sed 's/$/;/' > /d/g.sql")


@pytest.mark.parametrize(
    "command",
    [
        commands.galera_desync("c", True, "s3cret-pw", 10),
        commands.galera_status("c", "s3cret-pw", 10),
        commands.database_dump("c", ("nova",), "s3cret-pw", "/p", 10),
        commands.grants_dump("c", (("root", "localhost"),), "s3cret-pw", "/p", 10),
        commands.database_names("c", "s3cret-pw", 10),
        commands.database_accounts("c", "s3cret-pw", 10),
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
    command = commands.grants_dump("c", (("o'brien", "%"),), "pw", "/p", 10)
    assert "SHOW GRANTS FOR 'o''brien'@'%';" in command.argv[-1]


def test_client_timeout_exceeds_server_side_limit() -> None:
    """The client waits longer than the node's `timeout` plus its kill grace."""
    command = commands.rear_mkbackup(100)
    assert commands.client_timeout_seconds(command) > 100 + commands.KILL_AFTER_SECONDS


def test_rear_run_config_names_iso_and_archive_alike() -> None:
    """ISO and archive share one prefix carrying host and run id, so each pair matches."""
    prefix = commands.artifact_prefix("ctl-0", "20261125T010203Z-controlplane-ab12")
    text = commands.rear_run_config(prefix, (("BACKUP_URL", "nfs://10.0.0.1/ctl_plane_backups"),))
    assert "ISO_PREFIX=ctl-0-20261125T010203Z-controlplane-ab12" in text
    assert "BACKUP_PROG_ARCHIVE=ctl-0-20261125T010203Z-controlplane-ab12" in text
    assert "BACKUP_URL=nfs://10.0.0.1/ctl_plane_backups" in text


def test_state_changing_commands_are_marked() -> None:
    """Probes are read-only; stops, pauses, desync and rear change state."""
    assert not commands.pcs_status(5).changes_state
    assert not commands.container_names(5).changes_state
    assert commands.pcs_cluster_stop(5).changes_state
    assert commands.pause_containers(("a",), 5).changes_state
    assert commands.rear_mkbackup(5).changes_state


def test_rear_run_config_runs_no_code_when_sourced(tmp_path: Path) -> None:
    """Sourced by a real shell as ReaR does, hostile names stay literal values and run nothing."""
    hostile = "ctl-0$(touch sub1)`touch sub2`;touch sub3'\"$HOME"
    prefix = commands.artifact_prefix(hostile, "20261125T010203Z-controlplane-ab12")
    text = commands.rear_run_config(prefix, (("NETFS_PREFIX", hostile), ("OUTPUT_URL", hostile)))
    config = tmp_path / "barctl-run.conf"
    config.write_text(text)
    script = (
        'LOG_DIR=/var/log/rear; source "$1"; '
        'printf "%s\\n" "$LOGFILE" "$ISO_PREFIX" "$BACKUP_PROG_ARCHIVE" '
        '"$NETFS_PREFIX" "$OUTPUT_URL"'
    )
    completed = subprocess.run(
        ["bash", "-c", script, "bash", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.splitlines() == [
        f"/var/log/rear/rear-{prefix}.log",
        prefix,
        prefix,
        hostile,
        hostile,
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["barctl-run.conf"]
