"""barctl.config.inventory: static inventories as tripleo-ansible-inventory writes them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import pytest

from barctl.config.inventory import (
    Group,
    Host,
    Inventory,
    InventoryLookupError,
    load_inventory,
    parse_inventory,
    resolve_user,
)
from barctl.config.yamlsource import parse_yaml
from barctl.console import cli
from barctl.errors import BarctlError, InputError

DATA = Path(__file__).resolve().parent.parent / "data" / "inventory"


def fixture(name: str) -> str:
    return str(DATA / name)


def names(hosts: tuple[Host, ...]) -> list[str]:
    return [host.name for host in hosts]


def problems_of(name: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_inventory(fixture(name))
    return [str(problem) for problem in caught.value.problems]


# (1) train, single stack, the example of tripleo.md §6 verbatim


@pytest.fixture(scope="module")
def train() -> Inventory:
    return load_inventory(fixture("train_single.yaml"))


def test_role_group_resolves_through_stack_prefixed_group(train: Inventory) -> None:
    """Controller has no hosts of its own; they come from overcloud_Controller."""
    assert train.groups["Controller"].hosts == ()
    assert names(train.hosts_in(["Controller"])) == ["ctl-a-0", "ctl-a-1"]


def test_service_group_resolves_through_two_levels(train: Inventory) -> None:
    """ceph_mon reaches hosts via overcloud_ceph_mon then overcloud_Controller."""
    assert names(train.hosts_in(["ceph_mon"])) == ["ctl-a-0", "ctl-a-1"]


def test_pacemaker_covers_controller_and_database(train: Inventory) -> None:
    """pacemaker spans both role groups, in the order its children are listed."""
    assert names(train.hosts_in(["pacemaker"])) == ["ctl-a-0", "ctl-a-1", "db-a-0"]


def test_host_fields_from_train_example(train: Inventory) -> None:
    """A controller gets its ctlplane address, ssh connection, own variables and every group."""
    host = train.hosts["ctl-a-0"]
    assert host.address == "192.0.2.21"
    assert host.connection == "ssh"
    assert host.variables["deploy_server_id"] == "0b7c1d9e-0000-4000-8000-000000000021"
    assert "tripleo_role_name" not in host.variables
    assert host.groups == {
        "Controller",
        "overcloud_Controller",
        "overcloud_allovercloud",
        "allovercloud",
        "overcloud",
        "overcloud_pacemaker",
        "pacemaker",
        "overcloud_ceph_mon",
        "ceph_mon",
    }


def test_hosts_keep_file_order_and_stacks_come_from_plans(train: Inventory) -> None:
    """Hosts are listed in file order; the stack list comes from Undercloud plans."""
    assert list(train.hosts) == ["undercloud", "ctl-a-0", "ctl-a-1", "db-a-0", "bkp-0"]
    assert train.stacks == ("overcloud",)
    assert "overcloud_ceph_mon" in train.group_names()


def test_variables_are_read_only(train: Inventory) -> None:
    """Host and group variables cannot be changed, nested lists included."""
    host = train.hosts["ctl-a-0"]
    with pytest.raises(TypeError):
        host.variables["ansible_host"] = "203.0.113.1"  # type: ignore[index]
    networks = train.groups["overcloud_Controller"].variables["tripleo_role_networks"]
    assert networks == ("ctlplane", "internal_api")


def test_whole_stack_group_and_unknown_group(train: Inventory) -> None:
    """The stack group covers every overcloud host; an unknown group is a lookup error."""
    assert names(train.hosts_in(["overcloud"])) == ["ctl-a-0", "ctl-a-1", "db-a-0"]
    with pytest.raises(InventoryLookupError) as caught:
        train.hosts_in(["Controler"])
    assert isinstance(caught.value, BarctlError)
    assert isinstance(caught.value, KeyError)
    assert caught.value.unknown == ("Controler",)
    assert str(caught.value).startswith(
        "unknown inventory group: Controler (did you mean Controller"
    )


def test_single_group_name_is_not_split_into_letters(train: Inventory) -> None:
    """Passing one group name as a plain string means that group."""
    assert names(train.hosts_in("Database")) == ["db-a-0"]


# (2) two stacks merged


def test_merged_role_group_spans_both_stacks() -> None:
    """Controller lists edge1 and overcloud controllers, children in file order."""
    inventory = load_inventory(fixture("merged_two_stacks.yaml"))
    assert inventory.stacks == ("edge1", "overcloud")
    assert names(inventory.hosts_in(["Controller"])) == [
        "edge1-controller-0",
        "overcloud-controller-0",
        "overcloud-controller-1",
    ]


def test_stack_filter_keeps_one_stack_plus_undercloud_and_backup_node() -> None:
    """Selecting overcloud drops edge1 hosts but keeps Undercloud and BackupNode."""
    inventory = load_inventory(fixture("merged_two_stacks.yaml"), stacks=["overcloud"])
    assert inventory.stacks == ("overcloud",)
    assert list(inventory.hosts) == [
        "undercloud",
        "overcloud-controller-0",
        "overcloud-controller-1",
        "overcloud-novacompute-0",
        "bkp-0",
    ]
    assert names(inventory.hosts_in(["Controller"])) == [
        "overcloud-controller-0",
        "overcloud-controller-1",
    ]
    assert inventory.groups["edge1_Controller"].hosts == ()


def test_unknown_stack_lists_the_stacks_found() -> None:
    """Asking for a stack the file does not have names the ones it has."""
    with pytest.raises(InventoryLookupError) as caught:
        load_inventory(fixture("merged_two_stacks.yaml"), stacks=["edge2"])
    assert caught.value.known == ("edge1", "overcloud")
    assert str(caught.value) == (
        f"unknown stack in inventory {fixture('merged_two_stacks.yaml')}: edge2"
        " (did you mean edge1?); found: edge1, overcloud"
    )


def test_stacks_found_from_allovercloud_groups_without_plans() -> None:
    """Without Undercloud plans, each group G having a G_allovercloud group is a stack."""
    text = (
        "edge1_allovercloud:\n  hosts: {e-0: {}}\nedge1:\n  children: {edge1_allovercloud: {}}\n"
        "overcloud_allovercloud:\n  hosts: {o-0: {}}\n"
        "overcloud:\n  children: {overcloud_allovercloud: {}}\n"
    )
    inventory = parse_inventory(parse_yaml(text, "inline.yaml"))
    assert inventory.stacks == ("edge1", "overcloud")
    edge = parse_inventory(parse_yaml(text, "inline.yaml"), stacks="edge1")
    assert list(edge.hosts) == ["e-0"]


# (3) composable roles


def test_composable_roles_keep_file_order_and_deduplicate() -> None:
    """Hosts of several role groups come in file order, each once."""
    inventory = load_inventory(fixture("composable_roles.yaml"))
    hosts = inventory.hosts_in(["ControllerOpenstack", "Database", "Messaging"])
    assert names(hosts) == [
        "controller-0",
        "controller-1",
        "controller-2",
        "database-0",
        "database-1",
        "messaging-0",
    ]
    assert names(inventory.hosts_in(["Networker"])) == ["networker-0"]


def test_group_order_given_is_kept() -> None:
    """Groups are walked in the order asked for, so a caller controls the rolling order."""
    inventory = load_inventory(fixture("composable_roles.yaml"))
    hosts = inventory.hosts_in(["Messaging", "ControllerOpenstack"])
    assert names(hosts) == [
        "messaging-0",
        "database-0",
        "controller-0",
        "controller-1",
        "controller-2",
    ]


# (4) wallaby nesting


def test_wallaby_single_stack_nesting() -> None:
    """allovercloud -> overcloud -> roles resolves; the stack comes from Undercloud plan."""
    inventory = load_inventory(fixture("wallaby_single.yaml"), stacks=["overcloud"])
    assert inventory.stacks == ("overcloud",)
    assert names(inventory.hosts_in(["allovercloud"])) == [
        "overcloud-novacompute-0",
        "overcloud-controller-0",
        "overcloud-controller-1",
    ]
    controller = inventory.hosts["overcloud-controller-0"]
    assert (
        resolve_user(inventory, controller, override=None, default="heat-admin") == "tripleo-admin"
    )


def test_wallaby_merged_nesting() -> None:
    """overcloud -> overcloud_allovercloud -> overcloud_overcloud -> role: three levels down."""
    inventory = load_inventory(fixture("wallaby_merged.yaml"), stacks=["overcloud"])
    assert names(inventory.hosts_in(["overcloud"])) == ["overcloud-controller-0"]
    assert names(inventory.hosts_in(["Controller"])) == ["overcloud-controller-0"]


# (5) BackupNode


def test_backup_node_user_and_address(train: Inventory) -> None:
    """The hand-added BackupNode host keeps its address and its ansible_user root."""
    (backup,) = train.hosts_in(["BackupNode"])
    assert backup.address == "192.0.2.250"
    assert resolve_user(train, backup, override=None, default="heat-admin") == "root"


# (6) user precedence


@pytest.fixture(scope="module")
def precedence() -> Inventory:
    return load_inventory(fixture("precedence.yaml"))


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("both-vars", "stack"),  # host ansible_ssh_user beats host ansible_user
        ("host-user", "heat-admin"),  # group ansible_ssh_user beats host ansible_user (issue 8)
        ("group-user", "heat-admin"),  # the deeper group's ansible_ssh_user
        ("inherits-parent", "parent-user"),  # parent group when the role group is silent
        ("near-0", "far-user"),  # any ansible_ssh_user beats any ansible_user once merged
        ("tie-0", "beta-user"),  # equal depth and priority: the group name sorting last wins
        ("priority-0", "a-user"),  # ansible_group_priority 10 beats the default 1
        ("depth-0", "middle-user"),  # depth is the longest path from `all`, not the nearest
        ("no-user", "heat-admin"),  # nothing in the inventory: the policy default
    ],
)
def test_user_precedence(precedence: Inventory, host: str, expected: str) -> None:
    """The user is the one ansible-core's ssh plugin would connect as, else the default."""
    user = resolve_user(precedence, precedence.hosts[host], override=None, default="heat-admin")
    assert user == expected


