"""TripleO static inventory (`tripleo-ansible-inventory --static-yaml-inventory`) to frozen data.

The file has top-level groups and no `all:` wrapper. A group holds `hosts` (host name to host
variables), `children` (group name to `{}`, or to an inline group definition) and `vars`. With the
stack merge that the CLI always applies, `Controller` reaches its hosts through
`overcloud_Controller`, and service groups such as `ceph_mon` take two or more levels of `children`
(tripleo.md §6). `barctl.config.inventory_reader` checks every value barctl uses and reports every
problem at once as `FILE:LINE:COL: key.path: message`.

Variables are resolved exactly as ansible-core does (checked against its source):
* Group variables are merged in `ansible.inventory.helpers.sort_groups` order, later winning:
  by depth (`all` is 0, a group without parents is 1, a child is one deeper than its deepest
  parent, `Group.add_child_group`), then `ansible_group_priority` (default 1), then name. The
  host's own variables then override them (`VariableManager.get_vars`).
* A connection option defined by several variables takes the LAST one that is defined in the
  merged variables (`ConfigManager._loop_entries`). The ssh plugin lists `remote_user` as
  `ansible_user`, `ansible_ssh_user`, `host` as `ansible_host`, `ansible_ssh_host`, and `port` as
  `ansible_port`, `ansible_ssh_port`. So a group's `ansible_ssh_user` beats the host's own
  `ansible_user`: the merge happens first, the choice between the two names afterwards.
* The user is None when the inventory gives none (the caller's default applies). The port is
  validated and exposed, but barctl connects on the policy's `ssh.port` (TripleO never writes it).

barctl's own rules on top:
* `ansible_host` pointing at loopback on a host that is not `ansible_connection: local` is an
  error: barctl cannot reach a node at its own loopback. The undercloud (`ansible_connection:
  local`, or a host named `localhost`) has address None: the policy's `undercloud.address`.
* Hosts of `excluded_overcloud` (TripleO's BlacklistedHostnames, tripleo.md §6) and of every
  `<stack>_excluded_overcloud` are never returned by `hosts_in`: they are often deliberately
  down, and backing them up would make the gate refuse every run. `excluded_in` lists them.
* Host ranges such as `node[0:3]` are rejected. The `deprecated` key that tripleo writes on a
  renamed `overcloud` group is accepted and ignored.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from barctl.config import names
from barctl.config.inventory_reader import (
    ADDRESS_VARIABLES,
    CONNECTION_VARIABLES,
    PORT_VARIABLES,
    PRIORITY_VARIABLE,
    USER_VARIABLES,
    GroupDraft,
    InventoryReader,
)
from barctl.config.yamlsource import YamlDocument, load_yaml
from barctl.errors import BarctlError, InputError, SourceProblem

ALWAYS_KEPT_GROUPS = ("Undercloud", "BackupNode")
EXCLUDED_GROUP = "excluded_overcloud"
DEFAULT_PRIORITY = 1
EMPTY: Mapping[str, object] = MappingProxyType({})
Origin = tuple[object, tuple[str, ...]]  # a variable's value and the key path that set it


class InventoryLookupError(BarctlError, KeyError):
    """Group or stack names the inventory does not have; `known` lists the ones it has."""

    def __init__(self, what: str, unknown: Sequence[str], known: Iterable[str]) -> None:
        self.unknown = tuple(unknown)
        self.known = tuple(sorted(known))
        parts = []
        for name in self.unknown:
            close = difflib.get_close_matches(name, self.known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            parts.append(f"unknown {what}: {name}{hint}")
        self.message = "; ".join(parts) + f"; found: {', '.join(self.known) or 'none'}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Host:
    """One inventory host; `address` is None when the policy's undercloud address is needed.

    `user` and `port` are what Ansible would connect with, None when the inventory says nothing.
    """

    name: str
    address: str | None
    variables: Mapping[str, object] = field(hash=False)
    groups: frozenset[str]
    connection: str
    user: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class Group:
    """One inventory group, with its own hosts and children in file order."""

    name: str
    hosts: tuple[str, ...]
    children: tuple[str, ...]
    variables: Mapping[str, object] = field(hash=False)


@dataclass(frozen=True)
class Inventory:
    """A parsed inventory: groups and hosts in file order, the stacks kept, the excluded hosts."""

    path: str
    groups: Mapping[str, Group] = field(hash=False)
    hosts: Mapping[str, Host] = field(hash=False)
    stacks: tuple[str, ...]
    excluded: frozenset[str] = frozenset()

    def group_names(self) -> frozenset[str]:
        """Return the name of every group in the inventory."""
        return frozenset(self.groups)

    def hosts_in(self, groups: Sequence[str]) -> tuple[Host, ...]:
        """Return the hosts of `groups` and their children, each once, in first-seen order.

        Groups are walked in the order given; within a group its own hosts come first, then each
        child in file order. Excluded hosts (`excluded_overcloud`) are left out. Raise
        InventoryLookupError naming any group that does not exist.
        """
        return tuple(host for host in self._walk(groups) if host.name not in self.excluded)

    def excluded_in(self, groups: Sequence[str]) -> tuple[Host, ...]:
        """The hosts of `groups` that `hosts_in` leaves out because they are excluded."""
        return tuple(host for host in self._walk(groups) if host.name in self.excluded)

    def _walk(self, groups: Sequence[str]) -> list[Host]:
        names_given = (groups,) if isinstance(groups, str) else tuple(groups)
        unknown = [name for name in names_given if name not in self.groups]
        if unknown:
            raise InventoryLookupError("inventory group", unknown, self.groups)
        walked = _walk_hosts(self.groups, names_given)
        return [self.hosts[name] for name in walked if name in self.hosts]


def load_inventory(path: str, stacks: Sequence[str] = ()) -> Inventory:
    """Read the inventory at `path`, keeping only the hosts of `stacks` when any are given."""
    return parse_inventory(load_yaml(path), stacks)


def parse_inventory(document: YamlDocument, stacks: Sequence[str] = ()) -> Inventory:
    """Turn a loaded inventory document into an Inventory; raise InputError listing every problem.

    When `stacks` is given, only the hosts of those stacks and of Undercloud and BackupNode are
    kept; the groups stay, holding only kept hosts. An unknown stack raises InventoryLookupError.
    """
    reader = InventoryReader(document)
    drafts = reader.read()
    found = reader.stacks()
    problems = [*reader.problems, *_reference_problems(document, drafts)]
    if problems:
        raise InputError(_in_file_order(problems))
    groups = {name: _freeze_group(draft) for name, draft in drafts.items()}
    hosts, problems = _build_hosts(document, groups, drafts, reader)
    if problems:
        raise InputError(_in_file_order(problems))
    excluded = _excluded(groups)
    inventory = Inventory(
        document.path, MappingProxyType(groups), MappingProxyType(hosts), found, excluded
    )
    return _select_stacks(inventory, stacks)


def resolve_user(inventory: Inventory, host: Host, *, override: str | None, default: str) -> str:
    """Return the SSH user: override, else what Ansible would use (see the module), else default."""
    if override is not None:
        return override
    return host.user or default


def _in_file_order(problems: list[SourceProblem]) -> list[SourceProblem]:
    return sorted(problems, key=lambda problem: (problem.line, problem.column))


def _freeze_group(draft: GroupDraft) -> Group:
    variables = _freeze_mapping(draft.variables)
    return Group(draft.name, tuple(draft.hosts), tuple(draft.children), variables)


def _reference_problems(
    document: YamlDocument, drafts: Mapping[str, GroupDraft]
) -> list[SourceProblem]:
    problems = [
        document.problem(
            path, f"group {child} is defined nowhere (neither at the top level nor inline)"
        )
        for draft in drafts.values()
        for child, path in draft.children.items()
        if not drafts[child].defined
    ]
    for cycle in _find_cycles(drafts):
        path = drafts[cycle[-2]].children[cycle[-1]]
        problems.append(document.problem(path, "children form a cycle: " + " -> ".join(cycle)))
    return problems


def _find_cycles(drafts: Mapping[str, GroupDraft]) -> list[tuple[str, ...]]:
    """Depth-first search without recursion; each back edge yields the cycle it closes."""
    finished: set[str] = set()
    cycles: list[tuple[str, ...]] = []
    for start in drafts:
        if start in finished:
            continue
        path = [start]
        on_path = {start}
        pending: list[Iterator[str]] = [iter(drafts[start].children)]
        while pending:
            child = next(pending[-1], None)
            if child is None:
                done = path.pop()
                finished.add(done)
                on_path.discard(done)
                pending.pop()
            elif child in on_path:
                cycles.append((*path[path.index(child) :], child))
            elif child not in finished:
                path.append(child)
                on_path.add(child)
                pending.append(iter(drafts[child].children))
    return cycles


def _walk_hosts(groups: Mapping[str, Group], roots: Sequence[str]) -> list[str]:
    """Host names under `roots`, depth first: a group's own hosts, then each child in order."""
    seen: dict[str, None] = {}
    visited: set[str] = set()
    pending = list(reversed(roots))
    while pending:
        name = pending.pop()
        if name in visited or name not in groups:
            continue
        visited.add(name)
        seen.update(dict.fromkeys(groups[name].hosts))
        pending.extend(reversed(groups[name].children))
    return list(seen)


