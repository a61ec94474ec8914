"""The sd_notify fallback used when systemd-python is missing: a datagram to $NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from barctl.service import notify


@pytest.mark.parametrize("abstract", [False, True])
def test_datagram_reaches_path_and_abstract_sockets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, abstract: bool
) -> None:
    """`@name` is an abstract socket, anything else a path; the message arrives whole."""
    name = f"barctl-test-{os.getpid()}-{tmp_path.name}"
    address = "\0" + name if abstract else str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(address)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name if abstract else address)
        assert notify._datagram("READY=1\nSTATUS=ok")
        assert receiver.recv(1024) == b"READY=1\nSTATUS=ok"


def test_no_socket_means_nothing_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside systemd (no NOTIFY_SOCKET) notify is a no-op that returns False."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify._datagram("READY=1") is False
    assert notify.notify("READY=1") is False


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "42"}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "43"}, None),
        ({"WATCHDOG_USEC": "junk"}, None),
    ],
)
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    """Half of WATCHDOG_USEC, only when WATCHDOG_PID is unset or ours."""
    assert notify.watchdog_interval(environ, 42) == expected
