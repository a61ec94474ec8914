"""`barctl setup PLAN [--check]`: probe each node's set-up, diff it, apply only the differences.

The imperative shell around `setup_plan` and `setup_state`: read-only probes through the runner
(the same SSH/sudo path as a run), the pure diff, then, unless checking, the repairs in order.
A second run finds nothing to do. Not a run: nothing leaves the cluster, so there is no undo;
every write is atomic and idempotent instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import paramiko

from barctl.model import CommandResult, Node, NodeFacts
from barctl.run import ceph_hooks, commands, commands_probe, setup_commands, setup_plan, setup_state
from barctl.run.resolution import Resolved
from barctl.run.runner import Runner
from barctl.run.setup_plan import NodeInputs
from barctl.run.setup_state import Desired, Difference, KnownHost, Probed

__all__ = ["KnownHost", "NodeReport", "Request", "set_up", "sftp_host_keys"]


@dataclass(frozen=True)
class Request:
    """What to set up: the plan, the NFS clients, the SFTP host keys, and how."""

    resolved: Resolved
    # Addresses of every node of every plan: one export file serves them all.
    clients: tuple[str, ...] = ()
    known_hosts: tuple[KnownHost, ...] = ()
    packages: bool = True
    apply: bool = False


@dataclass(frozen=True)
class NodeReport:
    """One node: its differences, and why probing or applying failed ("" when it did not)."""

    node: str
    differences: tuple[Difference, ...] = ()
    problem: str = ""
    applied: bool = False


class _Failed(Exception):
    """A probe or a repair failed on a node, for the reason given."""


def _reason(result: CommandResult) -> str:
    """The command's last stderr line (the runner puts its reason there), else the exit."""
    lines = result.stderr_tail().splitlines()[-1:]
    if lines:
        return lines[0]
    return result.reason.words if result.reason is not None else f"exit {result.exit_code}"


def _run(runner: Runner, node: Node, command: commands.RemoteCommand) -> CommandResult:
    result = runner.run(node, command)
    if result.reason is not None:  # unreachable, lost, timed out: nothing can be told
        raise _Failed(f"{command.name}: {_reason(result)}")
    return result


def _checked(runner: Runner, node: Node, command: commands.RemoteCommand) -> str:
    result = _run(runner, node, command)
    if not result.ok:
        raise _Failed(f"{command.name}: {_reason(result)}")
    return result.stdout


def sftp_host_keys(known_hosts: Sequence[Path], host: str) -> tuple[KnownHost, ...]:
    """The SFTP server's keys from barctl's own known_hosts files (paramiko reads hashed
    entries too), in file order; () when none knows it."""
    keys: dict[str, KnownHost] = {}
    for path in known_hosts:
        if not path.is_file():
            continue
        found = paramiko.HostKeys(str(path)).lookup(host)
        if found is None:
            continue
        for key_type in found:
            keys.setdefault(key_type, KnownHost(host, key_type, found[key_type].get_base64()))
    return tuple(keys.values())


def _facts(runner: Runner, node: Node, inputs: NodeInputs, timeout: int) -> NodeInputs:
    """Firmware (for USING_UEFI_BOOTLOADER and the UEFI packages) and, on a ceph monitor
    node, where /var/lib/ceph lives (for the 4.1 hooks)."""
    if not inputs.rear:
        return inputs
    firmware = commands_probe.firmware_of(_run(runner, node, commands_probe.firmware(timeout)))
    listing = _run(runner, node, commands_probe.container_names(timeout))
    names = tuple(listing.stdout.split()) if listing.ok else ()  # no podman: no monitor
    mount = None
    if NodeFacts(names).has_ceph_monitor(node.name):
        answer = _checked(runner, node, setup_commands.ceph_mount(timeout))
        try:
            mount = ceph_hooks.parse_findmnt(answer)
        except ceph_hooks.MountUnreadable as problem:
            raise _Failed(f"cannot place the ceph hooks: {problem}") from None
    return replace(inputs, firmware=firmware, ceph=mount)