def test_user_override_wins(precedence: Inventory) -> None:
    """The policy's ssh.user overrides whatever the inventory says."""
    host = precedence.hosts["both-vars"]
    assert resolve_user(precedence, host, override="backup", default="heat-admin") == "backup"


def test_host_variables_merge_across_groups(precedence: Inventory) -> None:
    """A host listed in two groups merges its variables, the later listing winning."""
    host = precedence.hosts["tie-0"]
    assert dict(host.variables) == {"ansible_host": "192.0.2.6", "role": "beta"}
    assert host.groups == {"alpha", "beta"}


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("inherits-parent", "198.51.100.1"),  # ansible_host from a parent group's vars
        ("no-user", "no-user"),  # no ansible_host anywhere: the host name
        ("named-host", "ctl-9.ctlplane.example.lan"),  # a DNS name is a legal address
        ("ssh-host-wins", "192.0.2.8"),  # ansible_ssh_host is the last of the ssh plugin's vars
    ],
)
def test_address_resolution(precedence: Inventory, host: str, address: str | None) -> None:
    """The address is ansible_host (or ansible_ssh_host) from host or group vars, else the name."""
    assert precedence.hosts[host].address == address


# (7) undercloud


def test_undercloud_local_connection_has_no_address(train: Inventory) -> None:
    """Undercloud (ansible_connection local, ansible_host localhost) has no address."""
    undercloud = train.hosts["undercloud"]
    assert undercloud.connection == "local"
    assert undercloud.address is None
    assert undercloud.groups == {"Undercloud"}


