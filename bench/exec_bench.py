"""SSH client overhead: barctl's runner against a bare paramiko channel, and known_hosts sizes.

Run as root (the lab's real sshd): `.venv/bin/python -m bench.exec_bench [--commands 200]
[--quick]`. Prints figures and ratios; asserts nothing.

1. known_hosts: paramiko's own `HostKeys.load` (which checks every line against every earlier
   entry: quadratic, and an HMAC per hashed entry for each plain name) against barctl's
   `run.host_keys.known_host_keys`, at 52, 500 and 1000 lines (half plain, half hashed as
   OpenSSH's HashKnownHosts writes them), and one lookup (what each connection does).
2. Per command, on one open connection to a lab host: client CPU and wall of a bare paramiko
   exec (open_session, exec_command, read to EOF, exit status) against `Session.run` with the
   same rendered command line (`timeout ... uname -n`).
3. Per connection (connect, one command, close) with a known_hosts of 52 and 1000 lines: bare
   paramiko (loading the file each time, as a fresh SSHClient does) against barctl's
   `open_session` (host keys parsed once per process).
"""

from __future__ import annotations

import argparse
import base64
import functools
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import paramiko

from barctl.model import Node
from barctl.run import commands, host_keys, remote
from lab import HostSpec, Lab

LINES = (52, 500, 1000)


def known_hosts_text(count: int, real: str = "") -> str:
    """`count` lines: alternately plain and hashed names, each with its own ed25519 key."""
    lines = []
    for number in range(count):
        blob = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + os.urandom(32))
        name = f"198.19.{number // 250}.{number % 250 + 1}"
        if number % 2:
            name = paramiko.HostKeys.hash_host(name)
        lines.append(f"{name} ssh-ed25519 {blob.decode()}")
    return real + "\n".join(lines) + "\n"


def cpu_and_wall(action: Callable[[], object], count: int) -> tuple[float, float]:
    """Mean client CPU seconds and wall seconds of `action` over `count` calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        action()
    return (time.process_time() - cpu) / count, (time.perf_counter() - wall) / count


def parse_figures(directory: Path) -> list[str]:
    """Section 1: parse and lookup cost per known_hosts size."""
    lines = []
    for count in LINES:
        path = directory / f"known_hosts_{count}"
        path.write_text(known_hosts_text(count))
        paramiko_cpu, _ = cpu_and_wall(lambda path=path: paramiko.HostKeys(str(path)), 3)
        host_keys.forget()
        began = time.process_time()
        keys = host_keys.known_host_keys((str(path),))
        ours = time.process_time() - began
        host_keys.forget()
        keys = host_keys.known_host_keys((str(path),))
        first, _ = cpu_and_wall(lambda keys=keys: keys.lookup("198.19.0.1"), 1)
        lookup, _ = cpu_and_wall(lambda keys=keys: keys.lookup("198.19.0.1"), 50)
        lines.append(
            f"exec: known_hosts {count:5d} lines: paramiko load {paramiko_cpu * 1000:7.1f} ms,"
            f" barctl load {ours * 1000:6.1f} ms (once per process) ="
            f" {paramiko_cpu / ours:5.1f}x less; first lookup of a name {first * 1000:.2f} ms,"
            f" again {lookup * 1000:.3f} ms"
        )
    return lines


def bare_client(lab: Lab, host: str, known_hosts: Path) -> paramiko.SSHClient:
    """A paramiko client as a fresh SSHClient does it: load the file, connect."""
    client = paramiko.SSHClient()
    client.load_system_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        lab.address(host), username="root", key_filename=str(lab.client_key_path),
        look_for_keys=False, allow_agent=False, timeout=10,
    )  # fmt: skip
    return client


def bare_exec(transport: paramiko.Transport, line: str) -> tuple[int, bytes]:
    """The floor: one exec channel, stdout read to EOF, the exit status."""
    channel = transport.open_session(timeout=10)
    channel.exec_command(line)
    channel.shutdown_write()
    output = b""
    while chunk := channel.recv(32768):
        output += chunk
    status = channel.recv_exit_status()
    channel.close()
    return status, output


def per_connection(
    lab: Lab, node: Node, command: commands.RemoteCommand, known_hosts: Path, *, bare: bool
) -> Callable[[], object]:
    """One connection, one command, closed: by a fresh paramiko client or by barctl."""
    settings = remote.SshSettings(str(lab.client_key_path), str(known_hosts), 10)

    def bare_connection() -> None:
        with bare_client(lab, node.name, known_hosts) as fresh:
            transport = fresh.get_transport()
            assert transport is not None
            bare_exec(transport, commands.render(command, node.user))

    def barctl_connection() -> None:
        with remote.open_session(node, settings) as fresh:
            fresh.run(command)

    return bare_connection if bare else barctl_connection


def exec_figures(lab: Lab, count: int, known_hosts: dict[int, Path]) -> list[str]:
    """Sections 2 and 3 against the lab's one host."""
    node = Node("ctl-0", lab.address("ctl-0"), "root")
    command = commands.RemoteCommand("node_name", ("uname", "-n"), 30)
    line = commands.render(command, node.user)
    small = known_hosts[min(known_hosts)]
    settings = remote.SshSettings(str(lab.client_key_path), str(small), 10)
    client = bare_client(lab, "ctl-0", small)
    transport = client.get_transport()
    assert transport is not None
    bare_cpu, bare_wall = cpu_and_wall(lambda: bare_exec(transport, line), count)
    client.close()
    with remote.open_session(node, settings) as session:
        ours_cpu, ours_wall = cpu_and_wall(lambda: session.run(command), count)
    lines = [
        f"exec: per command ({count}): bare paramiko {bare_cpu * 1000:.2f} ms CPU"
        f" {bare_wall * 1000:.2f} ms wall; barctl Session.run {ours_cpu * 1000:.2f} ms CPU"
        f" {ours_wall * 1000:.2f} ms wall = {ours_cpu / bare_cpu:.2f}x the floor's CPU"
    ]
    connections = max(5, count // 20)

    for name, path in known_hosts.items():
        connections_with = functools.partial(per_connection, lab, node, command, path)
        bare_cpu, bare_wall = cpu_and_wall(connections_with(bare=True), connections)
        ours_cpu, ours_wall = cpu_and_wall(connections_with(bare=False), connections)
        lines.append(
            f"exec: per connection + command ({connections}, known_hosts {name} lines):"
            f" bare paramiko {bare_cpu * 1000:.1f} ms CPU {bare_wall * 1000:.1f} ms wall;"
            f" barctl open_session {ours_cpu * 1000:.1f} ms CPU {ours_wall * 1000:.1f} ms wall"
            f" = {ours_cpu / bare_cpu:.3f}x the bare client's CPU"
        )
    return lines


def main(argv: list[str] | None = None) -> list[str]:
    """Print and return the figure lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="40 commands (CI smoke)")
    arguments = parser.parse_args(argv)
    count = 40 if arguments.quick else arguments.commands
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        lines = parse_figures(directory)
        with Lab.running(directory / "lab", [HostSpec("ctl-0", "controller")]) as lab:
            known_hosts = {}
            for size in (LINES[0], LINES[-1]):
                path = directory / f"known_hosts_lab_{size}"
                real = lab.known_hosts_path.read_text()
                path.write_text(known_hosts_text(size - len(real.splitlines()), real))
                known_hosts[size] = path
            lines += exec_figures(lab, count, known_hosts)
    for line in lines:
        print(line, flush=True)
    return lines


if __name__ == "__main__":
    main()
