"""What an error means, decided in one place. Pure.

A `Reason` is produced where the error happens (the SSH chokepoint for connect errors, lost
sessions and time limits; the gate for unhealthy clusters), stored with each node row of the
history (`nodes.reason_class`), and read by metrics as is: nothing downstream re-derives the
class from message text. In the style of borgmatic's `execute.interpret_exit_code`, which maps
Borg's exit codes to a typed status once so that callers never compare numbers themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from barctl.text_enum import StrEnum

# coreutils `timeout` exits 124 when its limit hit, 137 (128 + SIGKILL) after --kill-after.
TIMEOUT_EXIT_CODES = frozenset({124, 137})


class Reason(StrEnum):
    """Why a command, a node or a run did not succeed; the value is stored in the history."""

    CONNECT_TIMEOUT = "connect_timeout"
    CONNECTION_REFUSED = "connection_refused"
    HOST_KEY_CHANGED = "host_key_changed"
    UNKNOWN_HOST_KEY = "unknown_host_key"
    AUTHENTICATION_FAILED = "authentication_failed"
    BANNER_TIMEOUT = "banner_timeout"
    UNREACHABLE = "unreachable"
    SSH_ERROR = "ssh_error"
    CONNECTION_LOST = "connection_lost"
    TIMED_OUT = "timed_out"
    COMMAND_FAILED = "command_failed"
    UNHEALTHY = "unhealthy"
    CONFIGURATION = "configuration"
    INTERRUPTED = "interrupted"
    INTERNAL = "internal"

    @property
    def meaning(self) -> Meaning:
        """Words, transience and metrics label of this reason."""
        return MEANINGS[self]

    @property
    def words(self) -> str:
        """The short operator words: `connect timeout`, `host key changed`…"""
        return self.meaning.words

    @property
    def transient(self) -> bool:
        """Whether the next run may succeed with nothing changed (else an operator must act)."""
        return self.meaning.transient

    @property
    def connect(self) -> bool:
        """No session could be opened: nothing ran on the node."""
        return self.meaning.connect

    @property
    def unreachable(self) -> bool:
        """barctl could not reach, or keep, an SSH session to the node."""
        return self.meaning.connect or self is Reason.CONNECTION_LOST

    @property
    def label(self) -> str:
        """The low-cardinality metrics label (docs/monitoring.md, alert rules)."""
        return self.meaning.label


@dataclass(frozen=True)
class Meaning:
    """What a reason means to an operator, to the scheduler and to metrics."""

    words: str
    transient: bool
    label: str = "other"
    connect: bool = False


MEANINGS: dict[Reason, Meaning] = {
    Reason.CONNECT_TIMEOUT: Meaning("connect timeout", True, "timeout", connect=True),
    Reason.CONNECTION_REFUSED: Meaning("connection refused", True, "refused", connect=True),
    Reason.HOST_KEY_CHANGED: Meaning("host key changed", False, "host_key", connect=True),
    Reason.UNKNOWN_HOST_KEY: Meaning("unknown host key", False, "host_key", connect=True),
    Reason.AUTHENTICATION_FAILED: Meaning("authentication failed", False, "auth", connect=True),
    Reason.BANNER_TIMEOUT: Meaning("ssh banner timeout", True, "banner", connect=True),
    Reason.UNREACHABLE: Meaning("unreachable", True, connect=True),
    Reason.SSH_ERROR: Meaning("ssh error", False, connect=True),
    Reason.CONNECTION_LOST: Meaning("connection lost", True),
    Reason.TIMED_OUT: Meaning("timed out (killed on the node)", True),
    Reason.COMMAND_FAILED: Meaning("command failed", False),
    Reason.UNHEALTHY: Meaning("unhealthy cluster", True, "unhealthy"),
    Reason.CONFIGURATION: Meaning("configuration", False),
    Reason.INTERRUPTED: Meaning("interrupted", True),
    Reason.INTERNAL: Meaning("internal error", False),
}


def interpret_exit_code(exit_code: int | None) -> Reason | None:
    """None for success; the reason a command that ended with `exit_code` failed.

    Every command runs under coreutils `timeout`, so 124 and 137 mean its limit killed it. No
    exit code at all (the runner did not say why) is an internal error, never a success.
    """
    if exit_code == 0:
        return None
    if exit_code is None:
        return Reason.INTERNAL
    return Reason.TIMED_OUT if exit_code in TIMEOUT_EXIT_CODES else Reason.COMMAND_FAILED


# The cause before its consequences: a node refused for a connect timeout and for pacemaker
# reasons is counted as a timeout, as the operator must fix the link first.
_RANK = (*(reason for reason in Reason if reason.connect), Reason.CONNECTION_LOST)


def root_cause(reasons: list[Reason]) -> Reason | None:
    """The one reason of a node refused for several: SSH first, then unhealthy, then the first."""
    for candidate in (*_RANK, Reason.UNHEALTHY):
        if candidate in reasons:
            return candidate
    return reasons[0] if reasons else None
