"""Policy file: strict models, defaults, and located `FILE:LINE:COL: key.path: message` errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from barctl.config.policy import (
    DEFAULT_POLICY_PATH,
    Policy,
    check_policy_against_inventory,
    effective_private_key,
    effective_runtime_directory,
    effective_state_directory,
    load_policy,
    load_policy_document,
    resolve_policy_path,
    split_listen,
)
from barctl.errors import InputError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "etc" / "barctl" / "policy.yaml"
MINIMAL = REPO / "tests" / "data" / "policy" / "minimal.yaml"

# A valid policy; cases replace numbered lines (1-based) to break it in one place.
BASE = (
    "inventory:",  # 1
    "  path: /home/stack/tripleo-inventory.yaml",  # 2
    "backup_target:",  # 3
    "  nfs:",  # 4
    "    server: 192.168.24.250",  # 5
    "    export: /ctl_plane_backups",  # 6
    "plans:",  # 7
    "  undercloud:",  # 8
    '    schedule: "30 1 * * *"',  # 9
    "  controlplane:",  # 10
    '    schedule: "30 2 * * sun"',  # 11
)
SFTP = (
    "  sftp:",
    "    host: 192.168.24.251",
    "    user: backup",
    "    path: /srv/backups",
)


def variant(changes: dict[int, tuple[str, ...]], append: tuple[str, ...] = ()) -> str:
    """BASE with line n replaced by changes[n] (several lines insert, none deletes)."""
    lines: list[str] = []
    for number, line in enumerate(BASE, start=1):
        lines.extend(changes.get(number, (line,)))
    return "\n".join((*lines, *append)) + "\n"


def after(number: int, *extra: str) -> dict[int, tuple[str, ...]]:
    """A change that keeps line `number` and inserts `extra` after it."""
    return {number: (BASE[number - 1], *extra)}


def problems_of(path: Path) -> list[str]:
    """The problem lines load_policy reports for `path` (fails when it loads)."""
    with pytest.raises(InputError) as caught:
        load_policy(path)
    return [str(problem) for problem in caught.value.problems]


MALFORMED = [
    # unknown keys at each level: reported at the key
    pytest.param(
        variant({}, ("colour: red",)),
        ["12:1: colour"],
        "unknown key 'colour'",
        id="unknown-top-level-key",
    ),
    pytest.param(
        variant(after(2, "  stack: [overcloud]")),
        ["3:3: inventory.stack"],
        "did you mean 'stacks'?",
        id="unknown-inventory-key",
    ),
    pytest.param(
        variant(after(6, "    options: rw")),
        ["7:5: backup_target.nfs.options"],
        "allowed here: export, server",
        id="unknown-nfs-key",
    ),
    pytest.param(
        variant(after(9, "    keep: 3")),
        ["10:5: plans.undercloud.keep"],
        "unknown key 'keep'",
        id="unknown-plan-key",
    ),
    pytest.param(
        variant(after(9, "    retention: {keep_last: 0}")),
        ["10:28: plans.undercloud.retention.keep_last"],
        "must be at least 1, got 0",
        id="retention-keeps-nothing",
    ),
    pytest.param(
        variant(after(11, "    timeouts:", "      rear_minutes: 30")),
        ["13:7: plans.controlplane.timeouts.rear_minutes"],
        "allowed here:",
        id="unknown-timeouts-key",
    ),
    pytest.param(
        variant({}, ("ssh:", "  host_key_polcy: strict")),
        ["13:3: ssh.host_key_polcy"],
        "did you mean 'host_key_policy'?",
        id="unknown-ssh-key-typo",
    ),
    pytest.param(
        variant(after(11, "  nightly:", '    schedule: "0 3 * * *"')),
        ["12:3: plans.nightly"],
        "unknown plan name 'nightly'",
        id="unknown-plan-name",
    ),
    # missing required keys: reported at the mapping that lacks them
    pytest.param(
        variant({1: (), 2: ()}),
        ["1:1: inventory"],
        "missing required key 'inventory'",
        id="missing-inventory-section",
    ),
    pytest.param(
        variant({2: ("  stacks: [overcloud]",)}),
        ["1:1: inventory.path"],
        "missing required key 'path'",
        id="missing-inventory-path",
    ),
    pytest.param(
        variant({6: ()}),
        ["4:3: backup_target.nfs.export"],
        "missing required key 'export'",
        id="missing-nfs-export",
    ),
    pytest.param(
        variant({7: (), 8: (), 9: (), 10: (), 11: ()}),
        ["1:1: plans"],
        "missing required key 'plans'",
        id="missing-plans",
    ),
    pytest.param(
        variant({7: ("plans: {}",), 8: (), 9: (), 10: (), 11: ()}),
        ["7:1: plans"],
        "at least one plan",
        id="no-plan-defined",
    ),
    # wrong types (strict: no coercion)
    pytest.param(
        variant({2: ("  path: 42",)}),
        ["2:9: inventory.path"],
        "expected a string, got the number 42",
        id="int-for-path",
    ),
    pytest.param(
        variant({}, ("ssh:", '  port: "22"')),
        ["13:9: ssh.port"],
        "expected an integer, got the string '22'",
        id="string-for-port",
    ),
    pytest.param(
        variant({}, ("ssh:", "  max_parallel: true")),
        ["13:17: ssh.max_parallel"],
        "expected an integer, got a boolean (true)",
        id="bool-for-int",
    ),
    pytest.param(
        variant(after(11, '    enabled: "yes"')),
        ["12:14: plans.controlplane.enabled"],
        "expected true or false",
        id="string-for-bool",
    ),
    pytest.param(
        variant(after(11, "    groups: Controller")),
        ["12:13: plans.controlplane.groups"],
        "expected a list",
        id="string-for-list",
    ),
    pytest.param(
        variant({}, ("ssh:",)),
        ["12:5: ssh"],
        "expected a mapping (key: value lines), got nothing (null)",
        id="empty-section",
    ),
    # duplicate keys (PyYAML would keep the last silently)
    pytest.param(
        variant(after(11, '    schedule: "0 4 * * sun"')),
        ["12:5: plans.controlplane.schedule"],
        "duplicate key (first at line 11)",
        id="duplicate-key",
    ),
    # YAML 1.1 traps
    pytest.param(
        variant({9: ("    schedule: 2:30",)}),
        ["9:15: plans.undercloud.schedule"],
        "base-60 number 150: quote times",
        id="sexagesimal-for-string",
    ),
    pytest.param(
        variant(after(11, "    jitter_seconds: 1:30")),
        ["12:21: plans.controlplane.jitter_seconds"],
        "base-60 number 90",
        id="sexagesimal-for-int",
    ),
    pytest.param(
        variant({}, ("ssh:", "  user: NO")),
        ["13:9: ssh.user"],
        "YAML 1.1 reads NO/yes/on/off as booleans: quote it",
        id="NO-for-string",
    ),
    pytest.param(
        variant({}, ("log:", "  format: off")),
        ["13:11: log.format"],
        "YAML 1.1 reads NO/yes/on/off as booleans: quote it",
        id="off-for-choice",
    ),
    pytest.param(
        variant(after(11, "    mode: 0700")),
        ["12:11: plans.controlplane.mode"],
        "octal number 448: quote it",
        id="octal-for-mode",
    ),
    pytest.param(
        variant({}, ("ssh:", "  port: 0022")),
        ["13:9: ssh.port"],
        "octal number 18",
        id="octal-for-int",
    ),
    pytest.param(
        variant({9: ("    schedule: */5 * * * *",)}), ["9:16"], "must be quoted", id="unquoted-star"
    ),
    # cron expressions
    pytest.param(
        variant({11: ('    schedule: "30 2 * * 0"',)}),
        ["11:15: plans.controlplane.schedule"],
        "use day names mon..sun: APScheduler 3 counts 0 as Monday, cron counts 0 as Sunday",
        id="dow-zero",
    ),
    pytest.param(
        variant({11: ('    schedule: "30 2 * * 1-5"',)}),
        ["11:15: plans.controlplane.schedule"],
        "use day names",
        id="dow-range",
    ),
    pytest.param(
        variant({11: ('    schedule: "30 2 * * */2"',)}),
        ["11:15: plans.controlplane.schedule"],
        "use day names",
        id="dow-step",
    ),
    pytest.param(
        variant({11: ('    schedule: "30 2 * * mon,3"',)}),
        ["11:15: plans.controlplane.schedule"],
        "use day names",
        id="dow-mixed",
    ),
    pytest.param(
        variant({11: ('    schedule: "30 2 * * sun?"',)}),
        ["11:15: plans.controlplane.schedule"],
        "'sun?' is not a number",
        id="dow-trailing-junk",
    ),
    pytest.param(
        variant({11: ('    schedule: "30 2 * jan-mar/2 sun"',)}),
        ["11:15: plans.controlplane.schedule"],
        "month field 'jan-mar/2'",
        id="month-name-with-step",
    ),
    pytest.param(
        variant({9: ('    schedule: "0 30 1 * * *"',)}),
        ["9:15: plans.undercloud.schedule"],
        "exactly 5 fields",
        id="cron-six-fields",
    ),
    pytest.param(
        variant({9: ('    schedule: "30 1 * *"',)}),
        ["9:15: plans.undercloud.schedule"],
        "got 4",
        id="cron-four-fields",
    ),
    pytest.param(
        variant({9: ('    schedule: "61 1 * * *"',)}),
        ["9:15: plans.undercloud.schedule"],
        "higher than the maximum value (59)",
        id="cron-minute-out-of-range",
    ),
    pytest.param(
        variant(after(9, "    timezone: Europe/Pariss")),
        ["10:15: plans.undercloud.timezone"],
        "unknown time zone 'Europe/Pariss'",
        id="bad-timezone",
    ),
    pytest.param(
        variant(after(9, "    jitter_seconds: -5")),
        ["10:21: plans.undercloud.jitter_seconds"],
        "must be at least 0, got -5",
        id="negative-jitter",
    ),
    pytest.param(
        variant(after(9, "    interval_seconds: 3600")),
        ["8:3: plans.undercloud"],
        "exactly one of schedule or interval_seconds, not both",
        id="schedule-and-interval",
    ),
    pytest.param(
        variant({9: ("    enabled: true",)}),
        ["8:3: plans.undercloud"],
        "not neither",
        id="no-schedule-nor-interval",
    ),
    pytest.param(
        variant({9: ("    interval_seconds: 0",)}),
        ["9:23: plans.undercloud.interval_seconds"],
        "must be at least 1",
        id="zero-interval",
    ),
    # backup target
    pytest.param(
        variant(after(6, *SFTP)),
        ["3:1: backup_target"],
        "exactly one of nfs or sftp, not both",
        id="nfs-and-sftp",
    ),
    pytest.param(
        variant({4: ("  node: 192.168.24.250",), 5: (), 6: ()}),
        ["3:1: backup_target"],
        "not neither",
        id="neither-nfs-nor-sftp",
    ),
    pytest.param(
        variant({4: SFTP, 5: ("    password: hunter2",), 6: ()}),
        ["8:5: backup_target.sftp.password"],
        "no longer used: ReaR uploads with root's SSH key on each node",
        id="inline-sftp-password",
    ),
    pytest.param(
        variant({6: ("    export: ctl_plane_backups",)}),
        ["6:13: backup_target.nfs.export"],
        "must be an absolute path",
        id="relative-export",
    ),
    pytest.param(
        variant({4: (*SFTP, "    password_file: /etc/barctl/sftp_password"), 5: (), 6: ()}),
        ["8:5: backup_target.sftp.password_file"],
        "a password would sit in lftp's argv (2.8) or in the ISO; remove the key",
        id="sftp-password-file-no-longer-used",
    ),
    pytest.param(
        variant({5: ("    server: nfs_server!",)}),
        ["5:13: backup_target.nfs.server"],
        "not an IP address or host name",
        id="bad-nfs-server",
    ),
    # plans
    pytest.param(
        variant(after(11, "    mode: parallel")),
        ["12:11: plans.controlplane.mode"],
        "expected 'rolling' or 'offline', got the string 'parallel'",
        id="bad-mode",
    ),
    pytest.param(
        variant(after(9, "    mode: offline")),
        ["10:5: plans.undercloud.mode"],
        "applies only to the controlplane plan",
        id="mode-on-undercloud",
    ),
    pytest.param(
        variant(after(11, "    groups: []")),
        ["12:13: plans.controlplane.groups"],
        "must not be empty",
        id="empty-groups",
    ),
    pytest.param(
        variant(after(11, '    groups: [Controller, ""]')),
        ["12:26: plans.controlplane.groups.1"],
        "must not be empty",
        id="empty-group-name",
    ),
    pytest.param(
        variant({}, ("ssh:", '  default_user: ""')),
        ["13:17: ssh.default_user"],
        "must not be empty",
        id="empty-default-user",
    ),
    pytest.param(
        variant(after(11, "    groups: [Controller, 7]")),
        ["12:26: plans.controlplane.groups.1"],
        "expected a string",
        id="int-group",
    ),
    # metrics, ssh, directories
    pytest.param(
        variant({}, ("metrics:", "  listen: 17643")),
        ["13:11: metrics.listen"],
        "expected a string",
        id="listen-without-host",
    ),
    pytest.param(
        variant({}, ("metrics:", '  listen: "localhost"')),
        ["13:11: metrics.listen"],
        "expected host:port",
        id="listen-without-port",
    ),
    pytest.param(
        variant({}, ("metrics:", '  listen: "::1:17643"')),
        ["13:11: metrics.listen"],
        "in brackets",
        id="listen-unbracketed-ipv6",
    ),
    pytest.param(
        variant({}, ("metrics:", '  listen: "bad_host:17643"')),
        ["13:11: metrics.listen"],
        "not an IP address or host name",
        id="listen-bad-host",
    ),
    pytest.param(
        variant({}, ("metrics:", '  listen: "[::1]:70000"')),
        ["13:11: metrics.listen"],
        "port must be 1-65535, got '70000'",
        id="listen-port-out-of-range",
    ),
    pytest.param(
        variant({}, ("ssh:", "  port: 0")),
        ["13:9: ssh.port"],
        "must be at least 1",
        id="ssh-port-zero",
    ),
    pytest.param(
        variant({}, ("ssh:", "  max_parallel: 0")),
        ["13:17: ssh.max_parallel"],
        "must be at least 1, got 0",
        id="max-parallel-zero",
    ),
    pytest.param(
        variant({}, ("ssh:", "  max_parallel: 65")),
        ["13:17: ssh.max_parallel"],
        "must be at most 64",
        id="max-parallel-too-high",
    ),
    pytest.param(
        variant({}, ("ssh:", "  host_key_policy: accept_new")),
        ["13:20: ssh.host_key_policy"],
        "expected 'strict' or 'accept-new'",
        id="host-key-policy-typo",
    ),
    pytest.param(
        variant({}, ("ssh:", "  connect_timeout_seconds: 0")),
        ["13:28: ssh.connect_timeout_seconds"],
        "must be at least 1",
        id="connect-timeout-zero",
    ),
    pytest.param(
        variant({}, ("state_directory: var/lib/barctl",)),
        ["12:18: state_directory"],
        "must be an absolute path",
        id="relative-state-directory",
    ),
    pytest.param(
        variant({}, ("daemon:", "  misfire_grace_seconds: -1")),
        ["13:26: daemon.misfire_grace_seconds"],
        "must be at least 1",
        id="negative-misfire-grace",
    ),
    # several problems: all reported, in file order
    pytest.param(
        variant(
            {
                2: ("  path: 42",),
                6: ("    export: relative",),
                9: ('    schedule: "0 1 * * 0"',),
                11: ('    schedule: "30 2 * * sun"', "    mode: parallel"),
            },
            ("ssh:", "  max_parallel: 0", "bogus: 1"),
        ),
        [
            "2:9: inventory.path",
            "6:13: backup_target.nfs.export",
            "9:15: plans.undercloud.schedule",
            "12:11: plans.controlplane.mode",
            "14:17: ssh.max_parallel",
            "15:1: bogus",
        ],
        "",
        id="many-problems-at-once",
    ),
    # whole-file problems
    pytest.param("", ["1:1"], "the policy file is empty", id="empty-file"),
    pytest.param("# nothing but a comment\n", ["1:1"], "empty", id="comment-only-file"),
    pytest.param(
        "- inventory\n- plans\n", ["1:1"], "must be a mapping of sections", id="top-level-list"
    ),
    pytest.param("just words\n", ["1:1"], "got a str", id="top-level-scalar"),
    pytest.param(
        b"inventory:\n  path: /home/st\xe4ck/inv.yaml\n", ["2:17"], "not UTF-8", id="non-utf8-file"
    ),
]


@pytest.mark.parametrize(("text", "expected", "fragment"), MALFORMED)
def test_malformed_policy_reports_exact_locations(
    tmp_path: Path, text: str | bytes, expected: list[str], fragment: str
) -> None:
    """Each malformed policy yields exactly the expected FILE:LINE:COL: key.path problems."""
    path = tmp_path / "policy.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    lines = problems_of(path)
    assert len(lines) == len(expected), "\n".join(lines)
    for line, prefix in zip(lines, expected):
        assert line.startswith(f"{path}:{prefix}:"), line
    assert any(fragment in line for line in lines), "\n".join(lines)


def test_base_of_malformed_cases_is_valid(tmp_path: Path) -> None:
    """The policy the malformed cases start from loads, so each case breaks exactly one thing."""
    path = tmp_path / "policy.yaml"
    path.write_text(variant({}), encoding="utf-8")
    assert isinstance(load_policy(path), Policy)


def test_missing_file_is_one_problem(tmp_path: Path) -> None:
    """A policy path that does not exist is one located problem, not a traceback."""
    path = tmp_path / "absent.yaml"
    assert problems_of(path) == [f"{path}:1:1: cannot read file: No such file or directory"]


def test_example_policy_validates() -> None:
    """etc/barctl/policy.yaml, the documented example with every key, is a valid policy."""
    policy = load_policy(EXAMPLE)
    assert policy.undercloud.address == "192.168.24.1"
    assert policy.plans.controlplane is not None
    assert policy.plans.controlplane.jitter_seconds == 600


def test_example_policy_mentions_every_key() -> None:
    """Every model field appears as a key (set or commented out) in the example policy."""
    text = EXAMPLE.read_text(encoding="utf-8")
    from barctl.config import policy as module

    models = [getattr(module, name) for name in dir(module)]
    fields = {
        name
        for model in models
        if isinstance(model, type) and issubclass(model, module._Model)
        for name in model.model_fields
    }
    missing = sorted(name for name in fields if f"{name}:" not in text)
    assert missing == []


def test_minimal_policy_fills_in_defaults() -> None:
    """The minimal policy loads, and every omitted key takes the design.md default."""
    policy = load_policy(MINIMAL)
    assert policy.inventory.path == Path("/home/stack/tripleo-inventory.yaml")
    assert policy.inventory.stacks == ()
    assert policy.undercloud.address is None
    assert policy.ssh.user is None
    assert policy.ssh.default_user == "heat-admin"
    assert policy.ssh.port == 22
    assert policy.ssh.private_key == Path("/etc/barctl/credentials/id_ed25519")
    assert policy.ssh.known_hosts == Path("/etc/barctl/known_hosts")
    assert policy.ssh.host_key_policy == "strict"
    assert (policy.ssh.connect_timeout_seconds, policy.ssh.max_parallel) == (10, 8)
    assert policy.backup_target.nfs is not None
    assert policy.backup_target.nfs.export == "/ctl_plane_backups"
    assert policy.backup_target.sftp is None
    assert policy.backup_target.node is None
    assert policy.state_directory == Path("/var/lib/barctl")
    assert policy.runtime_directory == Path("/run/barctl")
    assert policy.metrics.listen == "127.0.0.1:17643"
    assert policy.log.format == "auto"
    assert policy.daemon.misfire_grace_seconds == 21600
    assert policy.daemon.catch_up_window_seconds == 86400


def test_minimal_policy_plan_defaults() -> None:
    """Plan defaults: UTC, no jitter, enabled, rolling, groups by plan, design.md timeouts."""
    plans = load_policy(MINIMAL).plans
    assert plans.undercloud is not None
    assert plans.controlplane is not None
    assert plans.undercloud.groups == ("Undercloud",)
    assert plans.controlplane.groups == ("Controller",)
    assert plans.controlplane.mode == "rolling"
    for plan in (plans.undercloud, plans.controlplane):
        assert (plan.timezone, plan.jitter_seconds, plan.enabled) == ("UTC", 0, True)
        assert plan.interval_seconds is None
        timeouts = plan.timeouts
        assert (timeouts.command_seconds, timeouts.database_dump_seconds) == (300, 3600)
        assert (timeouts.rear_seconds, timeouts.rejoin_seconds) == (14400, 1800)
        assert timeouts.run_seconds == 43200
    assert [name for name, _ in plans.items()] == ["undercloud", "controlplane"]


def test_policy_is_frozen() -> None:
    """A loaded policy cannot be changed in place (it is shared by the daemon's threads)."""
    policy = load_policy(MINIMAL)
    with pytest.raises(ValueError, match="frozen"):
        policy.ssh.port = 2222  # type: ignore[misc]


def test_relative_inventory_path_is_resolved_against_policy_directory(tmp_path: Path) -> None:
    """inventory.path may be relative: it is stored absolute, relative to the policy's folder."""
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "policy.yaml"
    path.write_text(variant({2: ("  path: ../inventories/tripleo.yaml",)}), encoding="utf-8")
    assert load_policy(path).inventory.path == tmp_path / "inventories" / "tripleo.yaml"


def test_relative_inventory_path_without_a_file_is_rejected() -> None:
    """Validating data with no policy file behind it refuses a relative inventory path."""
    with pytest.raises(ValueError, match="absolute"):
        Policy.model_validate(
            {
                "inventory": {"path": "inv.yaml"},
                "backup_target": {"nfs": {"server": "nfs", "export": "/x"}},
                "plans": {"undercloud": {"schedule": "0 1 * * *"}},
            }
        )


def test_sftp_target_and_ipv6_listen_are_accepted(tmp_path: Path) -> None:
    """An sftp target (no password: root's key) and a bracketed IPv6 listen address load fine."""
    path = tmp_path / "policy.yaml"
    text = variant({4: SFTP, 5: (), 6: ()}, ("metrics:", '  listen: "[::1]:9100"'))
    path.write_text(text, encoding="utf-8")
    policy = load_policy(path)
    assert policy.backup_target.sftp is not None
    assert policy.backup_target.sftp.user == "backup"
    assert split_listen(policy.metrics.listen) == ("::1", 9100)


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        pytest.param("127.0.0.1:17643", ("127.0.0.1", 17643), id="ipv4"),
        pytest.param("[::]:1", ("::", 1), id="ipv6-any"),
        pytest.param(
            "backup-mon.ctlplane.localdomain:65535",
            ("backup-mon.ctlplane.localdomain", 65535),
            id="dns-name",
        ),
    ],
)
def test_split_listen_accepts_host_port(listen: str, expected: tuple[str, int]) -> None:
    """metrics.listen splits into host and port for IPv4, bracketed IPv6 and DNS names."""
    assert split_listen(listen) == expected


