"""The command barctl sends to a node, an argv tuple, and the one way it is rendered.

Pure: no I/O. `remote.py` is the only module that sends what `render` returns. The commands
themselves are built, by concern, in `commands_probe` (read-only probes of a node),
`commands_services` (galera, pacemaker, ceph and containers), `commands_rear` (ReaR and the
run's files on a node) and `commands_target` (the backup target: listing, drill, verification);
`setup_commands` builds `barctl setup`'s.

Why the wrapping (ecosystem.md §2.4): a client-side timeout only closes the SSH channel and the
remote process keeps running, so every command runs under coreutils `timeout --kill-after`, set a
little below the client's own timeout. `sudo -n` comes first so that `timeout` runs as root and can
kill a root process; `-n` fails at once instead of waiting on a password prompt.
Secrets (the MySQL root password) travel on stdin as a `[client]` option file read by
`--defaults-extra-file=/dev/stdin`, never in argv: the vendor role put `-p<password>` on the
command line, visible in `ps` and in logs (tripleo.md §8).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

KILL_AFTER_SECONDS = 30


@dataclass(frozen=True)
class RemoteCommand:
    """One command for one node: argv, limits, and whether it changes the node's state."""

    name: str
    argv: tuple[str, ...]
    timeout_seconds: int
    changes_state: bool = False
    stdin: str | None = None
    stdout_path: str | None = None
    stdout_filter: tuple[str, ...] = ()
    # Run under `umask 077` (through bash): for tools that create files with the caller's umask.
    private: bool = False

    def describe(self) -> str:
        """Human-readable form for plans and logs: argv and redirections, never stdin content."""
        text = shlex.join(self.argv)
        if self.stdout_filter:
            text += " | " + shlex.join(self.stdout_filter)
        if self.stdout_path:
            text += " > " + shlex.quote(self.stdout_path)
        if self.stdin is not None:
            text += "  (secret on stdin)" if "password" in self.stdin else "  (input on stdin)"
        return text


def render(command: RemoteCommand, user: str) -> str:
    """Return the single shell string sent to the node; every argument is quoted."""
    prefix: list[str] = []
    if user != "root":
        prefix += ["sudo", "-n"]
    if command.stdout_path is None and not command.stdout_filter and not command.private:
        return shlex.join([*prefix, *bounded(command.argv, command.timeout_seconds)])
    # Redirection needs a shell on the node; umask 077 because dumps hold every credential.
    pipeline = shlex.join(command.argv)
    if command.stdout_filter:
        pipeline = f"set -o pipefail; {pipeline} | {shlex.join(command.stdout_filter)}"
    if command.stdout_path:
        pipeline += f" > {shlex.quote(command.stdout_path)}"
    shell = ("bash", "-c", f"umask 077; {pipeline}")
    return shlex.join([*prefix, *bounded(shell, command.timeout_seconds)])


def bounded(argv: Sequence[str], timeout_seconds: int) -> tuple[str, ...]:
    """`argv` under coreutils `timeout --kill-after` (why: this module's docstring): the one
    server-side bounding of a remote command, by `render` and by the gate's probe script for
    each probe it runs (probe_script)."""
    return ("timeout", f"--kill-after={KILL_AFTER_SECONDS}", f"{timeout_seconds}s", *argv)


def client_timeout_seconds(command: RemoteCommand) -> int:
    """Client-side limit: the server-side one plus its kill grace plus slack for the network."""
    return command.timeout_seconds + KILL_AFTER_SECONDS + 15


def mysql_option_file(password: str) -> str:
    """A MySQL option file carrying the password, sent on stdin."""
    return f"[client]\nuser=root\npassword={password}\n"
