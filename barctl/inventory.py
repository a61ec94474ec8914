"""TripleO static inventory (`tripleo-ansible-inventory --static-yaml-inventory`) to frozen data.

The file has top-level groups and no `all:` wrapper. A group holds `hosts` (host name to host
variables), `children` (group name to `{}`) and `vars`. With the stack merge that the CLI always
applies, `Controller` reaches its hosts through `overcloud_Controller`, and service groups such as
`ceph_mon` take two or more levels of `children` (tripleo.md §6). Every problem in the file is
collected and reported at once as `FILE:LINE:COL: key.path: message`.

Choices where Ansible differs or is unspecified:
* Group variables are looked up nearest group first: a group that lists the host directly, then
  its parents, and so on. Among groups at the same distance, the name that sorts last wins, as
  when Ansible combines groups of equal depth in name order. `ansible_group_priority` is ignored.
* The user is `ansible_ssh_user`, then `ansible_user`, first in the host's variables and then
  group by group. Ansible merges variables first and then prefers `ansible_ssh_user`, so a group
  `ansible_ssh_user` would beat a host `ansible_user` there; here the host always wins.
* A child listed under `children` must be defined at the top level (tripleo writes `{}`);
  inline group definitions and host ranges such as `node[0:3]` are rejected. The `deprecated`
  key that tripleo writes on a renamed `overcloud` group is accepted and ignored.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from barctl.errors import BarctlError, InputError, SourceProblem
from barctl.yamlsource import YamlDocument, load_yaml

GROUP_KEYS = ("hosts", "children", "vars")
IGNORED_GROUP_KEYS = frozenset({"deprecated"})
ALWAYS_KEPT_GROUPS = ("Undercloud", "BackupNode")
CONNECTIONS = ("local", "paramiko", "paramiko_ssh", "smart", "ssh")  # all but local mean ssh
STRING_VARIABLES = frozenset(
    {"ansible_host", "ansible_user", "ansible_ssh_user", "ansible_connection"}
)
USER_VARIABLES = ("ansible_ssh_user", "ansible_user")
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain"})
HOST_RANGE = re.compile(r"\[[^\]]*:[^\]]*\]")
EMPTY: Mapping[str, object] = MappingProxyType({})


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
    """One inventory host; `address` is None when the policy's undercloud address is needed."""

    name: str
    address: str | None
    variables: Mapping[str, object] = field(hash=False)
    groups: frozenset[str]
    connection: str


@dataclass(frozen=True)
class Group:
    """One inventory group, with its own hosts and children in file order."""

    name: str
    hosts: tuple[str, ...]
    children: tuple[str, ...]
    variables: Mapping[str, object] = field(hash=False)


@dataclass(frozen=True)
class Inventory:
    """A parsed inventory: groups and hosts in file order, and the stacks kept."""

    path: str
    groups: Mapping[str, Group] = field(hash=False)
    hosts: Mapping[str, Host] = field(hash=False)
    stacks: tuple[str, ...]

    def group_names(self) -> frozenset[str]:
        """Return the name of every group in the inventory."""
        return frozenset(self.groups)

    def hosts_in(self, groups: Sequence[str]) -> tuple[Host, ...]:
        """Return the hosts of `groups` and their children, each once, in first-seen order.

        Groups are walked in the order given; within a group its own hosts come first, then each
        child in file order. Raise InventoryLookupError naming any group that does not exist.
        """
        names = (groups,) if isinstance(groups, str) else tuple(groups)
        unknown = [name for name in names if name not in self.groups]
        if unknown:
            raise InventoryLookupError("inventory group", unknown, self.groups)
        return tuple(
            self.hosts[name] for name in _walk_hosts(self.groups, names) if name in self.hosts
        )


def load_inventory(path: str, stacks: Sequence[str] = ()) -> Inventory:
    """Read the inventory at `path`, keeping only the hosts of `stacks` when any are given."""
    return parse_inventory(load_yaml(path), stacks)


def parse_inventory(document: YamlDocument, stacks: Sequence[str] = ()) -> Inventory:
    """Turn a loaded inventory document into an Inventory; raise InputError listing every problem.

    When `stacks` is given, only the hosts of those stacks and of Undercloud and BackupNode are
    kept; the groups stay, holding only kept hosts. An unknown stack raises InventoryLookupError.
    """
    reader = _Reader(document)
    groups = reader.groups()
    reader.problems.extend(_reference_problems(document, groups))
    found = reader.stacks(groups)
    if reader.problems:
        raise InputError(
            sorted(reader.problems, key=lambda problem: (problem.line, problem.column))
        )
    hosts = _build_hosts(groups, reader.host_variables)
    inventory = Inventory(document.path, MappingProxyType(groups), MappingProxyType(hosts), found)
    return _select_stacks(inventory, stacks)


