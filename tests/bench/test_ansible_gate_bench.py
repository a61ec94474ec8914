"""bench/ansible_gate_bench.py's pure half: the inventory it hands Ansible, its lines, its skip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import ansible_gate_bench
from bench.ansible_fact_gate import (
    Measure,
    ansible_environment,
    count_exec_channels,
    summary_lines,
    write_inventory,
)

HOSTS = [("ctl-0", "198.18.7.10", 22), ("backup-0", "198.19.7.11", 2222)]


def test_inventory_names_lab_addresses_with_strict_host_keys(tmp_path: Path) -> None:
    """Each host is reached by lab address and port, with the lab key and known_hosts, strictly."""
    path = write_inventory(
        tmp_path / "inventory.json", HOSTS, "root", Path("/lab/id"), Path("/lab/known_hosts")
    )
    written = json.loads(path.read_text())["all"]
    assert written["hosts"] == {
        "ctl-0": {"ansible_host": "198.18.7.10", "ansible_port": 22},
        "backup-0": {"ansible_host": "198.19.7.11", "ansible_port": 2222},
    }
    assert written["vars"]["ansible_user"] == "root"
    assert written["vars"]["ansible_ssh_private_key_file"] == "/lab/id"
    options = written["vars"]["ansible_ssh_common_args"]
    assert "UserKnownHostsFile=/lab/known_hosts" in options
    assert "StrictHostKeyChecking=yes" in options and "=no" not in options


def test_inventory_refuses_an_address_outside_the_lab(tmp_path: Path) -> None:
    """An address outside 198.18.0.0/15 is refused before Ansible could contact it."""
    with pytest.raises(ValueError, match=r"ctl-9: 10\.0\.0\.5 is not a lab address"):
        write_inventory(
            tmp_path / "inventory.json",
            [("ctl-9", "10.0.0.5", 22)],
            "root",
            Path("/k"),
            Path("/h"),
        )


def test_environment_keeps_every_ansible_write_in_the_scratch_directory(tmp_path: Path) -> None:
    """Ansible's home, local temp and control sockets are in the scratch dir; key checking is on."""
    environment = ansible_environment(tmp_path, tripleo=False)
    for name in ("HOME", "ANSIBLE_HOME", "ANSIBLE_LOCAL_TEMP", "ANSIBLE_SSH_CONTROL_PATH_DIR"):
        assert Path(environment[name]).is_relative_to(tmp_path), name
    assert Path(environment["ANSIBLE_CONFIG"]).read_text() == ""
    assert environment["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert environment["ANSIBLE_PIPELINING"] == "False"
    assert "ANSIBLE_SSH_ARGS" not in environment


def test_tripleo_configuration_pipelines_but_keeps_host_key_checking(tmp_path: Path) -> None:
    """--tripleo-cfg turns pipelining on and sets TripleO's ssh_args, never disabling key checks."""
    environment = ansible_environment(tmp_path, tripleo=True)
    assert environment["ANSIBLE_PIPELINING"] == "True"
    assert "ControlPersist=30m" in environment["ANSIBLE_SSH_ARGS"]
    assert "StrictHostKeyChecking" not in environment["ANSIBLE_SSH_ARGS"]
    assert environment["ANSIBLE_HOST_KEY_CHECKING"] == "True"


def test_exec_channels_are_counted_per_host_from_the_verbose_output() -> None:
    """Every `<ADDRESS> SSH: EXEC` line (ssh or sftp) counts one channel for that address."""
    output = (
        "<198.18.7.10> ESTABLISH SSH CONNECTION FOR USER: root\n"
        "<198.18.7.10> SSH: EXEC ssh -C -o ControlMaster=auto 198.18.7.10 '/bin/sh -c ...'\n"
        "<198.18.7.10> SSH: EXEC sftp -b - -C -o ControlMaster=auto '[198.18.7.10]'\n"
        "<198.18.7.11> SSH: EXEC ssh -C 198.18.7.11 '/bin/sh -c ...'\n"
        "ctl-0 | SUCCESS => {\n"
    )
    assert count_exec_channels(output) == {"198.18.7.10": 2, "198.18.7.11": 1}


def test_summary_gives_medians_and_the_ratios_against_the_target() -> None:
    """The summary prints each tool's medians per host, and ansible/barctl against 3x."""
    measures = [
        Measure("barctl", 8, 10.0, 1.0, 5.0, True),
        Measure("barctl", 8, 12.0, 3.0, 7.0, True),
        Measure("barctl", 8, 30.0, 2.0, 6.0, True),
        Measure("ansible", 8, 36.0, 20.0, 12.0, True),
        Measure("barctl", 16, 10.0, 1.0, 5.0, True),
        Measure("ansible", 16, 20.0, 20.0, 5.0, False),
    ]
    assert summary_lines(measures, 10) == [
        "median of 3: barctl at 8: 12.00s wall, 200 ms client CPU per host,"
        " 600 ms node CPU per host (passed)",
        "median of 1: ansible at 8: 36.00s wall, 2000 ms client CPU per host,"
        " 1200 ms node CPU per host (passed)",
        "ratio ansible / barctl at 8: 3.00x wall (target >= 3x: met), 10.00x client CPU,"
        " 2.00x node CPU",
        "median of 1: barctl at 16: 10.00s wall, 100 ms client CPU per host,"
        " 500 ms node CPU per host (passed)",
        "median of 1: ansible at 16: 20.00s wall, 2000 ms client CPU per host,"
        " 500 ms node CPU per host (FAILED)",
        "ratio ansible / barctl at 16: 2.00x wall (target >= 3x: not met), 20.00x client CPU,"
        " 1.00x node CPU",
    ]


def test_without_ansible_the_bench_prints_a_skip_line_and_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No ansible-core in the venv and no --install: one SKIPPED line, exit 0, no lab started."""
    assert ansible_gate_bench.main(["--venv", str(tmp_path / "none"), "--quick"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ansible gate bench: SKIPPED, ansible-core is not installed in")
    assert "--install" in out and out.count("\n") == 1
