"""What an error means, decided once: exit codes, connect exceptions and the reasons table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import paramiko
import pytest
from paramiko.ssh_exception import NoValidConnectionsError

from barctl.model import CommandResult, Node
from barctl.reasons import MEANINGS, Reason, interpret_exit_code, root_cause
from barctl.run.commands_probe import node_name
from barctl.run.remote import ConnectError, Session, SessionPool, classify_connect_error

NODE = Node("ctl-0", "198.18.0.1", "root")
KEY = paramiko.RSAKey.generate(1024)
OTHER_KEY = paramiko.RSAKey.generate(1024)


@pytest.mark.parametrize(
    ("exit_code", "reason"),
    [
        (0, None),
        (1, Reason.COMMAND_FAILED),
        (2, Reason.COMMAND_FAILED),
        (124, Reason.TIMED_OUT),
        (137, Reason.TIMED_OUT),
        (None, Reason.INTERNAL),
    ],
)
def test_exit_codes_are_interpreted_once(exit_code: int | None, reason: Reason | None) -> None:
    """0 succeeds, coreutils timeout's 124/137 time out, no exit code is never a success."""
    assert interpret_exit_code(exit_code) is reason
    assert CommandResult(exit_code, "", "", 0.0).failure is reason


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (paramiko.BadHostKeyException("198.18.0.1", KEY, OTHER_KEY), Reason.HOST_KEY_CHANGED),
        (paramiko.AuthenticationException("Authentication failed."), Reason.AUTHENTICATION_FAILED),
        (
            NoValidConnectionsError({("198.18.0.1", 22): ConnectionRefusedError()}),
            Reason.CONNECTION_REFUSED,
        ),
        (ConnectionRefusedError(111, "Connection refused"), Reason.CONNECTION_REFUSED),
        (TimeoutError("timed out"), Reason.CONNECT_TIMEOUT),
        (TimeoutError(110, "Connection timed out"), Reason.CONNECT_TIMEOUT),
        (
            paramiko.SSHException("Server '198.18.0.1' not found in known_hosts"),
            Reason.UNKNOWN_HOST_KEY,
        ),
        (paramiko.SSHException("Error reading SSH protocol banner"), Reason.BANNER_TIMEOUT),
        (paramiko.SSHException("No existing session"), Reason.BANNER_TIMEOUT),
        (OSError(113, "No route to host"), Reason.UNREACHABLE),
        (paramiko.SSHException("Incompatible ssh peer"), Reason.SSH_ERROR),
    ],
)
def test_real_paramiko_connect_errors_are_classified(error: Exception, reason: Reason) -> None:
    """Each exception paramiko raises at connect maps to the reason an operator acts on."""
    assert classify_connect_error(error) is reason
    assert reason.connect and reason.unreachable


def test_the_pool_turns_a_connect_error_into_a_result_and_fails_fast_after() -> None:
    """No session: an `unreachable` result with the reason; the node is not dialled again."""
    opened: list[str] = []

    @contextmanager
    def opener(node: Node) -> Iterator[Session]:
        opened.append(node.name)
        raise ConnectError(node.name, Reason.HOST_KEY_CHANGED, "key mismatch")
        yield  # pragma: no cover

    with SessionPool(opener) as pool:
        first = pool.run(NODE, node_name(5))
        second = pool.run(NODE, node_name(5))
    assert first.unreachable and first.failure is Reason.HOST_KEY_CHANGED
    assert first.stderr == "host key changed: key mismatch"
    assert second.failure is Reason.HOST_KEY_CHANGED and opened == ["ctl-0"]


def test_the_pool_turns_a_transport_error_into_connection_lost() -> None:
    """EOFError from paramiko (link gone) is a `connection lost` result, never an exception."""

    @contextmanager
    def opener(node: Node) -> Iterator[Session]:
        raise EOFError("Socket is closed")
        yield  # pragma: no cover

    with SessionPool(opener) as pool:
        result = pool.run(NODE, node_name(5))
    assert result.connection_lost and not result.unreachable
    assert result.stderr == "connection lost: Socket is closed"


def test_every_reason_has_a_meaning_and_transience() -> None:
    """The table is complete; operator-fixable reasons are permanent, link trouble transient."""
    assert set(MEANINGS) == set(Reason)
    assert Reason.CONNECT_TIMEOUT.transient and Reason.UNHEALTHY.transient
    assert not Reason.HOST_KEY_CHANGED.transient and not Reason.AUTHENTICATION_FAILED.transient
    assert not Reason.CONFIGURATION.transient and not Reason.COMMAND_FAILED.transient
    assert Reason.CONNECT_TIMEOUT.words == "connect timeout"


def test_the_root_cause_of_several_reasons_is_the_ssh_one() -> None:
    """A node refused for a timeout and for pacemaker is counted a timeout; else unhealthy."""
    assert root_cause([Reason.UNHEALTHY, Reason.CONNECT_TIMEOUT]) is Reason.CONNECT_TIMEOUT
    assert root_cause([Reason.COMMAND_FAILED, Reason.UNHEALTHY]) is Reason.UNHEALTHY
    assert root_cause([Reason.COMMAND_FAILED]) is Reason.COMMAND_FAILED
    assert root_cause([]) is None
