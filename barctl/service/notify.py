"""sd_notify messages and the watchdog settings the service manager passes (ecosystem.md §5).

`notify()` uses systemd-python's `systemd.daemon.notify` when it imports, and otherwise writes
the datagram to `$NOTIFY_SOCKET` itself (an abstract socket name starts with '@'). Both are
no-ops outside systemd (no NOTIFY_SOCKET). The environment is never unset: children of the
daemon are not supposed to notify, and `NotifyAccess=main` makes systemd ignore them anyway.
"""

from __future__ import annotations

import importlib
import os
import socket
import time
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger("barctl.notify")

Sender = Callable[[str], bool]


def _datagram(state: str) -> bool:
    """Send `state` to $NOTIFY_SOCKET without systemd-python; False when there is no socket."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sender:
        sender.connect(address)
        sender.sendall(state.encode())
    return True


def _systemd_sender() -> Sender:
    try:
        daemon = importlib.import_module("systemd.daemon")  # optional C extension
    except ImportError:
        return _datagram

    def send(state: str) -> bool:
        return bool(daemon.notify(state))

    return send


_send: Sender = _systemd_sender()


def notify(*fields: str) -> bool:
    """Send `KEY=value` fields as one message; True when sent. Errors are logged, not raised."""
    message = "\n".join(fields)
    try:
        return _send(message)
    except OSError as error:
        log.warning("sd_notify failed", message=message, error=str(error))
        return False


def status(text: str) -> str:
    """A `STATUS=` field; newlines would split the message, so they become '; '."""
    return "STATUS=" + text.replace("\n", "; ")


def monotonic_usec() -> str:
    """`MONOTONIC_USEC=` with CLOCK_MONOTONIC in microseconds (pairs a RELOADING=1)."""
    return f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"


def extend_timeout(seconds: float) -> str:
    """`EXTEND_TIMEOUT_USEC=`: ask for `seconds` more before the start/stop timeout fires."""
    return f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}"


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), or None when not enabled.

    Enabled when WATCHDOG_USEC is a positive integer and WATCHDOG_PID is unset or our pid.
    """
    try:
        usec = int(environ.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if usec <= 0 or (owner and owner != str(pid)):
        return None
    return usec / 2 / 1_000_000