def _probe(runner: Runner, node: Node, wanted: Desired, server: str, timeout: int) -> Probed:
    """What the node has of everything `wanted` names; read-only."""
    installed: frozenset[str] = frozenset()
    if wanted.packages:
        answer = _run(runner, node, setup_commands.installed_packages(wanted.packages, timeout))
        installed = setup_state.installed_names(answer.stdout, wanted.packages)
    present = set()
    for path in wanted.absent:
        exists = _run(runner, node, setup_commands.path_exists(path, timeout))
        if exists.exit_code not in (0, 1):
            raise _Failed(f"cannot tell whether {path} exists: {_reason(exists)}")
        if exists.exit_code == 0:
            present.add(path)
    contents: dict[str, str | None] = {}
    for item in wanted.files:
        read = _run(runner, node, setup_commands.read_file(item.path, timeout))
        if not read.ok and read.exit_code != setup_commands.ABSENT_EXIT:
            raise _Failed(f"cannot read {item.path}: {_reason(read)}")
        contents[item.path] = read.stdout if read.ok else None
    known = ""
    if wanted.known_hosts:
        known = _checked(runner, node, setup_commands.read_root_known_hosts(timeout))
    directories = set()
    for path in wanted.directories:
        if _run(runner, node, commands_probe.directory_exists(path, timeout)).exit_code == 0:
            directories.add(path)
    offered = ""
    if wanted.export is not None:  # asked of the server itself: "" when mountd does not answer
        offered = _run(runner, node, setup_commands.offered_exports(server, timeout)).stdout
    found = frozenset(present), contents, known, frozenset(directories), offered
    return Probed(node.name, installed, *found)


def _apply(
    runner: Runner, node: Node, wanted: Desired, found: tuple[Difference, ...], timeout: int
) -> None:
    """Run the repairs in order; the first failure ends this node's set-up."""
    for command in setup_plan.repairs(wanted, found, timeout):
        result = runner.run(node, command)
        if not result.ok:
            raise _Failed(f"{command.name} failed: {_reason(result)}")


def set_up_node(runner: Runner, node: Node, inputs: NodeInputs, request: Request) -> NodeReport:
    """Probe, diff and (unless checking) repair one node."""
    timeout = request.resolved.timeouts.command
    found: tuple[Difference, ...] = ()
    try:
        inputs = _facts(runner, node, inputs, timeout)
        wanted = setup_plan.desired(request.resolved.target.rear, inputs)
        server = request.resolved.target.rear.host
        found = setup_state.diff(wanted, _probe(runner, node, wanted, server, timeout))
        if request.apply and found:
            _apply(runner, node, wanted, found, timeout)
            return NodeReport(node.name, found, applied=True)
    except _Failed as failure:
        return NodeReport(node.name, found, str(failure))
    return NodeReport(node.name, found)


def node_inputs(request: Request) -> list[tuple[Node, NodeInputs]]:
    """Each plan node, and the NFS backup node (merged when it is a plan node itself)."""
    resolved = request.resolved
    target = resolved.target
    keys = request.known_hosts if target.rear.scheme == "sftp" else ()
    found = [
        (
            node,
            NodeInputs(
                node.name,
                settings=target.settings_for(node.name),
                packages=request.packages,
                known_hosts=keys,
            ),
        )
        for node in resolved.nodes
    ]
    if target.rear.scheme != "nfs":
        return found
    export = (target.directory, request.clients)
    for index, (node, inputs) in enumerate(found):
        if node.name == target.node.name:
            found[index] = (node, replace(inputs, export=export))
            return found
    backup = NodeInputs(target.node.name, rear=False, packages=request.packages, export=export)
    return [*found, (target.node, backup)]


def set_up(request: Request, runner: Runner, max_parallel: int) -> tuple[NodeReport, ...]:
    """Every node of the plan (and the backup node), in parallel, bounded."""
    work = node_inputs(request)
    with ThreadPoolExecutor(max_workers=max(1, max_parallel)) as pool:
        futures = [pool.submit(set_up_node, runner, node, inputs, request) for node, inputs in work]
        return tuple(future.result() for future in futures)