def resolve_user(inventory: Inventory, host: Host, *, override: str | None, default: str) -> str:
    """Return the SSH user: override, host variables, nearest group variables, then default.

    At each level `ansible_ssh_user` is preferred over `ansible_user`.
    """
    if override is not None:
        return override
    nearest = _nearest_groups(inventory.groups, host.name)
    for variables in (host.variables, *(inventory.groups[group].variables for group in nearest)):
        for name in USER_VARIABLES:
            value = variables.get(name)
            if isinstance(value, str) and value:
                return value
    return default


class _Reader:
    """Walks the raw document once, collecting groups, merged host variables and problems."""

    def __init__(self, document: YamlDocument) -> None:
        self.document = document
        self.problems: list[SourceProblem] = []
        self.host_variables: dict[str, dict[str, object]] = {}

    def report(self, key_path: Sequence[str], message: str) -> None:
        self.problems.append(self.document.problem(key_path, message))

    def groups(self) -> dict[str, Group]:
        data = self.document.data
        if not isinstance(data, dict):
            self.report(
                [], f"the inventory must be a mapping of group names to groups, found {_kind(data)}"
            )
            return {}
        groups: dict[str, Group] = {}
        for name, value in data.items():
            if isinstance(name, str):
                groups[name] = self.group(name, value)
            else:
                self.report([str(name)], "group names must be strings")
        return groups

    def group(self, name: str, value: object) -> Group:
        if value is None:
            return Group(name, (), (), EMPTY)
        if not isinstance(value, dict):
            self.report(
                [name], f"must be a mapping with hosts, children or vars, found {_kind(value)}"
            )
            return Group(name, (), (), EMPTY)
        for key in value:
            if key not in GROUP_KEYS and key not in IGNORED_GROUP_KEYS:
                self.report(
                    [name, str(key)], "unknown key; a group has only hosts, children and vars"
                )
        hosts = self.hosts(name, value.get("hosts"))
        children = self.children(name, value.get("children"))
        variables = self.variables([name, "vars"], value.get("vars"))
        return Group(name, hosts, children, _freeze_mapping(variables))

    def mapping(
        self, key_path: Sequence[str], value: object, expected: str
    ) -> dict[object, object]:
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self.report(key_path, f"must be a mapping of {expected}, found {_kind(value)}")
        return {}

    def hosts(self, group: str, value: object) -> tuple[str, ...]:
        names: list[str] = []
        for host, host_value in self.mapping(
            [group, "hosts"], value, "host names to host variables"
        ).items():
            if not isinstance(host, str):
                self.report([group, "hosts", str(host)], "host names must be strings")
                continue
            if HOST_RANGE.search(host):
                self.report([group, "hosts", host], "host ranges are not supported; list each host")
            variables = self.variables([group, "hosts", host], host_value)
            self.host_variables.setdefault(host, {}).update(variables)
            names.append(host)
        return tuple(names)

    def children(self, group: str, value: object) -> tuple[str, ...]:
        names: list[str] = []
        for child, child_value in self.mapping(
            [group, "children"], value, "group names to {}"
        ).items():
            if not isinstance(child, str):
                self.report([group, "children", str(child)], "group names must be strings")
                continue
            if child_value is not None and child_value != {}:
                self.report(
                    [group, "children", child],
                    f"define group {child} at the top level and list it here as `{child}: {{}}`",
                )
            names.append(child)
        return tuple(names)

    def variables(self, key_path: Sequence[str], value: object) -> dict[str, object]:
        variables: dict[str, object] = {}
        for name, item in self.mapping(key_path, value, "variable names to values").items():
            if not isinstance(name, str):
                self.report([*key_path, str(name)], "variable names must be strings")
                continue
            if name in STRING_VARIABLES and (not isinstance(item, str) or not item):
                self.report([*key_path, name], f"must be a non-empty string, found {_kind(item)}")
            elif name == "ansible_connection" and item not in CONNECTIONS:
                known = ", ".join(CONNECTIONS)
                self.report([*key_path, name], f"unsupported connection {item!r}; known: {known}")
            variables[name] = item
        return variables

    def stacks(self, groups: Mapping[str, Group]) -> tuple[str, ...]:
        """Stacks named by Undercloud `plan`/`plans`, then each group G with a G_allovercloud."""
        found: dict[str, None] = {}
        undercloud = groups.get("Undercloud")
        undercloud_variables = undercloud.variables if undercloud else EMPTY
        plans = undercloud_variables.get("plans", ())
        if isinstance(plans, tuple) and all(isinstance(plan, str) for plan in plans):
            found.update(dict.fromkeys(str(plan) for plan in plans))
        else:
            self.report(
                ["Undercloud", "vars", "plans"],
                f"must be a list of stack names, found {_kind(plans)}",
            )
        plan = undercloud_variables.get("plan")
        if isinstance(plan, str):
            found[plan] = None
        elif plan is not None:
            self.report(
                ["Undercloud", "vars", "plan"], f"must be a stack name, found {_kind(plan)}"
            )
        found.update(dict.fromkeys(name for name in groups if f"{name}_allovercloud" in groups))
        return tuple(found)


