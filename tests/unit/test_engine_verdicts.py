"""Pure rules of what the engine records: reasons, lost peers, summaries (issue 8 finding 10)."""

from __future__ import annotations

from types import MappingProxyType

from barctl.model import CommandResult, NodeFacts
from barctl.outcome import RunOutcome
from barctl.reasons import Reason
from barctl.run import verdicts
from barctl.run.cluster import PacemakerStatus

REAR_STDERR = (
    "ERROR: Mount command 'mount -v -t nfs 192.168.24.250:/ctl_plane_backups' failed.\n"
    "Some latest log messages since the last called script 060_mount_NETFS_path.sh:\n"
    "  mount.nfs: Connection timed out\n"
    "Aborting due to an error, check /var/log/rear/rear-ctl-0.log for details\n"
)


def test_reason_is_rears_error_line_not_its_last_line() -> None:
    """A failed ReaR is explained by its last `ERROR:` line, not by "Aborting due to ..."."""
    result = CommandResult(1, "", REAR_STDERR, 1.0)
    assert verdicts.command_problem(result) == (
        "exit 1: ERROR: Mount command 'mount -v -t nfs 192.168.24.250:/ctl_plane_backups' failed."
    )


def test_reason_falls_back_to_the_last_stderr_line() -> None:
    """Without an `ERROR:` line, the last non-empty stderr line is the reason."""
    result = CommandResult(2, "", "first\nmysqldump: Got error 2013\n\n", 1.0)
    assert verdicts.command_problem(result) == "exit 2: mysqldump: Got error 2013"


def test_lost_connection_is_not_called_a_kill() -> None:
    """A session that died under a command says "connection lost", never "killed"."""
    result = CommandResult(None, "", "connection lost", 12.0, Reason.CONNECTION_LOST)
    assert verdicts.command_problem(result) == "connection lost"


def test_lost_peers_match_by_pacemaker_name() -> None:
    """A peer is lost when pacemaker, by the peer's pacemaker name, does not list it online."""
    status = PacemakerStatus(
        MappingProxyType({"overcloud-ctl-1": "online", "overcloud-ctl-2": "offline"}), True
    )
    facts = {
        "ctl-1": NodeFacts(pacemaker_member=True, pacemaker_name="overcloud-ctl-1"),
        "ctl-2": NodeFacts(pacemaker_member=True, pacemaker_name="overcloud-ctl-2"),
    }
    assert verdicts.lost_peers(status, ["ctl-1", "ctl-2"], facts) == ["ctl-2"]
    assert verdicts.peer_loss(["ctl-2"]) == "peer ctl-2 left the cluster during the run"


def test_interrupted_summary_never_claims_every_node() -> None:
    """An interrupted run says so and names what was backed up, never "all nodes backed up"."""
    summary = verdicts.run_summary(RunOutcome.INTERRUPTED, [], ["ctl-0"])
    assert summary == "interrupted by signal; backed up: ctl-0"
    assert verdicts.run_summary(RunOutcome.SUCCESS, [], ["ctl-0"]) == "all nodes backed up"
