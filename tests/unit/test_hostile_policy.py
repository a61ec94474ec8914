"""Hostile and broken policies: every one refused at load, located `FILE:LINE:COL: key: message`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from barctl.config.policy import load_policy
from barctl.console import cli
from barctl.errors import InputError
from tests.cli_site import write_site

# Every string field of the policy, one per line; cases replace one value.
BASE = (
    "inventory:",
    "  path: /home/stack/inventory.yaml",
    "  stacks: [overcloud]",
    "undercloud:",
    "  address: 192.0.2.1",
    "  user: stack",
    "ssh:",
    "  user: heat-admin",
    "  default_user: heat-admin",
    "  private_key: /etc/barctl/id_ed25519",
    "  known_hosts: /etc/barctl/known_hosts",
    "backup_target:",
    "  sftp:",
    "    host: 192.0.2.250",
    "    user: backup",
    "    path: /srv/backups",
    "  node: backup-0",
    "plans:",
    "  controlplane:",
    '    schedule: "30 2 * * sun"',
    "    timezone: UTC",
    "    groups: [Controller]",
    "state_directory: /var/lib/barctl",
    "runtime_directory: /run/barctl",
    "metrics:",
    '  listen: "127.0.0.1:17643"',
)
# key path -> (line number, text before the value)
FIELDS = {
    "inventory.stacks.0": (3, "  stacks: ["),
    "undercloud.address": (5, "  address: "),
    "undercloud.user": (6, "  user: "),
    "ssh.user": (8, "  user: "),
    "ssh.default_user": (9, "  default_user: "),
    "backup_target.sftp.host": (14, "    host: "),
    "backup_target.sftp.user": (15, "    user: "),
    "backup_target.sftp.path": (16, "    path: "),
    "backup_target.node": (17, "  node: "),
    "plans.controlplane.groups.0": (22, "    groups: ["),
}
# Local file names may hold any character but a control character: they are never a shell word.
LOCAL_PATHS = {
    "inventory.path": (2, "  path: "),
    "ssh.private_key": (10, "  private_key: "),
    "ssh.known_hosts": (11, "  known_hosts: "),
    "state_directory": (23, "state_directory: "),
    "runtime_directory": (24, "runtime_directory: "),
}
METACHARACTERS = {
    "command-substitution": "x$(id>x)",
    "backticks": "x`id`",
    "semicolon": "x;reboot",
    "pipe": "x|sh",
    "single-quote": "x'y",
    "double-quote": 'x"y',
    "newline": "x\ny",
    "space": "x y",
    "leading-dash": "-oProxyCommand=id",
    "dot-dot": "..",
}


def policy_text(line: int, replacement: str) -> str:
    """BASE with line `line` (1-based) replaced."""
    lines = list(BASE)
    lines[line - 1] = replacement
    return "\n".join(lines) + "\n"


def cases() -> list[object]:
    """(text, line, column, key path) for every field and every hostile value."""
    params: list[object] = []
    for key_path, (line, before) in FIELDS.items():
        closing = "]" if before.endswith("[") else ""
        for name, value in METACHARACTERS.items():
            text = policy_text(line, before + json.dumps(value) + closing)
            params.append(
                pytest.param(text, line, len(before) + 1, key_path, id=f"{key_path}-{name}")
            )
    for key_path, (line, before) in LOCAL_PATHS.items():
        for name, value in (("newline", "/x\n/y"), ("nul", "/x\x00y"), ("escape", "/x\x1b[2J")):
            text = policy_text(line, before + json.dumps(value))
            params.append(
                pytest.param(text, line, len(before) + 1, key_path, id=f"{key_path}-{name}")
            )
    for key_path, line, before, value in (
        ("plans.controlplane.schedule", 20, "    schedule: ", "30 2 * * $(id)"),
        ("plans.controlplane.schedule", 20, "    schedule: ", "30 2 * * sun\nreboot"),
        ("plans.controlplane.timezone", 21, "    timezone: ", "../../etc/passwd"),
        ("plans.controlplane.timezone", 21, "    timezone: ", "UTC;id"),
        ("metrics.listen", 26, "  listen: ", "$(id):17643"),
        ("metrics.listen", 26, "  listen: ", "127.0.0.1:17643\n"),
        ("undercloud.address", 5, "  address: ", "fe80::1%$(id)"),
        ("undercloud.address", 5, "  address: ", "1.2.3"),
        ("backup_target.sftp.path", 16, "    path: ", "/srv/../etc"),
        ("backup_target.sftp.path", 16, "    path: ", "/srv//backups"),
        ("backup_target.sftp.path", 16, "    path: ", "/srv/-rf"),
        ("undercloud.user", 6, "  user: ", "Stack"),
        ("undercloud.user", 6, "  user: ", "a" * 33),
    ):
        text = policy_text(line, before + json.dumps(value))
        params.append(
            pytest.param(text, line, len(before) + 1, key_path, id=f"{key_path}-{value!r}")
        )
    return params


def test_base_policy_is_valid(tmp_path: Path) -> None:
    """The policy every hostile case starts from loads, so each case breaks exactly one value."""
    path = tmp_path / "policy.yaml"
    path.write_text(policy_text(1, BASE[0]))
    assert load_policy(path).backup_target.node == "backup-0"


@pytest.mark.parametrize(("text", "line", "column", "key_path"), cases())
def test_hostile_value_is_refused_at_its_location(
    tmp_path: Path, text: str, line: int, column: int, key_path: str
) -> None:
    """A shell metacharacter, control character or traversal in any field is one located problem."""
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_policy(path)
    lines = [str(problem) for problem in caught.value.problems]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}:{line}:{column}: {key_path}: "), lines[0]


# ---- the CLI: exit 2, located lines on stderr, never a traceback -------------------------------

VALID = """\
inventory:
  path: inventory.yaml
