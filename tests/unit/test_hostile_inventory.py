"""Hostile and malformed inventories: each refused at load with its exact FILE:LINE:COL and key.

Issue 8: names, addresses and users carrying shell metacharacters, newlines, `..`, a leading `-`
or absurd lengths all passed `validate`, then reached lock file names and ReaR config lines.
Every case below was accepted (or reported elsewhere) by the code before this change.
"""

from __future__ import annotations

import pytest

from barctl.config.inventory import parse_inventory
from barctl.config.yamlsource import parse_yaml
from barctl.errors import InputError

FILE = "hostile.yaml"
LONG_NAME = "a" * 300
LONG_LABEL = "c" * 64
LONG_USER = "u" * 33


def host(name: str, variables: str = "{}") -> str:
    """One group G holding one host; the host's key is at 3:5."""
    return f"G:\n  hosts:\n    {name}: {variables}\n"


def host_variable(variable: str, value: str) -> str:
    """Host h of group G with one variable; the value starts at 3:{9 + len(variable) + 2}."""
    return f"G:\n  hosts:\n    h: {{{variable}: {value}}}\n"


def group_variable(variable: str, value: str) -> str:
    """Group G's vars with one variable; the value starts at 3:{5 + len(variable) + 2}."""
    return f"G:\n  vars:\n    {variable}: {value}\n"


def value_column(variable: str) -> int:
    return len("    h: {") + len(variable) + len(": ") + 1


def group_value_column(variable: str) -> int:
    return len("    ") + len(variable) + len(": ") + 1


HOST_NAMES = [
    ("command-substitution", '"controller-0$(id>x)`id>y`"'),
    ("backticks", '"ctl`id`"'),
    ("semicolon", '"ctl;reboot"'),
    ("pipe", '"ctl|sh"'),
    ("and-list", '"ctl&&id"'),
    ("redirection", '"ctl>x"'),
    ("glob", '"ctl*"'),
    ("space", '"ctl 0"'),
    ("newline", '"ctl\\nrm -rf /"'),
    ("tab", '"ctl\\t0"'),
    ("single-quote", '"ctl\'0"'),
    ("double-quote", "'ctl\"0'"),
    ("path-traversal", "x/../../../../tmp/victim"),
    ("dot-dot", '".."'),
    ("empty-label", "a..b"),
    ("leading-dash", '"-oProxyCommand=id"'),
    ("trailing-dash", "ctl-"),
    ("underscore", "ctl_0"),
    ("non-ascii", "контроллер-0"),
    ("300-characters", LONG_NAME),
    ("64-character-label", f"{LONG_LABEL}.example"),
]


@pytest.mark.parametrize(("name", "written"), HOST_NAMES, ids=[case[0] for case in HOST_NAMES])
def test_hostile_host_name_is_refused_at_its_key(name: str, written: str) -> None:
    """A host name that is not RFC 1123 is one problem located at the name itself."""
    text = host(written)
    shown = parse_yaml(text, FILE).data["G"]["hosts"]
    (actual,) = shown
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].startswith(f"{FILE}:3:5: G.hosts.{actual}: ")
    assert "host name" in problems[0] or "label" in problems[0]


VALUES = [
    # (case id, variable, YAML value, where: host or group, message fragment)
    ("address-semicolon", "ansible_host", '"192.0.2.1;id"', "host", "neither an IP address"),
    ("address-substitution", "ansible_host", '"$(id)"', "host", "neither an IP address"),
    ("address-leading-dash", "ansible_host", '"-oProxyCommand=id"', "host", "neither an IP"),
    ("address-space", "ansible_host", '"192.0.2.1 x"', "host", "neither an IP address"),
    ("address-newline", "ansible_host", '"192.0.2.1\\nid"', "host", "neither an IP address"),
    ("address-zone-index", "ansible_host", '"fe80::1%$(id)"', "host", "zone index"),
    ("address-in-group", "ansible_host", '"`id`"', "group", "neither an IP address"),
    ("ssh-host-backticks", "ansible_ssh_host", '"a`id`"', "host", "neither an IP address"),
    ("ssh-host-not-a-string", "ansible_ssh_host", "[192.0.2.1]", "host", "non-empty string"),
    ("user-semicolon", "ansible_user", '"root;id"', "host", "not a login name"),
    ("user-leading-dash", "ansible_user", '"-oProxyCommand=id"', "host", "not a login name"),
    ("user-substitution", "ansible_ssh_user", '"$(id)"', "group", "not a login name"),
    ("user-space", "ansible_user", '"heat admin"', "host", "not a login name"),
    ("user-newline", "ansible_user", '"heat-admin\\n"', "host", "not a login name"),
    ("user-upper-case", "ansible_user", "Root", "host", "not a login name"),
    ("user-33-characters", "ansible_user", LONG_USER, "host", "not a login name"),
    ("user-slash", "ansible_ssh_user", "../root", "host", "not a login name"),
    ("port-zero", "ansible_port", "0", "host", "port number 1..65535"),
    ("port-too-large", "ansible_port", "70000", "group", "port number 1..65535"),
    ("port-command", "ansible_ssh_port", '"22; id"', "host", "port number 1..65535"),
    ("port-boolean", "ansible_port", "true", "host", "port number 1..65535"),
    ("priority-word", "ansible_group_priority", "high", "group", "must be an integer"),
    ("ssh-port-list", "ansible_ssh_port", "[22]", "host", "port number 1..65535"),
]


