"""THE SSH chokepoint: every byte barctl sends to a node goes through `Session.run`.

paramiko directly, with Fabric's unsafe defaults never taken (ecosystem.md §2): RejectPolicy (or
barctl's accept-new policy), known_hosts read-only (barctl.run.host_keys: parsed once per process,
never written back), no ssh_config files and no agent (a stale SSH_AUTH_SOCK hangs the connect,
fabric#2306). One fresh connection per node per run; every channel open is bounded (paramiko's
default waits 3600 s on a dead connection, fabric#2197). A command is read by
barctl.run.channel_exec in the calling thread: Fabric's runner cost a thread per stream and
10 ms polling sleeps per command (issue 12, bench/exec_bench.py).

Dead connections are bounded by `barctl.run.liveness` (issue 8 findings 7 and 8).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass

import paramiko
from paramiko.ssh_exception import NoValidConnectionsError

from barctl.model import CommandResult, Node
from barctl.reasons import Reason
from barctl.run import channel_exec, piping
from barctl.run.commands import RemoteCommand, client_timeout_seconds, render
from barctl.run.host_keys import known_host_keys
from barctl.run.liveness import bound_dead_connections
from barctl.run.runner import LineCallback

LOST_PREFIX = "connection lost: "


@dataclass(frozen=True)
class SshSettings:
    """How barctl authenticates nodes and itself."""

    private_key: str
    known_hosts: str
    connect_timeout_seconds: int = 10
    accept_new_hosts_file: str | None = None


class ConnectError(Exception):
    """A node could not be reached or authenticated, for `reason`."""

    def __init__(self, node: str, reason: Reason, detail: str) -> None:
        self.node = node
        self.reason = reason
        self.detail = detail
        super().__init__(f"{node}: {reason.words}: {detail}")


class _AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """Record a never-seen host key in a barctl-owned file; a changed key still fails."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        with self.lock, open(self.path, "a", encoding="ascii") as handle:
            handle.write(line)


# Checked in order; the first match names the reason. paramiko raises SSHException with these
# texts (transport.py: "Error reading SSH protocol banner", client.py RejectPolicy: "Server %r
# not found in known_hosts"); NoValidConnectionsError is its "every address refused".
_ERROR_TYPES: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], Reason], ...] = (
    (paramiko.BadHostKeyException, Reason.HOST_KEY_CHANGED),
    (paramiko.AuthenticationException, Reason.AUTHENTICATION_FAILED),
    ((NoValidConnectionsError, ConnectionRefusedError), Reason.CONNECTION_REFUSED),
    ((socket.timeout, TimeoutError), Reason.CONNECT_TIMEOUT),
)
_ERROR_TEXTS = (
    ("not found in known_hosts", Reason.UNKNOWN_HOST_KEY),
    ("protocol banner", Reason.BANNER_TIMEOUT),
    # A server that accepts TCP but never speaks gives this after the connect timeout.
    ("No existing session", Reason.BANNER_TIMEOUT),
)


def classify_connect_error(error: BaseException) -> Reason:
    """Map a connect-time exception to the reason an operator acts on: the one place."""
    for types, reason in _ERROR_TYPES:
        if isinstance(error, types):
            return reason
    text = str(error)
    for fragment, reason in _ERROR_TEXTS:
        if fragment in text:
            return reason
    return Reason.UNREACHABLE if isinstance(error, OSError) else Reason.SSH_ERROR


class _Client(paramiko.SSHClient):
    """An SSHClient checking server keys against keys parsed once per process."""

    def __init__(self, host_keys: paramiko.HostKeys) -> None:
        super().__init__()
        # What load_system_host_keys fills: read, never saved back (save_host_keys writes only
        # the client's own `_host_keys`, which stays empty).
        self._system_host_keys = host_keys


