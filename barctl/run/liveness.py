"""Bounding SSH sessions whose peer went silent.

Issue 8 findings 7 and 8: an established session to a node whose link is gone
sends nothing and hears nothing, so a command on it used to block until the client timeout (up
to `rear_seconds` + 45 s). Every session therefore (1) sends SSH keepalives and sets TCP
keepalive and TCP_USER_TIMEOUT (tcp(7): unacknowledged data older than this closes the socket),
so the kernel declares a silent peer dead within `DEAD_AFTER_SECONDS` of the first unanswered
keepalive; and (2) once a run is aborted, probes the peer with a keepalive that wants a reply
(OpenSSH answers `keepalive@openssh.com` with a failure message, like `ServerAliveInterval`)
and closes the transport when none comes within `ABORT_PROBE_SECONDS`. Either way the blocked
command returns at once as "connection lost": nothing was killed on the node.

Measured against the lab's `link_down` (veth down, frames to nowhere): a command blocked on the
cut session returns 12.5 s after the cut, or 3 s after an abort.
"""

from __future__ import annotations

import socket
import threading
import time

import paramiko

KEEPALIVE_SECONDS = 3
DEAD_AFTER_SECONDS = 10
ABORT_PROBE_SECONDS = 3


def bound_dead_connections(transport: paramiko.Transport) -> None:
    """Keepalives and kernel limits so that a silent peer fails the session within seconds."""
    transport.set_keepalive(KEEPALIVE_SECONDS)
    sock = transport.sock
    if not isinstance(sock, socket.socket):  # pragma: no cover - a proxy command, not TCP
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_SECONDS)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_SECONDS)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, DEAD_AFTER_SECONDS * 1000)


def peer_answers(transport: paramiko.Transport, seconds: float) -> bool:
    """True when the server answers a keepalive that wants a reply within `seconds`.

    paramiko's `global_request(wait=True)` has no timeout of its own; it returns once the
    transport closes, so the helper thread ends when the caller closes a silent transport.
    """
    if not transport.is_active():
        return False
    request = threading.Thread(
        target=transport.global_request, args=("keepalive@openssh.com",), daemon=True
    )
    request.start()
    request.join(seconds)
    return not request.is_alive() and transport.is_active()


class AbortProbe:
    """Checked by the thread reading a command (barctl.run.channel_exec): once `abort` is set,
    the peer must answer a keepalive every `ABORT_PROBE_SECONDS`, else the transport is
    closed and the command returns as "connection lost"."""

    def __init__(self, transport: paramiko.Transport, abort: threading.Event) -> None:
        self.transport = transport
        self.abort = abort
        self.next_probe = 0.0

    def check(self) -> None:
        """Probe if the run is aborted and the last answer is older than ABORT_PROBE_SECONDS."""
        if not self.abort.is_set() or time.monotonic() < self.next_probe:
            return
        if peer_answers(self.transport, ABORT_PROBE_SECONDS):
            self.next_probe = time.monotonic() + ABORT_PROBE_SECONDS
        else:
            self.transport.close()