def _reference_problems(document: YamlDocument, groups: Mapping[str, Group]) -> list[SourceProblem]:
    problems = [
        document.problem(
            [group.name, "children", child], f"group {child} is not defined at the top level"
        )
        for group in groups.values()
        for child in group.children
        if child not in groups
    ]
    for cycle in _find_cycles(groups):
        problems.append(
            document.problem(
                [cycle[-2], "children", cycle[-1]], "children form a cycle: " + " -> ".join(cycle)
            )
        )
    return problems


def _find_cycles(groups: Mapping[str, Group]) -> list[tuple[str, ...]]:
    """Depth-first search without recursion; each back edge yields the cycle it closes."""
    finished: set[str] = set()
    cycles: list[tuple[str, ...]] = []
    for start in groups:
        if start in finished:
            continue
        path = [start]
        pending: list[Iterator[str]] = [iter(groups[start].children)]
        while pending:
            child = next(pending[-1], None)
            if child is None:
                finished.add(path.pop())
                pending.pop()
            elif child in path:
                cycles.append((*path[path.index(child) :], child))
            elif child in groups and child not in finished:
                path.append(child)
                pending.append(iter(groups[child].children))
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


def _nearest_groups(groups: Mapping[str, Group], host: str) -> tuple[str, ...]:
    """Every group holding `host`, nearest first; at equal distance the name sorting last first."""
    parents: dict[str, list[str]] = {}
    for group in groups.values():
        for child in group.children:
            parents.setdefault(child, []).append(group.name)
    distance = {group.name: 1 for group in groups.values() if host in group.hosts}
    frontier = list(distance)
    while frontier:
        upper: list[str] = []
        for name in frontier:
            for parent in parents.get(name, ()):
                if parent not in distance:
                    distance[parent] = distance[name] + 1
                    upper.append(parent)
        frontier = upper
    return tuple(sorted(sorted(distance, reverse=True), key=distance.__getitem__))


def _lookup(scopes: Iterable[Mapping[str, object]], name: str) -> object:
    """The value of variable `name` in the first scope defining it, else None."""
    return next((scope[name] for scope in scopes if name in scope), None)


def _build_hosts(
    groups: Mapping[str, Group], host_variables: Mapping[str, dict[str, object]]
) -> dict[str, Host]:
    hosts: dict[str, Host] = {}
    for name, raw_variables in host_variables.items():
        variables = _freeze_mapping(raw_variables)
        nearest = _nearest_groups(groups, name)
        scopes = [variables, *(groups[group].variables for group in nearest)]
        local = _lookup(scopes, "ansible_connection") == "local"
        address = str(_lookup(scopes, "ansible_host") or name)
        reachable = not local and not _is_loopback(address)
        connection = "local" if local else "ssh"
        hosts[name] = Host(
            name, address if reachable else None, variables, frozenset(nearest), connection
        )
    return hosts


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
    kept = {host.name for host in inventory.hosts_in(roots)}
    groups = {
        name: replace(group, hosts=tuple(host for host in group.hosts if host in kept))
        for name, group in inventory.groups.items()
    }
    hosts = {name: host for name, host in inventory.hosts.items() if name in kept}
    return Inventory(inventory.path, MappingProxyType(groups), MappingProxyType(hosts), requested)


def _is_loopback(address: str) -> bool:
    if address.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _freeze(value: object) -> object:
    if isinstance(value, dict):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value


def _freeze_mapping(variables: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType({name: _freeze(value) for name, value in variables.items()})


def _kind(value: object) -> str:
    if value == "":
        return "an empty string"
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a number"}
    return names.get(type(value), f"a {type(value).__name__}")