def _client(settings: SshSettings) -> paramiko.SSHClient:
    files = [settings.known_hosts]
    if settings.accept_new_hosts_file is not None:
        files.append(settings.accept_new_hosts_file)
    client = _Client(known_host_keys(files))
    if settings.accept_new_hosts_file is not None:
        client.set_missing_host_key_policy(_AcceptNewPolicy(settings.accept_new_hosts_file))
    else:
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def _connect(client: paramiko.SSHClient, node: Node, settings: SshSettings) -> None:
    timeout = settings.connect_timeout_seconds
    client.connect(
        node.address,
        port=node.port,
        username=node.user,
        key_filename=settings.private_key,
        look_for_keys=False,
        allow_agent=False,
        timeout=timeout,
        banner_timeout=timeout,
        auth_timeout=timeout,
    )


def send_without_delay(transport: paramiko.Transport) -> None:
    """Turn off Nagle's algorithm on the connection (TCP_NODELAY, tcp(7)).

    paramiko sets no socket option and writes each SSH packet with its own send(); an exec is
    channel-open, exec request, then EOF on stdin: Nagle holds that last small packet until the
    server ACKs the previous one, and the server's delayed ACK waits 40 ms (Linux's
    TCP_DELACK_MIN) for data to ride on. Measured on the lab: 44 ms per `true` with Nagle, 2.5 ms
    without, every command of a run paying it (docs/performance.md, "Rolling control-plane").
    Each send here is a whole SSH packet, so no tiny segments are made that Nagle would have
    merged (asyncssh#50 made the same choice)."""
    sock = transport.sock
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Session:
    """An open SSH connection to one node for one run."""

    def __init__(self, node: Node, client: paramiko.SSHClient, open_timeout: float) -> None:
        self.node = node
        self.client = client
        self.open_timeout = open_timeout

    @property
    def transport(self) -> paramiko.Transport | None:
        """The SSH transport (None once closed)."""
        return self.client.get_transport()

    def alive(self) -> bool:
        """True while the SSH transport is up."""
        transport = self.transport
        return transport is not None and bool(transport.is_active())

    def run(
        self,
        command: RemoteCommand,
        on_line: LineCallback | None = None,
        abort: threading.Event | None = None,
    ) -> CommandResult:
        """Run one command; a non-zero exit, a timeout or a lost connection is a result.

        With `abort` set while the command runs, a silent peer ends it within seconds.
        """
        transport = self.transport
        if transport is None:
            raise paramiko.SSHException("the SSH connection is closed")
        started = time.monotonic()
        result = channel_exec.execute(
            transport,
            render(command, self.node.user),
            stdin=command.stdin,
            timeout_seconds=client_timeout_seconds(command),
            open_timeout_seconds=self.open_timeout,
            on_line=on_line,
            abort=abort,
        )
        elapsed = time.monotonic() - started
        if not self.alive():
            # The channel closed because the transport died, not because the command ended.
            lost = Reason.CONNECTION_LOST
            return CommandResult(None, result.stdout, _lost(result.stderr), elapsed, lost)
        if result.timed_out:
            return CommandResult(None, result.stdout, result.stderr, elapsed, Reason.TIMED_OUT)
        return CommandResult(result.exit_code, result.stdout, result.stderr, elapsed)

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        self.client.close()


def _lost(stderr: str) -> str:
    return (stderr.rstrip("\n") + "\nconnection lost").lstrip("\n")


Opener = Callable[[Node], AbstractContextManager["Session"]]


def session_opener(settings: SshSettings) -> Opener:
    """Opens fresh, host-key-verified sessions with `settings`: for the gate and a pool."""

    def opener(node: Node) -> AbstractContextManager[Session]:
        return open_session(node, settings)

    return opener


@contextmanager
def open_session(node: Node, settings: SshSettings) -> Iterator[Session]:
    """Open a fresh, host-key-verified connection to `node`; always closed on exit."""
    client = _client(settings)
    try:
        try:
            _connect(client, node, settings)
        except Exception as error:  # every connect failure becomes a reason
            raise ConnectError(node.name, classify_connect_error(error), str(error)) from None
        transport = client.get_transport()
        assert transport is not None  # connect returned: the transport is up
        bound_dead_connections(transport)
        send_without_delay(transport)
        yield Session(node, client, settings.connect_timeout_seconds)
    finally:
        client.close()


