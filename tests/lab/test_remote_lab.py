"""barctl's SSH chokepoint against a real sshd: one exec channel read in the calling thread."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from barctl.model import Node
from barctl.reasons import Reason
from barctl.run.commands import RemoteCommand
from barctl.run.remote import SessionPool, SshSettings, open_session, session_opener
from lab import Lab, standard_hosts
from tests.conftest import LabFactory

pytestmark = pytest.mark.lab


def settings_of(lab: Lab) -> SshSettings:
    return SshSettings(str(lab.client_key_path), str(lab.known_hosts_path), 5)


def test_streams_stdin_and_exit_code_come_back_whole_without_a_thread(
    lab_factory: LabFactory,
) -> None:
    """stdin reaches the command with EOF, stdout and stderr come back whole (UTF-8 across
    chunks) and line by line, the exit code is kept, and no thread is started per command."""
    lab = lab_factory(standard_hosts(1, ceph=False))
    node = Node("ctl-0", lab.address("ctl-0"), "root")
    script = "cat; printf 'e1\\ne2' >&2; yes é | head -n 50000; exit 3"
    command = RemoteCommand("streams", ("sh", "-c", script), 30, stdin="héllo\nwörld\n")
    lines: list[tuple[str, str]] = []
    threads: set[int] = set()

    def on_line(stream: str, line: str) -> None:
        lines.append((stream, line))
        threads.add(threading.active_count())

    with open_session(node, settings_of(lab)) as session:
        connected = threading.active_count()
        result = session.run(command, on_line)
    assert result.exit_code == 3 and result.reason is None
    assert result.stdout == "héllo\nwörld\n" + "é\n" * 50000
    assert result.stderr == "e1\ne2"
    assert [line for stream, line in lines if stream == "stderr"] == ["e1", "e2"]
    assert ("stdout", "wörld") in lines
    assert threads == {connected}


def test_a_command_without_stdin_gets_eof(lab_factory: LabFactory) -> None:
    """A command that reads stdin ends at once: barctl always closes the channel's input."""
    lab = lab_factory(standard_hosts(1, ceph=False))
    node = Node("ctl-0", lab.address("ctl-0"), "root")
    with open_session(node, settings_of(lab)) as session:
        result = session.run(RemoteCommand("read", ("wc", "-c"), 10))
    assert (result.exit_code, result.stdout.strip()) == (0, "0")


def test_a_cut_link_returns_connection_lost_within_seconds(lab_factory: LabFactory) -> None:
    """A command blocked on a session whose link is cut returns "connection lost" within the
    liveness bound (keepalives + TCP_USER_TIMEOUT), not at its own timeout."""
    lab = lab_factory(standard_hosts(1, ceph=False))
    node = Node("ctl-0", lab.address("ctl-0"), "root")
    with SessionPool(session_opener(settings_of(lab))) as pool:
        assert pool.run(node, RemoteCommand("warm", ("true",), 10)).ok
        timer = threading.Timer(1.0, lab.link_down, args=("ctl-0",))
        timer.start()
        began = time.monotonic()
        result = pool.run(node, RemoteCommand("sleep", ("sleep", "300"), 600))
        elapsed = time.monotonic() - began
        timer.join()
    assert result.reason is Reason.CONNECTION_LOST, result
    assert elapsed < 30, elapsed


def test_abort_closes_a_silent_session_in_seconds(lab_factory: LabFactory) -> None:
    """After abort, a command on a session whose peer went silent returns within the abort
    probe (3 s) instead of waiting for the kernel's bound."""
    lab = lab_factory(standard_hosts(1, ceph=False))
    node = Node("ctl-0", lab.address("ctl-0"), "root")
    abort = threading.Event()
    with SessionPool(session_opener(settings_of(lab))) as pool:
        assert pool.run(node, RemoteCommand("warm", ("true",), 10)).ok

        def cut_then_abort() -> None:
            lab.link_down("ctl-0")
            abort.set()

        timer = threading.Timer(1.0, cut_then_abort)
        timer.start()
        began = time.monotonic()
        result = pool.run(node, RemoteCommand("sleep", ("sleep", "300"), 600), abort=abort)
        elapsed = time.monotonic() - began
        timer.join()
    assert result.reason is Reason.CONNECTION_LOST, result
    assert elapsed < 8, elapsed


def test_unknown_host_key_is_refused_with_its_reason(
    lab_factory: LabFactory, tmp_path: Path
) -> None:
    """A node missing from known_hosts is refused in strict mode, with the reason that says so."""
    lab = lab_factory(standard_hosts(1, ceph=False))
    node = Node("ctl-0", lab.address("ctl-0"), "root")
    empty = tmp_path / "known_hosts"
    empty.write_text("# nothing\n")
    settings = SshSettings(str(lab.client_key_path), str(empty), 5)
    with SessionPool(session_opener(settings)) as pool:
        result = pool.run(node, RemoteCommand("name", ("uname", "-n"), 10))
    assert result.reason is Reason.UNKNOWN_HOST_KEY, result


def test_a_command_exiting_without_reading_its_stdin_keeps_its_exit_code(
    lab_factory: LabFactory,
) -> None:
    """A command that exits before reading a large stdin gives its own exit code on a session
    that stays up, not "connection lost" (the write into the closed channel is its result)."""
    lab = lab_factory(standard_hosts(1, ceph=False))
    node = Node("ctl-0", lab.address("ctl-0"), "root")
    with SessionPool(session_opener(settings_of(lab))) as pool:
        for size in (10, 5_000_000, 5_000_000):
            command = RemoteCommand("exits", ("sh", "-c", "exit 7"), 10, stdin="a" * size)
            result = pool.run(node, command)
            assert (result.exit_code, result.reason) == (7, None), (size, result)
        assert pool.run(node, RemoteCommand("after", ("true",), 10)).ok


def test_a_command_does_not_wait_for_the_servers_delayed_ack(lab_factory: LabFactory) -> None:
    """The session's socket has Nagle off (TCP_NODELAY), so a command's last small packet (its
    EOF) is not held for the server's 40 ms delayed ACK: the fastest of ten `true` is below it."""
    lab = lab_factory(standard_hosts(1, ceph=False))
    node = Node("ctl-0", lab.address("ctl-0"), "root")
    with open_session(node, settings_of(lab)) as session:
        transport = session.transport
        assert transport is not None
        assert transport.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        walls = []
        for _ in range(10):
            result = session.run(RemoteCommand("true", ("true",), 10))
            assert result.ok
            walls.append(result.duration_seconds)
    # Linux's TCP_DELACK_MIN: with Nagle on, every exec measured 44-52 ms on the lab.
    assert min(walls) < 0.040, walls