undercloud:
  address: 192.0.2.1
ssh:
  private_key: DIRECTORY/id_ed25519
  known_hosts: DIRECTORY/known_hosts
backup_target:
  sftp: {host: 192.0.2.250, user: backup, path: /srv/backups}
plans:
  undercloud: {schedule: "30 1 * * *"}
  controlplane: {schedule: "30 2 * * sun", groups: [Controller, Database]}
state_directory: DIRECTORY/state
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A directory with the train inventory, an SSH key and known_hosts."""
    return write_site(tmp_path)


def validate(site: Path, body: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Run `barctl validate` on `body`; assert exit 2 and no traceback; return stderr's lines."""
    path = site / "policy.yaml"
    path.write_text(body.replace("DIRECTORY", str(site)))
    assert cli.main(["-c", str(path), "validate"]) == cli.EXIT_USAGE
    error = capsys.readouterr().err
    assert "Traceback" not in error
    return [line.replace(str(site), "S") for line in error.splitlines()]


def test_valid_site_validates(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The site every CLI case starts from is valid."""
    (site / "policy.yaml").write_text(VALID.replace("DIRECTORY", str(site)))
    assert cli.main(["-c", str(site / "policy.yaml"), "validate"]) == 0
    assert "valid; plans: undercloud, controlplane" in capsys.readouterr().out


KEY_AT = "S/policy.yaml:6:16: ssh.private_key: S/id_ed25519:"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            (None, None), f"{KEY_AT} cannot be read: No such file or directory", id="missing"
        ),
        pytest.param(("", "dir"), f"{KEY_AT} is not a regular file (a directory)", id="directory"),
        pytest.param((b"caf\xe9\n", "bytes"), f"{KEY_AT} is not UTF-8 text", id="not-utf8"),
        pytest.param(("\n", "text"), f"{KEY_AT} is empty", id="empty"),
    ],
)
def test_unusable_private_key_is_located(
    site: Path,
    capsys: pytest.CaptureFixture[str],
    change: tuple[str | bytes | None, str | None],
    expected: str,
) -> None:
    """A missing, directory, non-UTF-8 or empty SSH key fails validate at its key."""
    content, kind = change
    key = site / "id_ed25519"
    key.unlink()
    if kind == "dir":
        key.mkdir()
    elif isinstance(content, bytes):
        key.write_bytes(content)
    elif kind == "text" and content is not None:
        key.write_text(content)
    assert validate(site, VALID, capsys) == [expected]


@pytest.mark.parametrize("key", ["password_file: DIRECTORY/password", "password: s3cret"])
def test_an_sftp_password_key_is_refused_as_no_longer_used(
    site: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    """SFTP logs in with root's key on each node: a password key is an error at that key."""
    body = VALID.replace("path: /srv/backups}", f"path: /srv/backups, {key}}}")
    name = key.split(":", maxsplit=1)[0]
    (line,) = validate(site, body, capsys)
    assert line.startswith("S/policy.yaml:9:")
    assert f": backup_target.sftp.{name}: no longer used: ReaR uploads with root's SSH key" in line
    assert line.endswith("a password would sit in lftp's argv (2.8) or in the ISO; remove the key")


def test_credential_from_systemd_is_named(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With $CREDENTIALS_DIRECTORY the problem says which systemd credential is unusable."""
    credentials = site / "credentials"
    credentials.mkdir()
    (credentials / "ssh_key").write_text("")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    assert validate(site, VALID, capsys) == [
        "S/policy.yaml:6:16: ssh.private_key: systemd credential ssh_key S/credentials/ssh_key:"
        " is empty"
    ]


def test_missing_known_hosts_is_located_in_both_modes(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing known_hosts fails validate, strict or accept-new."""
    (site / "known_hosts").unlink()
    expected = [
        "S/policy.yaml:7:16: ssh.known_hosts: S/known_hosts: cannot be read:"
        " No such file or directory"
    ]
    assert validate(site, VALID, capsys) == expected
    accept_new = VALID.replace("ssh:\n", "ssh:\n  host_key_policy: accept-new\n")
    assert validate(site, accept_new, capsys) == [expected[0].replace(":7:", ":8:")]


def test_empty_known_hosts_is_refused_only_in_strict_mode(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty known_hosts fails validate in strict mode and is the start of accept-new."""
    (site / "known_hosts").write_text("")
    assert validate(site, VALID, capsys) == [
        "S/policy.yaml:7:16: ssh.known_hosts: S/known_hosts: is empty"
    ]
    accept_new = VALID.replace("ssh:\n", "ssh:\n  host_key_policy: accept-new\n")
    (site / "policy.yaml").write_text(accept_new.replace("DIRECTORY", str(site)))
    assert cli.main(["-c", str(site / "policy.yaml"), "validate"]) == 0


def test_missing_undercloud_address_with_an_undercloud_plan(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An undercloud reached by ansible_connection local needs undercloud.address: located."""
    body = VALID.replace("undercloud:\n  address: 192.0.2.1\n", "undercloud:\n  user: stack\n")
    assert validate(site, body, capsys) == [
        "S/policy.yaml:4:3: undercloud.address: plan undercloud: undercloud has no SSH address"
        " (ansible_connection local): set undercloud.address"
    ]


def test_unknown_stack_is_located(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`stacks: [overcloud, edge9]` points at edge9 and lists the stacks found."""
    body = VALID.replace(
        "  path: inventory.yaml\n", "  path: inventory.yaml\n  stacks: [overcloud, edge9]\n"
    )
    lines = validate(site, body, capsys)
    assert len(lines) == 1
    assert lines[0].startswith(
        "S/policy.yaml:3:23: inventory.stacks.1: unknown stack 'edge9' in inventory"
    ), lines


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        pytest.param(
            (
                '{schedule: "30 1 * * *"}',
                '{schedule: "30 1 * * *", jitter_seconds: 100000000000000000000}',
            ),
            "S/policy.yaml:11:56: plans.undercloud.jitter_seconds: must be at most 86400,"
            " got 100000000000000000000",
            id="huge-jitter",
        ),
        pytest.param(
            ('{schedule: "30 1 * * *"}', "{interval_seconds: 1000000000000}"),
            "S/policy.yaml:11:34: plans.undercloud.interval_seconds: must be at most 31622400,"
            " got 1000000000000",
            id="huge-interval",
        ),
        pytest.param(
            ("ssh:\n", "ssh:\n  connect_timeout_seconds: 100000000000000000000\n"),
            "S/policy.yaml:6:28: ssh.connect_timeout_seconds: must be at most 300,"
            " got 100000000000000000000",
            id="huge-connect-timeout",
        ),
        pytest.param(
            ("backup_target:\n", "backup_target:\n  min_free_bytes: 100000000000000000000\n"),
            "S/policy.yaml:9:19: backup_target.min_free_bytes: must be at most 1125899906842624,"
            " got 100000000000000000000",
            id="huge-free-space-floor",
        ),
        pytest.param(
            ("plans:\n", "rear: {iso_file_size_limit_bytes: 100000000000000000000}\nplans:\n"),
            "S/policy.yaml:10:35: rear.iso_file_size_limit_bytes: must be at most"
            " 1125899906842624, got 100000000000000000000",
            id="huge-iso-size-limit",
        ),
        pytest.param(
            ("plans:\n", 'rear: {exclude: ["/data/\\x7f*"]}\nplans:\n'),
            "S/policy.yaml:10:18: rear.exclude.0: must not contain control characters (NUL,"
            " newline...), got '/data/\\x7f*'",
            id="delete-character-in-exclude",
        ),
        pytest.param(
            ('"30 1 * * *"', '"30 1 31 2 *"'),
            "S/policy.yaml:11:26: plans.undercloud.schedule: cron expression '30 1 31 2 *' never"
            " fires (no such day in those months); to stop a plan, set enabled: false",
            id="never-firing-cron",
        ),
        pytest.param(
            ('  undercloud: {schedule: "30 1 * * *"}', "  undercloud:"),
            "S/policy.yaml:11:14: plans.undercloud: a plan cannot be empty (null): remove the key,"
            " or keep the plan with enabled: false",
            id="null-plan",
        ),
    ],
)
def test_policy_values_refused_at_load(
    site: Path, capsys: pytest.CaptureFixture[str], replace: tuple[str, str], expected: str
) -> None:
    """Huge durations and byte counts, control characters, a never-firing cron and a null plan:
    each one located line, exit 2."""
    assert validate(site, VALID.replace(*replace), capsys) == [expected]


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("inventory", "expected"),
    [
        pytest.param(
            "fifo",
            "S/fifo:1:1: not a regular file (a FIFO): give the path of a YAML file",
            id="fifo",
        ),
        pytest.param(
            "/dev/zero",
            "/dev/zero:1:1: not a regular file (a character device): give the path of a YAML file",
            id="dev-zero",
        ),
        pytest.param(
            "bomb.yaml",
            "S/bomb.yaml:9:9: Controller.vars.l6: aliases expand this value to more than"
            " 1000000 nodes",
            id="alias-bomb",
        ),
        pytest.param(
            "nul.yaml",
            "S/nul.yaml:2:20: Controller.hosts.c.x: control character U+0000 (NUL) is not allowed;"
            " remove it",
            id="nul",
        ),
    ],
)
def test_hostile_inventory_file_is_refused_quickly(
    site: Path, capsys: pytest.CaptureFixture[str], inventory: str, expected: str
) -> None:
    """A FIFO, /dev/zero, an alias bomb or a NUL byte as the inventory: exit 2, never a hang."""
    os.mkfifo(site / "fifo")
    lines = [
        "Controller:",
        "  vars:",
        '    l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    lines += [f"    l{n}: &l{n} [{','.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 10)]
    (site / "bomb.yaml").write_text("\n".join(lines) + "\n")
    (site / "nul.yaml").write_text('Controller:\n  hosts: {c: {x: "a\x00"}}\n')
    assert validate(site, VALID.replace("path: inventory.yaml", f"path: {inventory}"), capsys) == [
        expected
    ]


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            "a: x\x07\n",
            "S/policy.yaml:1:5: a: control character U+0007 (BEL) is not allowed; remove it",
            id="bel",
        ),
        pytest.param(
            "a: " + "[" * 500 + "]" * 500 + "\n",
            "S/policy.yaml:1:67: a" + ".0" * 63 + ": nested deeper than 64 levels",
            id="deep-nesting",
        ),
        pytest.param(
            "inventory:\n  path: &l0 [a,a,a,a,a,a,a,a,a,a]\n"
            + "".join(f"  l{n}: &l{n} [{','.join([f'*l{n - 1}'] * 10)}]\n" for n in range(1, 10)),
            "S/policy.yaml:7:7: inventory.l5: aliases expand this value to more than 1000000 nodes",
            id="alias-bomb-in-policy",
        ),
    ],
)
def test_hostile_policy_file_exits_2_quickly(
    site: Path, capsys: pytest.CaptureFixture[str], body: str, expected: str
) -> None:
    """Control characters, deep nesting and an alias bomb in the policy: one line, exit 2."""
    assert validate(site, body, capsys) == [expected]


@pytest.mark.timeout(20)
def test_fifo_as_policy_does_not_hang(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A FIFO given as the policy is refused at once."""
    os.mkfifo(site / "policy-fifo")
    assert cli.main(["-c", str(site / "policy-fifo"), "validate"]) == cli.EXIT_USAGE
    assert capsys.readouterr().err == (
        f"{site}/policy-fifo:1:1: not a regular file (a FIFO): give the path of a YAML file\n"
    )