class SessionPool:
    """The `Runner` over SSH: one connection per node for a whole run, opened on first use and
    reopened if it drops. Every failure to reach or keep a node becomes a result here, with its
    `Reason`: nothing above this class handles a transport exception.

    Connecting happens outside the pool lock, under a per-node lock: one slow or dead node never
    blocks the workers of the others. A node that could not be reached once in this run fails
    fast afterwards (`unreachable`), so an unwind does not wait a connect timeout per undo.
    """

    def __init__(self, opener: Opener) -> None:
        self.opener = opener
        self.stacks: dict[str, ExitStack] = {}
        self.sessions: dict[str, Session] = {}
        self.node_locks: dict[str, threading.Lock] = {}
        self.unreachable: dict[str, Reason] = {}
        self.lock = threading.Lock()

    def _node_lock(self, name: str) -> threading.Lock:
        with self.lock:
            return self.node_locks.setdefault(name, threading.Lock())

    def _session(self, node: Node) -> Session:
        with self._node_lock(node.name):
            with self.lock:
                session = self.sessions.get(node.name)
                known_reason = self.unreachable.get(node.name)
            if session is not None:
                return session
            if known_reason is not None:
                raise ConnectError(node.name, known_reason, "unreachable earlier in this run")
            stack = ExitStack()
            try:
                session = stack.enter_context(self.opener(node))
            except ConnectError as error:
                with self.lock:
                    self.unreachable[node.name] = error.reason
                raise
            with self.lock:
                self.sessions[node.name] = session
                self.stacks[node.name] = stack
            return session

    def _drop(self, node: Node) -> None:
        with self.lock:
            self.sessions.pop(node.name, None)
            stack = self.stacks.pop(node.name, None)
        if stack is not None:
            stack.close()

    def run(
        self,
        node: Node,
        command: RemoteCommand,
        on_line: LineCallback | None = None,
        abort: threading.Event | None = None,
    ) -> CommandResult:
        """Run on `node`; a connection lost mid-command is a failed result and a fresh session."""
        started = time.monotonic()
        try:
            result = self._session(node).run(command, on_line, abort)
        except ConnectError as error:
            stderr = f"{error.reason.words}: {error.detail}"
            return CommandResult(None, "", stderr, time.monotonic() - started, error.reason)
        except (paramiko.SSHException, EOFError, OSError) as error:
            # The link went away after the session was made (or while it was being made).
            self._drop(node)
            stderr = f"{LOST_PREFIX}{error or type(error).__name__}"
            return CommandResult(
                None, "", stderr, time.monotonic() - started, Reason.CONNECTION_LOST
            )
        if result.connection_lost:
            self._drop(node)
        return result

    def pipe(
        self, source: Node, read: RemoteCommand, destination: Node, write: RemoteCommand
    ) -> tuple[CommandResult, CommandResult]:
        """`read` on `source` streamed into `write` on `destination` (piping.py)."""
        started = time.monotonic()
        try:
            reader, writer = self._session(source).transport, self._session(destination).transport
            if reader is None or writer is None:
                raise paramiko.SSHException("the SSH connection is closed")
            return piping.pipe(reader, (read, source.user), writer, (write, destination.user))
        except ConnectError as error:
            stderr, reason = f"{error.reason.words}: {error.detail}", error.reason
        except (paramiko.SSHException, EOFError, OSError) as error:
            self._drop(source)
            self._drop(destination)
            stderr, reason = f"{LOST_PREFIX}{error or type(error).__name__}", Reason.CONNECTION_LOST
        result = CommandResult(None, "", stderr, time.monotonic() - started, reason)
        return result, result

    def close(self) -> None:
        """Close every connection."""
        for name in list(self.stacks):
            self._drop(Node(name, "", ""))

    def __enter__(self) -> SessionPool:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()