# (8) malformed inputs


def test_every_problem_is_reported_at_once() -> None:
    """Each structural problem is one located line, all in one error, in file order."""
    path = fixture("malformed.yaml")
    assert problems_of("malformed.yaml") == [
        f"{path}:2:13: Controller.children: must be a mapping of group names to {{}}"
        " or to group definitions, found a list",
        f"{path}:4:10: overcloud_Controller.hosts: must be a mapping of host names to host"
        " variables, found a list",
        f"{path}:7:3: Compute.hostz: unknown key; a group has only hosts, children and vars",
        f"{path}:9:11: Database: must be a mapping with hosts, children or vars, found a list",
        f"{path}:12:27: Networker.hosts.net-0.ansible_host: must be a non-empty string,"
        " found an integer",
        f"{path}:13:12: Networker.hosts.net-1: must be a mapping of variable names to values,"
        " found a list",
        f"{path}:14:9: Networker.vars: must be a mapping of variable names to values,"
        " found a string",
        f"{path}:17:26: pacemaker.children.overcloud_pacemaker: group overcloud_pacemaker"
        " is defined nowhere (neither at the top level nor inline)",
        f"{path}:21:5: Messaging.hosts.msg-[0:2]: host ranges are not supported; list each host",
        f"{path}:22:33: Messaging.hosts.msg-9.ansible_connection: unsupported connection"
        " 'winrm'; known: local, paramiko, paramiko_ssh, smart, ssh",
        f"{path}:22:54: Messaging.hosts.msg-9.ansible_user: must be a non-empty string,"
        " found a list",
        f"{path}:24:17: Undercloud.vars.plans: must be a list of stack names, found a string",
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "not_a_mapping.yaml",
            "the inventory must be a mapping of group names to groups, found a list",
        ),
        ("empty.yaml", "the inventory must be a mapping of group names to groups, found nothing"),
    ],
)
def test_top_level_must_be_a_mapping(name: str, message: str) -> None:
    """A list or an empty file at the top level is reported at 1:1."""
    assert problems_of(name) == [f"{fixture(name)}:1:1: {message}"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1: {}\n", "inline.yaml:1:1: 1: group names must be strings"),
        ("G:\n  hosts:\n    7: {}\n", "inline.yaml:3:5: G.hosts.7: host names must be strings"),
        (
            "G:\n  vars: {ansible_host: ''}\n",
            "inline.yaml:2:24: G.vars.ansible_host: must be a non-empty string,"
            " found an empty string",
        ),
        (
            "Undercloud:\n  vars: {plan: [a]}\n",
            "inline.yaml:2:16: Undercloud.vars.plan: must be a stack name, found a list",
        ),
        (
            "G:\n  children: {G: {}}\n",
            "inline.yaml:2:17: G.children.G: children form a cycle: G -> G",
        ),
    ],
)
def test_single_problem_located(text: str, expected: str) -> None:
    """Less common mistakes each give one located problem."""
    with pytest.raises(InputError) as caught:
        parse_inventory(parse_yaml(text, "inline.yaml"))
    assert [str(problem) for problem in caught.value.problems] == [expected]