class _Ancestry:
    """Each group's parents, depth and priority, computed once for the whole inventory.

    Per host only the set of groups listing it directly is looked at; hosts sharing that set
    share the merged group variables, so resolving n hosts is linear in n (issue 8: the former
    per-host scan of every group took 518 s for 100k hosts).
    """

    def __init__(self, groups: Mapping[str, Group]) -> None:
        self.groups = groups
        parents: dict[str, list[str]] = {name: [] for name in groups}
        for group in groups.values():
            for child in group.children:
                parents[child].append(group.name)
        self.depth: dict[str, int] = {}
        self.closure: dict[str, frozenset[str]] = {}
        for name in _parents_first(groups, parents):
            above = parents[name]
            # Ansible: `all` is depth 0; a group without parents is made a child of `all`.
            self.depth[name] = max((self.depth[parent] + 1 for parent in above), default=1)
            if name == "all":
                self.depth[name] = 0
            self.closure[name] = frozenset({name}).union(*(self.closure[p] for p in above))
        self.merged: dict[frozenset[str], tuple[frozenset[str], dict[str, Origin]]] = {}

    def priority(self, name: str) -> int:
        value = self.groups[name].variables.get(PRIORITY_VARIABLE, DEFAULT_PRIORITY)
        return int(str(value))

    def group_variables(
        self, direct: frozenset[str], origins: Mapping[str, Mapping[str, tuple[str, ...]]]
    ) -> tuple[frozenset[str], dict[str, Origin]]:
        """All groups of a host listed directly in `direct`, and their merged connection vars."""
        if direct not in self.merged:
            every = frozenset().union(*(self.closure[name] for name in direct))
            merged: dict[str, Origin] = {}
            ordered = sorted(every, key=lambda g: (self.depth[g], self.priority(g), g))
            for name in ordered:
                for variable, value in self.groups[name].variables.items():
                    if variable in CONNECTION_VARIABLES:
                        merged[variable] = (value, origins[name][variable])
            self.merged[direct] = (every, merged)
        return self.merged[direct]