def test_unknown_inventory_groups_name_the_existing_groups(tmp_path: Path) -> None:
    """A plan group missing from the inventory is reported at its list item, with the groups."""
    path = tmp_path / "policy.yaml"
    path.write_text(variant(after(11, "    groups: [Controller, Databse]")), encoding="utf-8")
    policy, document = load_policy_document(path)
    known = ["Undercloud", "Controller", "Compute", "BackupNode", "Database"]
    problems = [str(problem) for problem in check_policy_against_inventory(policy, document, known)]
    assert problems == [
        f"{path}:12:26: plans.controlplane.groups.1: unknown inventory group 'Databse'; "
        "groups in the inventory: BackupNode, Compute, Controller, Database, Undercloud"
    ]


def test_unknown_default_group_points_at_the_plan(tmp_path: Path) -> None:
    """A defaulted group (not written in the file) missing from the inventory points at its plan."""
    path = tmp_path / "policy.yaml"
    path.write_text(variant({}), encoding="utf-8")
    policy, document = load_policy_document(path)
    problems = check_policy_against_inventory(policy, document, ["Controller"])
    assert [str(problem) for problem in problems] == [
        f"{path}:9:5: plans.undercloud.groups.0: unknown inventory group 'Undercloud'; "
        "groups in the inventory: Controller"
    ]


