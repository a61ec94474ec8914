"""The gate's one probe exec: the real script under bash here, and its reply parsed back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from barctl.model import CommandResult, Node
from barctl.reasons import Reason
from barctl.run import commands, probe_script
from barctl.run.commands import RemoteCommand
from tests.fakes import LocalRunner, lost

NODE = Node("ctl-0", "198.18.0.10", "root")
# A hostile local.conf: a line shaped like the reply's own section header, and no final newline.
FORGED = "S rear_version  0 \nBACKUP=NETFS\x01\nS node_name eA== 0 "


def run(*probes: RemoteCommand, stdin: str | None = None) -> dict[str, CommandResult]:
    """Run `probes` through the real script with bash, as the runner renders it; parse."""
    batch = probe_script.batch(probe_script.PROBE_NAME, probes, stdin)
    reply = LocalRunner().run(NODE, batch)
    assert reply.exit_code == 0, reply.stderr
    return probe_script.parse_reply(reply, [probe.name for probe in probes])


def probe(name: str, *argv: str, seconds: int = 5) -> RemoteCommand:
    """A read-only probe named `name`."""
    return RemoteCommand(name, argv, seconds)


def test_any_output_comes_back_whole_and_cannot_forge_another_probe() -> None:
    """A probe printing a fake section header and odd bytes returns exactly them; the next
    probe keeps its own exit code and stderr."""
    results = run(
        probe("read_file", "printf", "%s", FORGED),
        probe("rear_version", "sh", "-c", "echo 'no rear' >&2; exit 3"),
    )
    assert results["read_file"] == CommandResult(0, FORGED, "", 0.0)
    assert results["rear_version"] == CommandResult(3, "", "no rear\n", 0.0)


def test_the_option_file_reaches_every_probe_on_stdin_never_argv() -> None:
    """With stdin, each probe reads the whole option file; the password is in no argv word."""
    option_file = commands.mysql_option_file("s3cr et'$x")
    queries = (probe("galera_status", "cat"), probe("database_names", "cat"))
    batch = probe_script.batch(probe_script.DATABASE_PROBE_NAME, queries, option_file)
    assert not any("s3cr" in word for word in batch.argv)
    results = run(*queries, stdin=option_file)
    assert [result.stdout for result in results.values()] == [option_file, option_file]


def test_a_conditional_probe_runs_only_after_an_exit_zero() -> None:
    """crm_mon's place: skipped (absent from the results) after a failure, run after success."""
    results = run(
        probe("pacemaker_node_name", "false"),
        probe_script.conditional(probe("pacemaker_status", "echo", "xml")),
        probe("node_name", "true"),
        probe_script.conditional(probe("firmware", "echo", "ran")),
    )
    assert "pacemaker_status" not in results
    assert results["firmware"].stdout == "ran\n"


def test_each_probe_keeps_its_own_limit_and_a_missing_tool_is_127() -> None:
    """A probe over its limit ends with timeout's 124; an absent tool with 127 and the reason."""
    results = run(
        probe("pacemaker_node_name", "barctl-no-such-tool"),
        probe("container_names", "sleep", "5", seconds=1),
    )
    assert results["container_names"].timed_out
    assert results["pacemaker_node_name"].exit_code == 127
    assert "No such file" in results["pacemaker_node_name"].stderr


def test_a_probe_over_its_limit_stops_the_probes_after_it(tmp_path: Path) -> None:
    """A hung probe costs its own limit only: the probes after it do not run and fail saying so."""
    marker = tmp_path / "ran"
    started = time.monotonic()
    results = run(
        probe("node_name", "true"),
        probe("rear_version", "sleep", "30", seconds=1),
        probe("container_names", "touch", str(marker)),
    )
    assert time.monotonic() - started < 10
    assert results["node_name"].exit_code == 0
    assert results["rear_version"].timed_out
    assert not marker.exists()
    assert results["container_names"].exit_code != 0
    assert results["container_names"].stderr == probe_script.NOT_RUN_AFTER_TIMEOUT


def test_a_lost_connection_is_every_probe_s_answer() -> None:
    """The exec's own failure is the result of each probe (the node refused for it, as before)."""
    results = probe_script.parse_reply(lost(), ["node_name", "?pacemaker_status"])
    assert {result.reason for result in results.values()} == {Reason.CONNECTION_LOST}
    assert set(results) == {"node_name", "pacemaker_status"}


def test_a_truncated_reply_fails_the_probes_it_does_not_carry() -> None:
    """A reply cut mid-line (the script killed) keeps the whole lines only; the rest fail."""
    reply = CommandResult(137, "S node_name bmFtZQo= 0 \nS rear_version UmVs", "", 1.0)
    results = probe_script.parse_reply(reply, ["node_name", "rear_version"])
    assert results["node_name"].stdout == "name\n"
    assert results["rear_version"].exit_code == 137 and not results["rear_version"].ok


def test_a_state_changing_command_cannot_join_the_probe_script() -> None:
    """The gate is read-only: the batch refuses any command marked as changing state."""
    remove = RemoteCommand("remove_local_iso", ("rm", "-f", "/tmp/x.iso"), 5, True)
    with pytest.raises(ValueError, match="remove_local_iso"):
        probe_script.batch(probe_script.PROBE_NAME, (probe("node_name", "true"), remove))
