"""One pass over a loaded inventory: groups (top-level and inline), host variables, problems.

Everything barctl later uses from the file is checked here, at the key or value that carries it
(`barctl.config.names` says what is legal), and every problem is collected, so the operator sees all
of them at once as `FILE:LINE:COL: key.path: message`. A group may be defined at the top level and
inline under another group's `children` (valid Ansible, which parses both into one group): hosts and
children are united, variables set later in the file win. One host listed in two places, or one
group defined in two places, with two different connection values (`ansible_host`, a user, a port,
the connection) is refused at the second, naming the first: Ansible silently keeps the last one,
which is how a controller ends up backed up at the wrong address.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import yaml

from barctl.config import names
from barctl.config.yamlsource import YamlDocument
from barctl.errors import SourceProblem

Path = tuple[str, ...]
GROUP_KEYS = ("hosts", "children", "vars")
IGNORED_GROUP_KEYS = frozenset({"deprecated"})
CONNECTIONS = ("local", "paramiko", "paramiko_ssh", "smart", "ssh")  # all but local mean ssh
ADDRESS_VARIABLES = ("ansible_host", "ansible_ssh_host")
USER_VARIABLES = ("ansible_user", "ansible_ssh_user")
PORT_VARIABLES = ("ansible_port", "ansible_ssh_port")
CONNECTION_VARIABLES = frozenset(
    {*ADDRESS_VARIABLES, *USER_VARIABLES, *PORT_VARIABLES, "ansible_connection"}
)
PRIORITY_VARIABLE = "ansible_group_priority"
INTEGER = re.compile(r"-?[0-9]{1,9}")
HOST_RANGE = re.compile(r"\[[^\]]*:[^\]]*\]")
MAXIMUM_INLINE_DEPTH = 64  # inline `children` levels; real inventories use one or two


@dataclass
class GroupDraft:
    """A group as read so far: possibly from several definitions in the file."""

    name: str
    hosts: dict[str, None] = field(default_factory=dict)
    children: dict[str, Path] = field(default_factory=dict)  # child -> path of its first listing
    variables: dict[str, object] = field(default_factory=dict)
    origins: dict[str, Path] = field(default_factory=dict)  # variable -> where it was set
    defined: bool = False


class InventoryReader:
    """Walks the raw document once, collecting groups, host variables and problems."""

    def __init__(self, document: YamlDocument) -> None:
        self.document = document
        self.problems: list[SourceProblem] = []
        self.drafts: dict[str, GroupDraft] = {}
        self.host_variables: dict[str, dict[str, object]] = {}
        self.host_origins: dict[str, dict[str, Path]] = {}
        self.host_groups: dict[str, dict[str, None]] = {}  # host -> groups listing it directly

    def report(self, key_path: Sequence[str], message: str) -> None:
        """A problem located at the value under `key_path`."""
        self.problems.append(self.document.problem(key_path, message))

    def report_key(self, key_path: Sequence[str], message: str) -> None:
        """A problem located at the last key of `key_path` itself (a name, not its value)."""
        line, column = _key_position(self.document, key_path)
        dotted = ".".join(key_path)
        self.problems.append(SourceProblem(self.document.path, line, column, dotted, message))

    def read(self) -> dict[str, GroupDraft]:
        """Read every group; return the drafts by name, in order of first appearance."""
        data = self.document.data
        if not isinstance(data, dict):
            found = _kind(data)
            self.report(
                [], f"the inventory must be a mapping of group names to groups, found {found}"
            )
            return self.drafts
        for name, value in data.items():
            if not isinstance(name, str):
                self.report_key([str(name)], "group names must be strings")
                continue
            self.group((name,), name, value).defined = True
        return self.drafts

    def draft(self, path: Path, name: str) -> GroupDraft:
        if name not in self.drafts:
            problem = names.group_name_problem(name)
            if problem:
                self.report_key(path, problem)
            self.drafts[name] = GroupDraft(name)
        return self.drafts[name]

    def group(self, path: Path, name: str, value: object) -> GroupDraft:
        draft = self.draft(path, name)
        if value is None:
            return draft
        if not isinstance(value, dict):
            self.report(
                path, f"must be a mapping with hosts, children or vars, found {_kind(value)}"
            )
            return draft
        for key in value:
            if key not in GROUP_KEYS and key not in IGNORED_GROUP_KEYS:
                self.report_key(
                    [*path, str(key)], "unknown key; a group has only hosts, children and vars"
                )
        if value:
            draft.defined = True
        self.variables(
            (*path, "vars"), value.get("vars"), draft.variables, draft.origins, f"group {name}"
        )
        self.hosts(path, draft, value.get("hosts"))
        self.children(path, draft, value.get("children"))
        return draft

    def mapping(self, key_path: Path, value: object, expected: str) -> dict[object, object]:
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self.report(key_path, f"must be a mapping of {expected}, found {_kind(value)}")
        return {}

    def hosts(self, path: Path, draft: GroupDraft, value: object) -> None:
        hosts_path = (*path, "hosts")
        for host, host_value in self.mapping(
            hosts_path, value, "host names to host variables"
        ).items():
            if not isinstance(host, str):
                self.report_key([*hosts_path, str(host)], "host names must be strings")
                continue
            host_path = (*hosts_path, host)
            if HOST_RANGE.search(host):
                self.report_key(host_path, "host ranges are not supported; list each host")
            elif problem := names.host_name_problem(host):
                self.report_key(host_path, problem)
            variables = self.host_variables.setdefault(host, {})
            origins = self.host_origins.setdefault(host, {})
            self.variables(host_path, host_value, variables, origins, f"host {host}")
            self.host_groups.setdefault(host, {})[draft.name] = None
            draft.hosts[host] = None

    def children(self, path: Path, draft: GroupDraft, value: object) -> None:
        children_path = (*path, "children")
        expected = "group names to {} or to group definitions"
        for child, child_value in self.mapping(children_path, value, expected).items():
            if not isinstance(child, str):
                self.report_key([*children_path, str(child)], "group names must be strings")
                continue
            child_path = (*children_path, child)
            draft.children.setdefault(child, child_path)
            if isinstance(child_value, dict) and child_value:
                if len(child_path) > 3 * MAXIMUM_INLINE_DEPTH:
                    self.report(child_path, f"more than {MAXIMUM_INLINE_DEPTH} inline levels")
                    continue
                self.group(child_path, child, child_value)  # inline definition, as Ansible
            elif child_value is not None and child_value != {}:
                self.report(
                    child_path,
                    "must be {} or a group definition (hosts, children, vars),"
                    f" found {_kind(child_value)}",
                )
            else:
                self.draft(child_path, child)

    def variables(
        self,
        key_path: Path,
        value: object,
        into: dict[str, object],
        origins: dict[str, Path],
        owner: str,
    ) -> None:
        """Check `value`'s variables and merge them into `into`, refusing connection conflicts."""
        for name, item in self.mapping(key_path, value, "variable names to values").items():
            if not isinstance(name, str):
                self.report_key([*key_path, str(name)], "variable names must be strings")
                continue
            path = (*key_path, name)
            problem = variable_problem(name, item)
            if problem:
                self.report(path, problem)
                continue
            if name in CONNECTION_VARIABLES and name in into and into[name] != item:
                line, _ = self.document.locate(origins[name])
                self.report(
                    path,
                    f"{owner} already has {name} {into[name]!r} at line {line}"
                    f" ({'.'.join(origins[name])}); two different values are ambiguous",
                )
                continue
            into[name] = item
            origins[name] = path

    def stacks(self) -> tuple[str, ...]:
        """Stacks named by Undercloud `plan`/`plans`, then each group G with a G_allovercloud."""
        found: dict[str, None] = {}
        undercloud = self.drafts.get("Undercloud")
        variables = undercloud.variables if undercloud else {}
        plans = variables.get("plans", [])
        if isinstance(plans, list) and all(isinstance(plan, str) for plan in plans):
            found.update(dict.fromkeys(plans))
        else:
            self.report(
                ["Undercloud", "vars", "plans"],
                f"must be a list of stack names, found {_kind(plans)}",
            )
        plan = variables.get("plan")
        if isinstance(plan, str):
            found[plan] = None
        elif plan is not None:
            self.report(
                ["Undercloud", "vars", "plan"], f"must be a stack name, found {_kind(plan)}"
            )
        for stack in found:
            if problem := names.group_name_problem(stack):
                self.report(["Undercloud", "vars"], f"stack {problem}")
        found.update(
            dict.fromkeys(name for name in self.drafts if f"{name}_allovercloud" in self.drafts)
        )
        return tuple(found)


