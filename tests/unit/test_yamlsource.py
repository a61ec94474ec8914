"""The YAML loader's limits: every hostile or broken file is one located problem, quickly."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from barctl.config.inventory import load_inventory
from barctl.config.yamlsource import load_yaml, parse_yaml
from barctl.errors import InputError


def _nested(levels: int) -> str:
    return "a: " + "[" * levels + "]" * levels + "\n"


def _block(levels: int) -> str:
    lines = ["  " * level + f"k{level}:" for level in range(levels)]
    return "\n".join(lines) + "\n" + "  " * levels + "x: 1\n"


def _laughs(levels: int, key: str = "vars") -> str:
    """A "billion laughs" alias bomb: each level is a list of nine aliases to the previous."""
    lines = [f"{key}:", '  l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        aliases = ",".join([f"*l{level - 1}"] * 9)
        lines.append(f"  l{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"


DEEP_PATH = ".".join(["a", *["0"] * 63])
BLOCK_PATH = ".".join(f"k{level}" for level in range(64))

HOSTILE = [
    pytest.param("a:\n  b: x\x00y\n", "2:7: a.b: control character U+0000 (NUL)", id="nul"),
    pytest.param("a:\n  b: ding\x07\n", "2:10: a.b: control character U+0007 (BEL)", id="bel"),
    pytest.param("a: 1\n\x0c\nb: 2\n", "2:1: control character U+000C (form feed)", id="ff"),
    pytest.param("a:\n- x\n- \x1b[31m\n", "3:3: a.1: control character U+001B (ESC)", id="esc"),
    pytest.param("a: x\x7f\n", "1:5: a: control character U+007F (DEL)", id="del"),
    pytest.param("a: x\x85y\n", "1:5: a: control character U+0085 (NEL)", id="c1-nel"),
    pytest.param("a: \x9b\n", "1:4: a: control character U+009B", id="c1-csi"),
    pytest.param(_nested(500), f"1:67: {DEEP_PATH}: nested deeper than 64 levels", id="deep-flow"),
    pytest.param(
        _block(100), f"65:129: {BLOCK_PATH}: nested deeper than 64 levels", id="deep-block"
    ),
    pytest.param(
        _laughs(10),
        "8:7: vars.l6: aliases expand this value to more than 1000000 nodes",
        id="billion-laughs",
    ),
    pytest.param(
        "a: &a [1, *a]\n",
        "1:4: a: an alias at a.1 refers to this value from inside it (a cycle)",
        id="alias-cycle",
    ),
    pytest.param(
        "a: &a " + "[" * 40 + "1" + "]" * 40 + "\nb: " + "[" * 30 + "*a" + "]" * 30 + "\n",
        "1:4: a: aliases nest this value deeper than 64 levels (used at b" + ".0" * 30 + ")",
        id="alias-nesting",
    ),
    pytest.param(
        'a:\n  b: "abc\n  c: 1\nd: 2\n',
        "2:6: this quoted string is not closed (found unexpected end of stream at line 5,"
        " column 1)",
        id="unclosed-double-quote",
    ),
    pytest.param(
        "a:\n  b: 'abc\n  c: 1\n",
        "2:6: this quoted string is not closed (found unexpected end of stream at line 4,"
        " column 1)",
        id="unclosed-single-quote",
    ),
    pytest.param(
        "a:\n  b: [1, 2\n  c: 1\n",
        "2:6: this [ list is not closed (expected ',' or ']', but got ':' at line 3, column 4)",
        id="unclosed-bracket",
    ),
    pytest.param(
        "a:\n  b: {x: 1\n  c: 1\n",
        "2:6: this { mapping is not closed (expected ',' or '}', but got ':' at line 3, column 4)",
        id="unclosed-brace",
    ),
    pytest.param(
        "a:\n  b 1\n  c: 2\n",
        "3:4: mapping values are not allowed here (the value that begins at line 2, column 3 runs"
        " on to this line: is a ':' missing on line 2, or is this line indented too far?)",
        id="missing-colon",
    ),
    pytest.param(
        "a:\n  b: 1\n  - c\n",
        "3:3: while parsing a block mapping expected <block end>, but found '-'",
        id="list-item-in-mapping",
    ),
    pytest.param(
        "a:\n\tb: 1\n",
        "2:1: while scanning for the next token found character '\\t' that cannot start any token",
        id="tab-indent",
    ),
    pytest.param("a: 1\nb: 2\na: 3\n", "3:1: a: duplicate key (first at line 1)", id="duplicate"),
    pytest.param(
        "v: &v {x: 1}\nh:\n  <<: *v\n  y: 3\n  y: 4\n",
        "5:3: h.y: duplicate key (first at line 4)",
        id="duplicate-beside-merge",
    ),
]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("text", "expected"), HOSTILE)
def test_hostile_yaml_is_one_located_problem(text: str, expected: str) -> None:
    """Each hostile or broken document gives exactly one `f.yaml:LINE:COL: ...` problem."""
    with pytest.raises(InputError) as caught:
        parse_yaml(text, "f.yaml")
    lines = [str(problem) for problem in caught.value.problems]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"f.yaml:{expected}"), lines[0]


def test_merge_keys_are_merged_and_may_be_overridden() -> None:
    """`<<: *vars` brings the anchored keys in; a key written beside it wins."""
    document = parse_yaml("v: &v {x: 1, y: 2}\nh:\n  <<: *v\n  y: 3\n", "f.yaml")
    assert document.data["h"] == {"x": 1, "y": 3}
    assert document.locate(("h", "y")) == (4, 6)


def test_inventory_with_merge_keys_loads(tmp_path: Path) -> None:
    """An inventory whose hosts merge shared variables with `<<: *vars` loads as Ansible does."""
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "Controller:\n"
        "  hosts:\n"
        "    ctl-0: {<<: &common {ansible_ssh_user: heat-admin}, ansible_host: 192.0.2.10}\n"
        "    ctl-1:\n"
        "      <<: *common\n"
        "      ansible_host: 192.0.2.11\n",
        encoding="utf-8",
    )
    inventory = load_inventory(str(path))
    assert [host.address for host in inventory.hosts_in(["Controller"])] == [
        "192.0.2.10",
        "192.0.2.11",
    ]
    assert inventory.hosts["ctl-1"].variables["ansible_ssh_user"] == "heat-admin"


@pytest.mark.timeout(10)
def test_alias_bomb_in_inventory_vars_is_refused_quickly(tmp_path: Path) -> None:
    """A 10-level alias bomb in inventory vars is refused at its anchor, not expanded."""
    path = tmp_path / "inventory.yaml"
    path.write_text("Controller:\n  hosts: {ctl-0: {}}\n" + _laughs(10, "  vars"), encoding="utf-8")
    path.write_text(path.read_text().replace("\n  l", "\n    l"), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_inventory(str(path))
    assert str(caught.value) == (
        f"{path}:10:9: Controller.vars.l6: aliases expand this value to more than 1000000 nodes"
    )


@pytest.mark.timeout(10)
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO with no writer is refused at once (a plain open would block forever)."""
    fifo = tmp_path / "inventory.yaml"
    os.mkfifo(fifo)
    with pytest.raises(InputError) as caught:
        load_yaml(fifo)
    assert (
        str(caught.value)
        == f"{fifo}:1:1: not a regular file (a FIFO): give the path of a YAML file"
    )


@pytest.mark.timeout(10)
def test_device_directory_and_socket_are_refused(tmp_path: Path) -> None:
    """/dev/zero, a directory and a socket are each refused by kind, nothing read."""
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "socket"))
    try:
        for path, kind in (
            (Path("/dev/zero"), "a character device"),
            (tmp_path, "a directory"),
            (tmp_path / "socket", "a socket"),
        ):
            with pytest.raises(InputError) as caught:
                load_yaml(path)
            assert (
                str(caught.value)
                == f"{path}:1:1: not a regular file ({kind}): give the path of a YAML file"
            )
    finally:
        listener.close()


def test_file_over_the_size_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file larger than the cap is refused before parsing (cap lowered to keep the test small)."""
    monkeypatch.setattr("barctl.config.yamlsource.MAX_FILE_BYTES", 2 * 2**20)
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * (2 * 2**20) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_yaml(path)
    assert str(caught.value) == f"{path}:1:1: file is larger than 2 MiB"


def test_non_utf8_byte_is_located(tmp_path: Path) -> None:
    """A byte that is not UTF-8 is reported at its line and column."""
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(InputError) as caught:
        load_yaml(path)
    assert str(caught.value) == f"{path}:2:7: file is not UTF-8 text"
