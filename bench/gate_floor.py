"""The gate's floor (issue 12): one exec channel per host running every probe, by bare paramiko.

"One exec channel per host running every probe is the floor." Before the timed path, the
commands the gate really sent (recorded by `lab.counting.CountingRunner`) are rendered into one
shell line per host: the same probe script with the same arguments, then the galera queries
where the gate made them, the option file on the channel's stdin as the gate sends it. The
timed path is paramiko alone: a socket, a `Transport`, the host key checked against keys parsed
beforehand, public-key auth with a key loaded beforehand, ONE exec, its output read to EOF,
closed; the same parallelism as the gate. So gate / floor is what barctl adds on top of the
node-side work itself (its second exec, its choice of the node asked the cluster's queries,
its client code), and the node-side work cancels out.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import paramiko

from barctl.model import Node
from barctl.run.commands import RemoteCommand, render


@dataclass(frozen=True)
class FloorWork:
    """One host's node-side work as one exec: the shell line and what goes on its stdin."""

    address: str
    port: int
    user: str
    line: str
    stdin: str


def floor_work(nodes: Sequence[Node], sent: Sequence[tuple[str, RemoteCommand]]) -> list[FloorWork]:
    """Each host's recorded commands as one line, in the order the gate sent them; a command
    without input reads /dev/null, the one with input (the option file) the channel's stdin."""
    work = []
    for node in nodes:
        mine = [command for name, command in sent if name == node.name]
        inputs = [command.stdin for command in mine if command.stdin is not None]
        assert len(inputs) <= 1, f"{node.name}: more than one command with input"
        parts = [
            render(command, node.user) + (" </dev/null" if command.stdin is None else "")
            for command in mine
        ]
        line = "; ".join(parts)
        work.append(FloorWork(node.address, node.port, node.user, line, "".join(inputs)))
    return work


@dataclass(frozen=True)
class Credentials:
    """Parsed once, before the timed path: the client key and the known host keys."""

    key: paramiko.PKey
    host_keys: paramiko.HostKeys

    @classmethod
    def load(cls, private_key: str, known_hosts: str) -> Credentials:
        """The key file and known_hosts, each read once."""
        return cls(
            paramiko.Ed25519Key.from_private_key_file(private_key), paramiko.HostKeys(known_hosts)
        )


def one_exec(work: FloorWork, credentials: Credentials, timeout: float) -> int:
    """Connect, check the host key, authenticate, one exec read to EOF, close: its exit status."""
    sock = socket.create_connection((work.address, work.port), timeout=timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        offered = transport.get_remote_server_key()
        known = credentials.host_keys.lookup(work.address) or {}
        if known.get(offered.get_name()) != offered:
            raise paramiko.BadHostKeyException(work.address, offered, offered)
        transport.auth_publickey(work.user, credentials.key)
        channel = transport.open_session(timeout=timeout)
        channel.set_combine_stderr(True)
        channel.exec_command(work.line)
        if work.stdin:
            channel.sendall(work.stdin.encode())
        channel.shutdown_write()
        while channel.recv(65536):
            pass
        return channel.recv_exit_status()
    finally:
        transport.close()


def floor_once(
    work: Sequence[FloorWork], credentials: Credentials, parallel: int, timeout: float = 30
) -> tuple[float, float]:
    """Every host's one exec, `parallel` at a time: wall seconds and client CPU seconds."""
    wall, cpu = time.monotonic(), time.process_time()
    with ThreadPoolExecutor(max_workers=parallel) as workers:
        statuses = list(workers.map(lambda item: one_exec(item, credentials, timeout), work))
    assert all(status == 0 for status in statuses), statuses
    return time.monotonic() - wall, time.process_time() - cpu