@pytest.mark.parametrize(
    ("variable", "written", "where", "fragment"),
    [case[1:] for case in VALUES],
    ids=[case[0] for case in VALUES],
)
def test_hostile_value_is_refused_at_the_value(
    variable: str, written: str, where: str, fragment: str
) -> None:
    """Each string barctl uses from an inventory is checked where it is written."""
    if where == "host":
        text, column, path = host_variable(variable, written), value_column(variable), "G.hosts.h"
    else:
        text, column, path = (
            group_variable(variable, written),
            group_value_column(variable),
            "G.vars",
        )
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].startswith(f"{FILE}:3:{column}: {path}.{variable}: ")
    assert fragment in problems[0]


GROUP_NAMES = [
    ("group-slash", '"G/../../x"'),
    ("group-newline", '"G\\nx"'),
    ("group-leading-dash", '"-G"'),
    ("group-semicolon", '"G;id"'),
]


@pytest.mark.parametrize(
    ("written"), [case[1] for case in GROUP_NAMES], ids=[case[0] for case in GROUP_NAMES]
)
def test_hostile_group_name_is_refused_at_its_key(written: str) -> None:
    """Group names may hold letters, digits, '_' and '-' only."""
    text = f"{written}:\n  hosts:\n    h: {{}}\n"
    (actual,) = parse_yaml(text, FILE).data
    problems = problems_of(text)
    assert problems == [
        f"{FILE}:1:1: {actual}: group name {actual!r} must be 1 to 255 letters, digits, '_'"
        " or '-', not starting with '-'"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "G:\n  hosts:\n    ctl-0: {ansible_host: 127.0.0.1}\n",
            f"{FILE}:3:27: G.hosts.ctl-0.ansible_host: 127.0.0.1 is this machine's loopback,"
            " unreachable as host ctl-0 over ssh",
        ),
        (
            "G:\n  hosts:\n    ctl-0: {ansible_host: '::1', ansible_connection: ssh}\n",
            f"{FILE}:3:27: G.hosts.ctl-0.ansible_host: ::1 is this machine's loopback,",
        ),
        (
            "G:\n  hosts:\n    ctl-0: {}\n  vars:\n    ansible_host: localhost\n",
            f"{FILE}:5:19: G.vars.ansible_host: localhost is this machine's loopback,",
        ),
        (
            "G:\n  hosts:\n    ctl-0: {ansible_host: 127.9.9.9}\n",
            f"{FILE}:3:27: G.hosts.ctl-0.ansible_host: 127.9.9.9 is this machine's loopback,",
        ),
    ],
    ids=["ipv4", "ipv6-explicit-ssh", "localhost-from-group", "other-loopback"],
)
def test_loopback_address_on_an_ssh_host_is_refused(text: str, expected: str) -> None:
    """A controller at 127.0.0.1 was silently sent to the undercloud's address; now an error."""
    (problem,) = problems_of(text)
    assert problem.startswith(expected)


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        (
            "{ansible_host: 192.0.2.99}",
            f"{FILE}:6:27: B.hosts.ctl-0.ansible_host: host ctl-0 already has ansible_host"
            " '192.0.2.10' at line 3 (A.hosts.ctl-0.ansible_host)",
        ),
        (
            "{ansible_user: stack}",
            f"{FILE}:6:27: B.hosts.ctl-0.ansible_user: host ctl-0 already has ansible_user"
            " 'heat-admin' at line 3 (A.hosts.ctl-0.ansible_user)",
        ),
    ],
    ids=["address", "user"],
)
def test_host_listed_twice_with_two_values_is_refused(second: str, expected: str) -> None:
    """The second of two different values is the error, naming the first's line."""
    text = (
        "A:\n  hosts:\n    ctl-0: {ansible_host: 192.0.2.10, ansible_user: heat-admin}\n"
        f"B:\n  hosts:\n    ctl-0: {second}\n"
    )
    (problem,) = problems_of(text)
    assert problem.startswith(expected)


