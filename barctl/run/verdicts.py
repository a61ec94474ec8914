"""What the engine tells operators about a step, a peer or a run. Pure.

Kept apart from `engine.py` so that each rule is tested without SSH: the reason a failed command
gives, which peers count as lost, and a run summary that never contradicts its outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from barctl.model import CommandResult, NodeFacts
from barctl.outcome import RunOutcome
from barctl.run.cluster import ONLINE, PacemakerStatus

# ReaR's `Error` prints "ERROR: <cause>", then "Some latest log messages ..." and, from its exit
# task, "Aborting due to an error, check <log> for details": the last line alone hides the cause.
ERROR_PREFIX = "ERROR:"


def error_line(stdout: str, stderr: str) -> str:
    """The command's own error: its last `ERROR:` line, else the last non-empty stderr line."""
    for text in (stderr, stdout):
        marked = [
            line.strip() for line in text.splitlines() if line.strip().startswith(ERROR_PREFIX)
        ]
        if marked:
            return marked[-1]
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def command_problem(result: CommandResult) -> str:
    """Why a command did not succeed, in operator words; empty when it did."""
    if result.ok:
        return ""
    if result.connection_lost:
        # The session died under the command: nothing was killed, it may or may not have run.
        return "connection lost"
    if result.unreachable:
        return f"node unreachable ({result.stderr.strip()})"
    if result.timed_out:
        return "timed out (killed on the node)"
    return f"exit {result.exit_code}: {error_line(result.stdout, result.stderr)}".rstrip(": ")


def lost_peers(
    status: PacemakerStatus, peers: Sequence[str], facts: Mapping[str, NodeFacts]
) -> list[str]:
    """Peers (inventory names) that pacemaker does not list as online, by their pacemaker name."""
    lost = []
    for peer in peers:
        state = status.states.get(facts[peer].cluster_name(peer))
        if state != ONLINE:
            lost.append(peer)
    return lost


def peer_loss(peers: Sequence[str]) -> str:
    """The reason a run fails when peers left: `peer ctl-2 left the cluster during the run`."""
    noun = "peer" if len(peers) == 1 else "peers"
    return f"{noun} {', '.join(peers)} left the cluster during the run"


def run_summary(outcome: RunOutcome, problems: Sequence[str], backed_up: Sequence[str]) -> str:
    """One line that agrees with `outcome`: what went wrong, then what was backed up anyway."""
    parts = list(problems)
    if outcome is RunOutcome.INTERRUPTED or (outcome is not RunOutcome.SUCCESS and not parts):
        parts.insert(0, "interrupted by signal" if outcome is RunOutcome.INTERRUPTED else outcome)
    if not parts:
        return "all nodes backed up"
    if backed_up:
        parts.append("backed up: " + ", ".join(backed_up))
    else:
        parts.append("no node backed up")
    return "; ".join(parts)