def _string_check(check: Callable[[str], str | None]) -> Callable[[object], str | None]:
    def problem(value: object) -> str | None:
        if not isinstance(value, str) or not value:
            return f"must be a non-empty string, found {_kind(value)}"
        return check(value)

    return problem


def _connection_problem(value: str) -> str | None:
    if value in CONNECTIONS:
        return None
    return f"unsupported connection {value!r}; known: {', '.join(CONNECTIONS)}"


def _priority_problem(value: object) -> str | None:
    """Ansible applies int() to ansible_group_priority; anything int() refuses fails there."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    if isinstance(value, str) and INTEGER.fullmatch(value):
        return None
    return f"must be an integer, found {_kind(value)}"


CHECKS: Mapping[str, Callable[[object], str | None]] = {
    **dict.fromkeys(ADDRESS_VARIABLES, _string_check(names.address_problem)),
    **dict.fromkeys(USER_VARIABLES, _string_check(names.login_name_problem)),
    **dict.fromkeys(PORT_VARIABLES, names.port_problem),
    "ansible_connection": _string_check(_connection_problem),
    PRIORITY_VARIABLE: _priority_problem,
}


def variable_problem(name: str, value: object) -> str | None:
    """Why `value` is not legal for the Ansible variable `name` barctl uses, or None."""
    check = CHECKS.get(name)
    return check(value) if check else None


def _key_position(document: YamlDocument, key_path: Sequence[str]) -> tuple[int, int]:
    """1-based position of the last key of `key_path`; falls back to the value's position."""
    node = document.root
    key_node = None
    for part in key_path:
        if not isinstance(node, yaml.MappingNode):
            return document.locate(key_path)
        matches = [(key, value) for key, value in node.value if str(key.value) == part]
        if not matches:
            return document.locate(key_path)
        key_node, node = matches[-1]  # after a merge key the last one is the effective one
    if key_node is None:
        return document.locate(key_path)
    return key_node.start_mark.line + 1, key_node.start_mark.column + 1


def _kind(value: object) -> str:
    if value == "":
        return "an empty string"
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    kinds = {str: "a string", bool: "a boolean", int: "an integer", float: "a number"}
    return kinds.get(type(value), f"a {type(value).__name__}")