def test_group_defined_twice_with_two_users_is_refused() -> None:
    """An inline and a top-level definition of one group may not disagree on a user."""
    text = (
        "Controller:\n  children:\n    overcloud_Controller:\n"
        "      vars: {ansible_ssh_user: heat-admin}\n"
        "overcloud_Controller:\n  hosts: {ctl-0: {}}\n  vars: {ansible_ssh_user: stack}\n"
    )
    (problem,) = problems_of(text)
    assert problem == (
        f"{FILE}:7:28: overcloud_Controller.vars.ansible_ssh_user: group overcloud_Controller"
        " already has ansible_ssh_user 'heat-admin' at line 4"
        " (Controller.children.overcloud_Controller.vars.ansible_ssh_user);"
        " two different values are ambiguous"
    )


def test_hostile_stack_name_is_refused() -> None:
    """Stack names become group-name prefixes and policy keys: same rule as group names."""
    text = "Undercloud:\n  hosts: {undercloud: {}}\n  vars: {plan: 'overcloud;id'}\n"
    (problem,) = problems_of(text)
    assert problem.startswith(f"{FILE}:3:9: Undercloud.vars: stack group name 'overcloud;id'")


def test_every_hostile_value_is_reported_at_once() -> None:
    """Several hostile values give one located line each, in file order, in one error."""
    text = (
        "G:\n  hosts:\n"
        "    'ctl$(id)': {ansible_host: 192.0.2.1}\n"
        "    ctl-1: {ansible_host: '$(id)', ansible_user: 'root;id'}\n"
    )
    problems = problems_of(text)
    assert [problem.split(": ")[0:2] for problem in problems] == [
        [f"{FILE}:3:5", "G.hosts.ctl$(id)"],
        [f"{FILE}:4:27", "G.hosts.ctl-1.ansible_host"],
        [f"{FILE}:4:50", "G.hosts.ctl-1.ansible_user"],
    ]


def test_legal_values_pass() -> None:
    """FQDNs, IPv6 literals, dotted users, digit-string ports and repeated equal values pass."""
    text = (
        "G:\n  hosts:\n"
        "    ctl-0.example.lan: {ansible_host: '2001:db8::10', ansible_user: first.last}\n"
        "    ctl-1: {ansible_host: ctl-1.ctlplane.example.lan, ansible_port: '2222'}\n"
        "    Ctl-2: {ansible_host: 192.0.2.2, ansible_ssh_user: _svc-backup}\n"
        "H:\n  hosts:\n    ctl-1: {ansible_host: ctl-1.ctlplane.example.lan}\n"
    )
    inventory = parse_inventory(parse_yaml(text, FILE))
    assert inventory.hosts["ctl-0.example.lan"].address == "2001:db8::10"
    assert inventory.hosts["ctl-0.example.lan"].user == "first.last"
    assert inventory.hosts["ctl-1"].port == 2222
    assert inventory.hosts["Ctl-2"].user == "_svc-backup"
    assert inventory.hosts["ctl-1"].groups == {"G", "H"}


def problems_of(text: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        parse_inventory(parse_yaml(text, FILE))
    return [str(problem) for problem in caught.value.problems]


def test_all_digit_last_label_is_no_host_name() -> None:
    """`10.0.0.256` and `1.2.3` are neither IP literals nor RFC 1123 host names, in both files."""
    from barctl.config import names
    from barctl.config.policy_fields import check_host

    for value in ("10.0.0.256", "1.2.3"):
        assert names.address_problem(value) is not None
        with pytest.raises(ValueError, match="is not an IP address or host name"):
            check_host(value)
    assert names.address_problem("ctl-0.lab2") is None
    assert check_host("backup.example.com.") == "backup.example.com."