def test_deprecated_key_written_by_tripleo_is_accepted() -> None:
    """The `deprecated` key tripleo puts on a renamed overcloud group is not an error."""
    text = "cell1:\n  children: {}\novercloud:\n  children: {}\n  deprecated: Deprecated\n"
    inventory = parse_inventory(parse_yaml(text, "inline.yaml"))
    assert inventory.group_names() == {"cell1", "overcloud"}


def test_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    """A missing file is reported as a located problem, not a traceback."""
    missing = tmp_path / "absent.yaml"
    with pytest.raises(InputError) as caught:
        load_inventory(str(missing))
    assert str(caught.value).startswith(f"{missing}:1:1: cannot read file")


# (9) cycles


def test_cycle_in_children_is_reported() -> None:
    """A children loop is an input error located at the edge that closes it."""
    path = fixture("cycle.yaml")
    assert problems_of("cycle.yaml") == [
        f"{path}:11:17: pacemaker.children.Controller: children form a cycle:"
        " Controller -> overcloud_Controller -> pacemaker -> Controller"
    ]


def test_hosts_in_terminates_on_a_hand_built_cycle() -> None:
    """hosts_in visits each group once even if an Inventory was built with a loop."""
    empty: Mapping[str, object] = MappingProxyType({})
    groups = {
        "a": Group("a", ("h1",), ("b",), empty),
        "b": Group("b", ("h2",), ("a",), empty),
    }
    hosts = {name: Host(name, name, empty, frozenset({"a", "b"}), "ssh") for name in ("h1", "h2")}
    inventory = Inventory("hand", MappingProxyType(groups), MappingProxyType(hosts), ())
    assert names(inventory.hosts_in(["a"])) == ["h1", "h2"]


# (10) inline child group definitions (valid Ansible)


def test_inline_child_definition_merges_with_the_top_level_one() -> None:
    """A group defined inline under children and at the top level is one group, as in Ansible."""
    text = (
        "Controller:\n  children:\n    overcloud_Controller:\n"
        "      hosts: {ctl-0: {ansible_host: 192.0.2.10}}\n"
        "      vars: {ansible_ssh_user: heat-admin}\n"
        "overcloud_Controller:\n  hosts:\n    ctl-1: {ansible_host: 192.0.2.11}\n"
    )
    inventory = parse_inventory(parse_yaml(text, "inline.yaml"))
    assert names(inventory.hosts_in(["Controller"])) == ["ctl-0", "ctl-1"]
    assert inventory.groups["Controller"].children == ("overcloud_Controller",)
    assert {host.user for host in inventory.hosts_in(["Controller"])} == {"heat-admin"}


def test_inline_definitions_nest_and_need_no_top_level_entry() -> None:
    """Two inline levels resolve; the inline group exists without a top-level key."""
    text = (
        "pacemaker:\n  children:\n    Controller:\n      children:\n"
        "        overcloud_Controller:\n          hosts: {ctl-0: {}}\n"
    )
    inventory = parse_inventory(parse_yaml(text, "inline.yaml"))
    assert names(inventory.hosts_in(["pacemaker"])) == ["ctl-0"]
    assert inventory.hosts["ctl-0"].groups == {"pacemaker", "Controller", "overcloud_Controller"}


