"""The gate's checks of what `barctl setup` owns, read-only, before any node leaves the cluster.

Split from gate.py (its probes of cluster health): a node's local.conf must be the rendered one
(setup_state.local_conf_problem) and the node must reach the target as ReaR will
(reachability: the NFS export offered to its address, or a non-interactive SFTP login).
"""

from __future__ import annotations

from collections.abc import Callable

from barctl.model import CommandResult, Firmware
from barctl.run import reachability, rear_config, setup_commands, setup_state
from barctl.run.commands import RemoteCommand
from barctl.run.rear_config import RearSettings, RearTarget

# ssh's own connect limit for the SFTP login probe, inside the command's server-side timeout.
SFTP_CONNECT_TIMEOUT_SECONDS = 10

Run = Callable[[RemoteCommand], CommandResult]


def _detail(result: CommandResult) -> str:
    lines = result.stderr_tail().splitlines()[-1:]
    return lines[0] if lines else f"exit {result.exit_code}"


def local_conf_problem(
    run: Run, target: RearTarget, settings: RearSettings, firmware: Firmware, timeout: int
) -> str:
    """The node's local.conf against the one `barctl setup` renders for it ("" when equal)."""
    read = run(setup_commands.read_file(rear_config.LOCAL_CONF, timeout))
    if not read.ok and read.exit_code != setup_commands.ABSENT_EXIT:
        return f"cannot read {rear_config.LOCAL_CONF}: {_detail(read)}"
    want = rear_config.render_local_conf(target, settings, firmware)
    return setup_state.local_conf_problem(read.stdout if read.ok else None, want)


def _reach_command(target: RearTarget, timeout: int) -> RemoteCommand:
    if target.scheme == "nfs":
        return setup_commands.offered_exports(target.host, timeout)
    connect = min(timeout, SFTP_CONNECT_TIMEOUT_SECONDS)
    return setup_commands.sftp_login(target.user, target.host, connect, timeout)


def probe_commands(target: RearTarget, timeout: int) -> tuple[RemoteCommand, ...]:
    """The read-only commands `problems` runs, in its order (for the gate's one probe exec)."""
    return (
        setup_commands.read_file(rear_config.LOCAL_CONF, timeout),
        _reach_command(target, timeout),
    )


def reach_problem(run: Run, address: str, target: RearTarget, timeout: int) -> str:
    """Whether the node at `address` reaches the target as ReaR will ("" when it does)."""
    if target.scheme == "nfs":
        listing = run(_reach_command(target, timeout))
        if not listing.ok:
            return reachability.showmount_problem(_detail(listing), target.host)
        return reachability.export_problem(listing.stdout, target.path, target.host, address)
    login = run(_reach_command(target, timeout))
    if login.ok:
        return ""
    return reachability.login_problem(_detail(login), target.user, target.host)


def problems(  # noqa: PLR0917 - the node's facts and the target, all distinct
    run: Run,
    address: str,
    target: RearTarget,
    settings: RearSettings,
    firmware: Firmware,
    timeout: int,
) -> tuple[str, ...]:
    """Every set-up problem of one node: local.conf drift, then reachability."""
    found = (
        local_conf_problem(run, target, settings, firmware, timeout),
        reach_problem(run, address, target, timeout),
    )
    return tuple(problem for problem in found if problem)