def _parents_first(groups: Mapping[str, Group], parents: Mapping[str, list[str]]) -> list[str]:
    """Groups in an order where every parent comes before its children (Kahn's algorithm)."""
    waiting = {name: len(parents[name]) for name in groups}
    ready = [name for name, count in waiting.items() if count == 0]
    ordered: list[str] = []
    while ready:
        name = ready.pop()
        ordered.append(name)
        for child in groups[name].children:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return ordered


def _build_hosts(
    document: YamlDocument,
    groups: Mapping[str, Group],
    drafts: Mapping[str, GroupDraft],
    reader: InventoryReader,
) -> tuple[dict[str, Host], list[SourceProblem]]:
    ancestry = _Ancestry(groups)
    group_origins = {name: draft.origins for name, draft in drafts.items()}
    hosts: dict[str, Host] = {}
    problems: list[SourceProblem] = []
    for name, raw_variables in reader.host_variables.items():
        direct = frozenset(reader.host_groups[name])
        every, merged = ancestry.group_variables(direct, group_origins)
        scope = dict(merged)
        origins = reader.host_origins[name]
        for variable in CONNECTION_VARIABLES.intersection(origins):
            scope[variable] = (raw_variables[variable], origins[variable])
        host, problem = _host(name, _freeze_mapping(raw_variables), every, scope)
        hosts[name] = host
        if problem is not None:
            problems.append(document.problem(*problem))
    return hosts, problems