def test_inline_definition_is_checked_like_a_top_level_one() -> None:
    """A hostile host inside an inline definition is located at its key, inline path and all."""
    text = "pacemaker:\n  children:\n    Controller:\n      hosts: {'ctl;id': {}}\n"
    with pytest.raises(InputError) as caught:
        parse_inventory(parse_yaml(text, "inline.yaml"))
    (problem,) = caught.value.problems
    assert str(problem).startswith(
        "inline.yaml:4:15: pacemaker.children.Controller.hosts.ctl;id: not an RFC 1123 host name"
    )


# (11) excluded_overcloud (TripleO BlacklistedHostnames)


@pytest.mark.parametrize("stacks", [(), ("overcloud",)])
def test_excluded_hosts_are_never_returned_for_backup(stacks: tuple[str, ...]) -> None:
    """Members of excluded_overcloud are left out of hosts_in and listed by excluded_in."""
    inventory = load_inventory(fixture("excluded.yaml"), stacks)
    assert names(inventory.hosts_in(["Controller"])) == ["ctl-0", "ctl-1"]
    assert names(inventory.excluded_in(["Controller"])) == ["ctl-2"]
    assert names(inventory.hosts_in(["Compute"])) == []
    assert names(inventory.excluded_in(["Compute"])) == ["cmp-0"]
    assert inventory.excluded == {"ctl-2", "cmp-0"}


# (12) linear resolution


def hosts_text(count: int) -> str:
    """A merged-stack inventory of `count` controllers, as tripleo writes it (the benchmark's)."""
    from bench.inventory_bench import inventory_text

    return inventory_text(count)


@pytest.mark.timeout(120)
def test_hundred_thousand_hosts_parse_and_resolve() -> None:
    """100k hosts resolve (issue 8: 518 s, quadratic); no timing asserted, the timeout guards."""
    inventory = parse_inventory(parse_yaml(hosts_text(100_000), "big.yaml"))
    assert len(inventory.hosts_in(["pacemaker"])) == 100_000
    last = inventory.hosts["ctl-99999"]
    assert (last.address, last.user) == ("10.1.134.159", "tripleo-admin")


# (13) `barctl inventory` shows excluded hosts per plan


def run_inventory_command(
    tmp_path: Path, plans: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """`barctl inventory` over excluded.yaml with the given plans; exit code, stdout, stderr."""
    (tmp_path / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (tmp_path / "known_hosts").write_text("192.0.2.1 ssh-ed25519 AAAA\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"inventory: {{path: {fixture('excluded.yaml')}}}\n"
        "undercloud: {address: 192.0.2.1}\n"
        "backup_target: {nfs: {server: 192.0.2.250, export: /ctl_plane_backups}}\n"
        f"plans:\n{plans}"
        f"ssh: {{private_key: {tmp_path}/id_ed25519, known_hosts: {tmp_path}/known_hosts}}\n"
        f"state_directory: {tmp_path}/state\n"
    )
    code = cli.main(["-c", str(policy), "inventory"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_inventory_command_lists_excluded_hosts_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The plan shows its backed-up nodes, then its excluded ones, never as nodes."""
    plans = '  controlplane: {schedule: "30 2 * * sun", groups: [Controller]}\n'
    code, out, _ = run_inventory_command(tmp_path, plans, capsys)
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[1:3]] == ["ctl-0", "ctl-1"]
    assert lines[3] == (
        "  excluded (excluded_overcloud, TripleO BlacklistedHostnames), never backed up: ctl-2"
    )
    assert "NO NODE" not in out


def test_inventory_command_says_when_every_node_is_excluded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A disabled plan whose every host is excluded shows that there is nothing to back up."""
    plans = '  controlplane: {schedule: "30 2 * * sun", groups: [Compute], enabled: false}\n'
    code, out, _ = run_inventory_command(tmp_path, plans, capsys)
    assert code == 0
    assert out.splitlines()[1:3] == [
        "  excluded (excluded_overcloud, TripleO BlacklistedHostnames), never backed up: cmp-0",
        "  NO NODE TO BACK UP: every host of its groups is excluded",
    ]


def test_enabled_plan_with_every_node_excluded_is_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An enabled plan with nothing to back up fails at load, located at the plan, naming why."""
    plans = '  controlplane: {schedule: "30 2 * * sun", groups: [Compute]}\n'
    code, out, error = run_inventory_command(tmp_path, plans, capsys)
    assert (code, out) == (2, "")
    assert error == (
        f"{tmp_path}/policy.yaml:5:17: plans.controlplane: no node to back up:"
        " every host of Compute is excluded (cmp-0)\n"
    )
