"""One command's stdout streamed into another command's stdin on another node, through barctl.

The restore material (issue 11) goes from a node to the backup target: the node has no
credentials to the target (NFS is mounted only inside ReaR's run, SFTP logs in with a key
only lftp uses), so barctl carries the bytes between its two SSH sessions, one chunk at a
time: a multi-GB database dump never sits in barctl's memory.

Both commands are rendered by `commands.render` (server-side `timeout`, `sudo -n`), so each
side ends on its own; the client side gives up after `client_timeout_seconds` without a byte.
"""

from __future__ import annotations

import time

import paramiko

from barctl.model import CommandResult
from barctl.reasons import Reason
from barctl.run.commands import RemoteCommand, client_timeout_seconds, render

CHUNK_BYTES = 1 << 16


def _channel(transport: paramiko.Transport, command: str, timeout: int) -> paramiko.Channel:
    channel = transport.open_session(timeout=timeout)
    channel.settimeout(timeout)
    channel.exec_command(command)
    return channel


def _stderr(channel: paramiko.Channel) -> str:
    data = b""
    while channel.recv_stderr_ready():
        data += channel.recv_stderr(CHUNK_BYTES)
    return data.decode("utf-8", "replace")


def _pump(source: paramiko.Channel, destination: paramiko.Channel) -> str:
    """Copy until the source ends; "" or why the copy stopped early."""
    while True:
        chunk = source.recv(CHUNK_BYTES)
        if not chunk:
            destination.shutdown_write()
            return ""
        try:
            destination.sendall(chunk)
        except OSError as error:  # the writer ended first (disk full, killed)
            source.close()
            return f"the writer stopped: {error}"


def pipe(
    source: paramiko.Transport,
    read: tuple[RemoteCommand, str],
    destination: paramiko.Transport,
    write: tuple[RemoteCommand, str],
) -> tuple[CommandResult, CommandResult]:
    """Run `read` (command, SSH user) on `source` and `write` on `destination`, the first's
    stdout into the second's stdin; both results, the reader's first."""
    started = time.monotonic()
    limit = max(client_timeout_seconds(read[0]), client_timeout_seconds(write[0]))
    out = _channel(source, render(*read), limit)
    into = _channel(destination, render(*write), limit)
    try:
        stopped = _pump(out, into)
        codes = (out.recv_exit_status(), into.recv_exit_status())
        errors = (f"{_stderr(out)}\n{stopped}".strip(), _stderr(into))
    except TimeoutError:
        elapsed = time.monotonic() - started
        result = CommandResult(None, "", "client timed out", elapsed, Reason.TIMED_OUT)
        return result, result
    finally:
        out.close()
        into.close()
    elapsed = time.monotonic() - started
    return (
        CommandResult(codes[0], "", errors[0], elapsed),
        CommandResult(codes[1], "", errors[1], elapsed),
    )
