"""Where a plan's nodes and backup target are, and the credentials to reach them.

Split from backup.py (the run's imperative shell). Credential files are read here at run time:
`validate` checks them at load, but a daemon runs for weeks and a file can be deleted, made
unreadable or emptied meanwhile; such a run must end `failed` with the file and the cause in
history (issue 8 finding 5), never crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from barctl.config.inventory import Host, Inventory, resolve_user
from barctl.config.policy import Policy
from barctl.config.policy_rear import RearSection
from barctl.config.policy_sections import TimeoutsSection
from barctl.config.policy_site import UnusableCredential, read_credential_file
from barctl.config.site import Site
from barctl.errors import BarctlError
from barctl.model import Node, NodeFacts
from barctl.run import plan as planning
from barctl.run import plan_modes
from barctl.run.rear_config import RearSettings, RearTarget


class ResolveError(BarctlError):
    """The policy and inventory do not give a reachable address for a node."""


class CredentialError(BarctlError):
    """A credential file (SSH key, known_hosts) cannot be used right now."""


@dataclass(frozen=True)
class Resolved:
    """A plan's nodes and target as barctl will reach them."""

    name: str
    mode: str
    nodes: tuple[Node, ...]
    target: planning.BackupTarget
    timeouts: planning.Timeouts
    # The policy's node_hygiene.keep_run_directories.
    keep_run_directories: int = 3


def _node(policy: Policy, inventory: Inventory, host: Host) -> Node:
    address = host.address
    if address is None:
        address = policy.undercloud.address
    if address is None:
        message = (
            f"{host.name} has no SSH address (ansible_connection local): set undercloud.address"
        )
        raise ResolveError(message)
    # The inventory gives the undercloud no user (ansible_connection: local); TripleO's is stack.
    default = policy.undercloud.user if host.connection == "local" else policy.ssh.default_user
    user = resolve_user(inventory, host, override=policy.ssh.user, default=default)
    return Node(host.name, address, user, policy.ssh.port, host.groups)


def _target(policy: Policy, inventory: Inventory, nodes: tuple[Node, ...]) -> planning.BackupTarget:
    """The node barctl checks the target on, the target as ReaR names it, and each plan node's
    ReaR settings. No credential: SFTP uploads with root's SSH key on each node (rear_config)."""
    section = policy.backup_target
    name = section.node
    if name is None and "BackupNode" in inventory.groups:
        backup_hosts = inventory.hosts_in(["BackupNode"])
        name = backup_hosts[0].name if len(backup_hosts) == 1 else None
    rear = rear_target(policy)
    if name is not None and name in inventory.hosts:
        node = _node(policy, inventory, inventory.hosts[name])
    else:
        user = policy.ssh.user or policy.ssh.default_user
        node = Node(name or rear.host, name or rear.host, user, policy.ssh.port)
    settings = tuple((each.name, rear_settings(policy.rear, each.groups)) for each in nodes)
    return planning.BackupTarget(
        node,
        rear.path,
        rear,
        settings,
        section.min_free_bytes,
        section.space_margin_percent,
        verify=section.verify,
    )


def resolve(policy: Policy, inventory: Inventory, name: str) -> Resolved:
    """Nodes of plan `name` (inventory groups, file order) and the backup target."""
    plans = dict(policy.plans.items())
    if name not in plans:
        raise ResolveError(f"no plan {name!r} in the policy; plans: {', '.join(plans)}")
    section = plans[name]
    hosts = inventory.hosts_in(list(section.groups))
    nodes = tuple(_node(policy, inventory, host) for host in hosts)
    mode = getattr(section, "mode", "live")
    target = _target(policy, inventory, nodes)
    timeouts = plan_timeouts(section.timeouts)
    keep = policy.node_hygiene.keep_run_directories
    return Resolved(name, mode, nodes, target, timeouts, keep)


def plan_timeouts(limits: TimeoutsSection) -> planning.Timeouts:
    """The plan's limits from the policy's (whose defaults are the only ones)."""
    return planning.Timeouts(
        limits.command_seconds,
        limits.database_dump_seconds,
        limits.rear_seconds,
        limits.rejoin_seconds,
        limits.run_seconds,
    )


def assumed_facts(resolved: Resolved) -> dict[str, NodeFacts]:
    """Facts guessed from inventory service groups, for `barctl plan` which connects nowhere."""
    facts = {}
    for node in resolved.nodes:
        containers = []
        groups = node.groups
        if "Undercloud" in groups:
            containers.append(planning.UNDERCLOUD_DATABASE_CONTAINER)
        if "mysql" in groups and "pacemaker" in groups:
            containers.append("galera-bundle-podman-0")
        if "ceph_mon" in groups:
            containers.append(f"ceph-mon-{node.name}")
        containers.append("<every-other-container>")
        databases = ("<innodb-schemas>",) if "mysql" in groups else ()
        accounts = (("<each-user>", "<host>"),) if "mysql" in groups else ()
        facts[node.name] = NodeFacts(tuple(containers), "pacemaker" in groups, databases, accounts)
    return facts


def build_plan(
    resolved: Resolved, facts: dict[str, NodeFacts], run_id: str, password: str
) -> planning.Plan:
    """The plan for these nodes and facts (pure)."""
    context = planning.Context(
        resolved.name,
        run_id,
        resolved.timeouts,
        resolved.target,
        password,
        resolved.keep_run_directories,
    )
    if resolved.name == "undercloud":
        node = resolved.nodes[0]
        return plan_modes.build_undercloud_plan(node, facts[node.name], context)
    if resolved.mode == "offline":
        return plan_modes.build_offline_plan(resolved.nodes, facts, context)
    return plan_modes.build_rolling_plan(resolved.nodes, facts, context)


def read_credential(path: Path, what: str, *, may_be_empty: bool = False) -> str:
    """The stripped text of credential file `path` (policy_site's one reader); CredentialError
    naming the file and why otherwise."""
    try:
        return read_credential_file(path, may_be_empty=may_be_empty)
    except UnusableCredential as problem:
        if problem.strerror:
            raise CredentialError(f"cannot read the {what} {path}: {problem.strerror}") from None
        raise CredentialError(f"the {what} {path} {problem}") from None


def check_credentials(site: Site) -> None:
    """The SSH private key and known_hosts file are usable right now; an empty known_hosts is
    the starting point of accept-new, whose new keys go to barctl's own file."""
    read_credential(site.private_key, "SSH private key")
    accept_new = site.accept_new_hosts_file is not None
    read_credential(site.known_hosts, "SSH known_hosts file", may_be_empty=accept_new)


def rear_target(policy: Policy) -> RearTarget:
    """The policy's backup target as ReaR's URLs name it (no credential: SFTP uses root's key)."""
    nfs, sftp = policy.backup_target.nfs, policy.backup_target.sftp
    if sftp is not None:
        return RearTarget("sftp", sftp.host, sftp.path, sftp.user)
    assert nfs is not None
    return RearTarget("nfs", nfs.server, nfs.export)


def rear_settings(section: RearSection, groups: frozenset[str]) -> RearSettings:
    """The `rear` section for a node in `groups`: the first matching group override wins."""
    commands = section.networking_preparation_commands
    override = next((item for item in section.groups if item.group in groups), None)
    if override is not None:
        commands = override.networking_preparation_commands
    return RearSettings(
        iso_default=section.iso_default,
        compress=section.compress,
        exclude=section.exclude,
        networking_preparation_commands=commands,
        exclude_recreate_volume_groups=section.exclude_recreate_volume_groups,
        iso_file_size_limit_bytes=section.iso_file_size_limit_bytes,
    )
