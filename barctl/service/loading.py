"""The one way in: policy, site, credential files, inventory and every plan, checked together.

Every command and the daemon (at start and on each reload) load through `load`, so after
`validate` says valid no command fails on configuration (issue 8 finding 5). It connects
nowhere: plans are resolved as `run` would resolve them, without opening a session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from barctl.config.inventory import Inventory, InventoryLookupError, load_inventory
from barctl.config.policy import (
    PlanSection,
    Policy,
    check_policy_against_inventory,
    load_policy_document,
    resolve_policy_path,
)
from barctl.config.policy_site import check_site
from barctl.config.site import Site
from barctl.config.yamlsource import YamlDocument
from barctl.errors import BarctlError, InputError, SourceProblem


@dataclass(frozen=True)
class Loaded:
    """A valid configuration: the policy, its inventory, where it was read, the site."""

    policy: Policy
    inventory: Inventory
    path: Path
    site: Site


def load(config: str | None, environ: Mapping[str, str]) -> Loaded:
    """Policy, inventory, credential files and plan resolution, every problem reported together."""
    path = resolve_policy_path(config, environ)
    policy, document = load_policy_document(path)
    site = Site.from_policy(policy, environ)
    problems = check_site(site, document)
    try:
        inventory = load_inventory(str(policy.inventory.path), policy.inventory.stacks)
    except InventoryLookupError as error:
        raise InputError(problems + _unknown_stack_problems(policy, document, error)) from None
    except InputError as error:
        raise InputError(problems + error.problems) from None
    problems += check_policy_against_inventory(policy, document, inventory.group_names())
    if not problems:
        problems += _resolution_problems(policy, document, inventory)
    if problems:
        raise InputError(problems)
    return Loaded(policy, inventory, path, site)


def _unknown_stack_problems(
    policy: Policy, document: YamlDocument, error: InventoryLookupError
) -> list[SourceProblem]:
    stacks = list(policy.inventory.stacks)
    found = ", ".join(error.known) or "none"
    return [
        document.problem(
            ("inventory", "stacks", stacks.index(name)),
            f"unknown stack {name!r} in inventory {policy.inventory.path}; stacks found: {found}",
        )
        for name in error.unknown
        if name in stacks
    ] or [document.problem(("inventory", "stacks"), str(error))]


def _resolution_problems(
    policy: Policy, document: YamlDocument, inventory: Inventory
) -> list[SourceProblem]:
    """What `run` would resolve without connecting (addresses, target), per plan."""
    from barctl.run.resolution import resolve  # noqa: PLC0415 - it imports the SSH layer

    problems = []
    for name, plan in policy.plans.items():
        try:
            resolved = resolve(policy, inventory, name)
        except BarctlError as error:
            message = str(error)
            key: tuple[str, ...] = ("plans", name)
            if "undercloud.address" in message:
                key, message = ("undercloud", "address"), f"plan {name}: {message}"
            problems.append(document.problem(key, message))
            continue
        if not resolved.nodes and plan.enabled:
            # A plan with nothing to back up would "succeed" every night: a backup that
            # silently did not happen.
            problems.append(document.problem(("plans", name), _no_node_message(inventory, plan)))
    return list(dict.fromkeys(problems))


def _no_node_message(inventory: Inventory, plan: PlanSection) -> str:
    groups = ", ".join(plan.groups)
    excluded = ", ".join(host.name for host in inventory.excluded_in(list(plan.groups)))
    if excluded:
        return f"no node to back up: every host of {groups} is excluded ({excluded})"
    return f"no node to back up: the inventory groups {groups} hold no hosts"