def _last(scope: Mapping[str, Origin], variables: Sequence[str]) -> Origin | None:
    """The value of the last of `variables` defined in `scope`, as Ansible's _loop_entries."""
    found = [scope[variable] for variable in variables if variable in scope]
    return found[-1] if found else None


def _host(
    name: str, variables: Mapping[str, object], groups: frozenset[str], scope: Mapping[str, Origin]
) -> tuple[Host, tuple[tuple[str, ...], str] | None]:
    """The host as Ansible would connect to it, and a loopback problem if there is one."""
    connection_origin = scope.get("ansible_connection")
    local = connection_origin is not None and connection_origin[0] == "local"
    connection = "local" if local else "ssh"
    address_origin = _last(scope, ADDRESS_VARIABLES)
    user_origin = _last(scope, USER_VARIABLES)
    port_origin = _last(scope, PORT_VARIABLES)
    user = str(user_origin[0]) if user_origin else None
    port = names.port_number(port_origin[0]) if port_origin else None
    address: str | None = str(address_origin[0]) if address_origin else name
    problem = None
    if local or (names.is_loopback(name) and address_origin is None):
        address = None
    elif address_origin is not None and names.is_loopback(str(address_origin[0])):
        problem = (
            address_origin[1],
            f"{address} is this machine's loopback, unreachable as host {name} over ssh;"
            " give its ctlplane address, or ansible_connection: local for the undercloud",
        )
        address = None
    return Host(name, address, variables, groups, connection, user, port), problem


def _excluded(groups: Mapping[str, Group]) -> frozenset[str]:
    roots = [
        name for name in groups if name == EXCLUDED_GROUP or name.endswith(f"_{EXCLUDED_GROUP}")
    ]
    return frozenset(_walk_hosts(groups, roots))


def _select_stacks(inventory: Inventory, stacks: Sequence[str]) -> Inventory:
    requested = tuple(dict.fromkeys((stacks,) if isinstance(stacks, str) else stacks))
    if not requested:
        return inventory
    unknown = [stack for stack in requested if stack not in inventory.stacks]
    if unknown:
        raise InventoryLookupError(
            f"stack in inventory {inventory.path}", unknown, inventory.stacks
        )
    roots = [name for name in (*requested, *ALWAYS_KEPT_GROUPS) if name in inventory.groups]
    kept = set(_walk_hosts(inventory.groups, roots))
    groups = {
        name: replace(group, hosts=tuple(host for host in group.hosts if host in kept))
        for name, group in inventory.groups.items()
    }
    hosts = {name: host for name, host in inventory.hosts.items() if name in kept}
    return Inventory(
        inventory.path,
        MappingProxyType(groups),
        MappingProxyType(hosts),
        requested,
        inventory.excluded & kept,
    )


def _freeze(value: object) -> object:
    if isinstance(value, dict):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value


def _freeze_mapping(variables: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType({name: _freeze(value) for name, value in variables.items()})