def test_known_inventory_groups_give_no_problem() -> None:
    """When the inventory defines every plan group there is nothing to report."""
    policy, document = load_policy_document(MINIMAL)
    assert check_policy_against_inventory(policy, document, {"Undercloud", "Controller"}) == []


@pytest.mark.parametrize(
    ("argument", "environ", "expected"),
    [
        pytest.param(
            "/srv/p.yaml", {"BARCTL_CONFIG": "/env.yaml"}, Path("/srv/p.yaml"), id="argument-wins"
        ),
        pytest.param(None, {"BARCTL_CONFIG": "/env.yaml"}, Path("/env.yaml"), id="environment"),
        pytest.param(None, {"BARCTL_CONFIG": ""}, DEFAULT_POLICY_PATH, id="empty-env-ignored"),
        pytest.param(None, {}, Path("/etc/barctl/policy.yaml"), id="default"),
    ],
)
def test_resolve_policy_path(argument: str | None, environ: dict[str, str], expected: Path) -> None:
    """-c/--config beats $BARCTL_CONFIG, which beats /etc/barctl/policy.yaml."""
    assert resolve_policy_path(argument, environ) == expected


def test_effective_paths_default_to_the_policy() -> None:
    """Without systemd's variables, directories and key come from the policy."""
    policy = load_policy(EXAMPLE)
    assert effective_state_directory(policy, {}) == Path("/var/lib/barctl")
    assert effective_runtime_directory(policy, {}) == Path("/run/barctl")
    assert effective_private_key(policy, {}) == Path("/etc/barctl/credentials/id_ed25519")


def test_effective_paths_prefer_systemd_variables(tmp_path: Path) -> None:
    """$STATE_DIRECTORY, $RUNTIME_DIRECTORY and $CREDENTIALS_DIRECTORY win over the policy."""
    path = tmp_path / "policy.yaml"
    path.write_text(variant({4: SFTP, 5: (), 6: ()}), encoding="utf-8")
    policy = load_policy(path)
    environ = {
        "STATE_DIRECTORY": "/var/lib/barctl-a:/var/lib/other",
        "RUNTIME_DIRECTORY": "/run/barctl-a",
        "CREDENTIALS_DIRECTORY": "/run/credentials/barctl.service",
    }
    assert effective_state_directory(policy, environ) == Path("/var/lib/barctl-a")
    assert effective_runtime_directory(policy, environ) == Path("/run/barctl-a")
    credentials = Path("/run/credentials/barctl.service")
    assert effective_private_key(policy, environ) == credentials / "ssh_key"
