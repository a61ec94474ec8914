"""`barctl restore-runbook NODE [RUN_ID] [--json]`: find the run on the target, print its runbook.

The imperative part: which plan backs NODE up (policy and inventory), then the target's
manifests read over SSH on the backup node (`target_listing`, read-only, the same reading as
`barctl backups`; never the history database, which may be the thing being restored). The
default run is NODE's newest verified run; a named run is printed whatever its verification
said, with the verdict at the top.
"""

from __future__ import annotations

import json

from barctl.config.inventory import Inventory
from barctl.config.policy import Policy
from barctl.config.site import Site
from barctl.errors import BarctlError
from barctl.model import Node
from barctl.run import preflight, target_listing
from barctl.run.manifest import Manifest
from barctl.run.resolution import Resolved, resolve
from barctl.run.retention import RunState


class NoSuchRunError(BarctlError):
    """The target holds no usable run of the node (none verified, or not the one named)."""


def node_of(policy: Policy, inventory: Inventory, name: str) -> tuple[Resolved, Node]:
    """The plan backing up node `name`, and the node; BarctlError naming the known nodes."""
    known: list[str] = []
    for plan, _ in policy.plans.items():
        resolved = resolve(policy, inventory, plan)
        for node in resolved.nodes:
            if node.name == name:
                return resolved, node
            known.append(node.name)
    raise BarctlError(f"no node {name!r} in any plan; nodes: {', '.join(known) or 'none'}")


def choose(listing: target_listing.Listing, node: str, run_id: str | None) -> Manifest:
    """The named run's manifest, else the newest verified one; NoSuchRunError saying what the
    target holds otherwise."""
    runs = [run for run in listing.runs if run.directory.node == node]
    where = f"{listing.directory}/{node}"
    if run_id is None:
        verified = [run for run in runs if run.state is RunState.VERIFIED]
        if not verified or verified[0].manifest is None:
            held = ", ".join(f"{run.directory.run_id} ({run.state.value})" for run in runs)
            raise NoSuchRunError(f"no verified run of {node} in {where}; there: {held or 'none'}")
        return verified[0].manifest
    named = [run for run in runs if run.directory.run_id == run_id]
    if not named:
        held = ", ".join(run.directory.run_id for run in runs) or "none"
        raise NoSuchRunError(f"no run {run_id} of {node} in {where}; runs there: {held}")
    if named[0].manifest is None:
        why = named[0].problem or "no manifest: the run crashed or is still being written"
        raise NoSuchRunError(f"run {run_id} of {node} is {named[0].state.value}: {why}")
    return named[0].manifest


def runbook(
    policy: Policy,
    inventory: Inventory,
    site: Site,
    name: str,
    run_id: str | None,
    *,
    as_json: bool = False,
) -> str:
    """The runbook of node `name`'s run as text or JSON; NoSuchRunError when there is none."""
    from barctl.console import runbook_output  # noqa: PLC0415 - printing only after the read
    from barctl.console.runbook import subject_of  # noqa: PLC0415
    from barctl.run import remote  # noqa: PLC0415 - the SSH stack, only for this command

    resolved, node = node_of(policy, inventory, name)
    target = resolved.target
    settings = preflight.ssh_settings(policy, site)
    timeout = resolved.timeouts.command
    with remote.SessionPool(remote.session_opener(settings)) as runner:
        try:
            listing = target_listing.read_target(
                runner, target.node, target.directory, (name,), timeout
            )
        except target_listing.TargetUnreadable as error:
            raise NoSuchRunError(str(error)) from None
    found = choose(listing, name, run_id)
    nodes = tuple(each.name for each in resolved.nodes)
    book = runbook_output.build(subject_of(found, node.address, target, nodes))
    if as_json:
        return json.dumps(runbook_output.to_json(book), indent=2)
    return runbook_output.to_text(book)
