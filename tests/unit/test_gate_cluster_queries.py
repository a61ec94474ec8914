"""The cluster-wide galera queries (database list, accounts) are asked of one node only."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path

from barctl.model import CommandResult, Node
from barctl.reasons import Reason
from barctl.run import gate
from barctl.run.gate_election import ClusterQueryElection
from tests.fakes import FakeRunner, ok, unreachable

# The real crm_mon 2.1.7 sample (tests/data/pacemaker) with its two nodes named c-0 and c-1.
XML = (
    (Path(__file__).resolve().parent.parent / "data" / "pacemaker" / "crm_mon-2.1.7.xml")
    .read_text()
    .replace('"cluster01"', '"c-0"')
    .replace('"cluster02"', '"c-1"')
)
GALERA = "wsrep_local_state_comment\tSynced\nwsrep_cluster_size\t2\n"
CLUSTER_WIDE = ("database_names", "database_accounts")
NODES = [
    Node(f"c-{index}", f"198.18.0.{10 + index}", "root", groups=frozenset({"pacemaker"}))
    for index in range(2)
]


def controllers(extra: Mapping[tuple[str, str] | str, CommandResult]) -> FakeRunner:
    """Two healthy galera controllers c-0 and c-1 and the target, `extra` overriding."""
    script: dict[tuple[str, str] | str, CommandResult] = {
        "rear_version": ok("Relax-and-Recover 2.6"),
        "container_names": ok("galera-bundle-podman-0\nkeystone\n"),
        "pacemaker_status": ok(XML),
        "hiera_lookup": ok("secret\n"),
        "galera_status": ok(GALERA),
        "database_names": ok("keystone\nnova\n"),
        "database_accounts": ok("root\tlocalhost\nnova\t%\n"),
    }
    for node in NODES:
        script[(node.name, "node_name")] = ok(node.name)
        script[(node.name, "pacemaker_node_name")] = ok(node.name)
    return FakeRunner({**script, **extra})


def check(fake: FakeRunner) -> gate.GateResult:
    """The control plane's gate over c-0, c-1 and backup-0 through `fake`."""
    target = Node("backup-0", "198.18.0.12", "root")
    return gate.check(NODES, target, "/backups", fake, pacemaker=True, timeout=5, max_parallel=4)


def asked(fake: FakeRunner) -> list[tuple[str, str]]:
    """(node, query) of every cluster-wide query the gate ran."""
    return [(node, name) for node, name in fake.ran_on() if name in CLUSTER_WIDE]


def test_first_galera_node_alone_lists_databases_and_accounts_for_every_node() -> None:
    """c-0 alone is asked the database list and accounts; c-1 its own state only; both get them."""
    fake = controllers({})
    result = check(fake)
    assert result.passed, result.problems
    assert asked(fake) == [("c-0", "database_names"), ("c-0", "database_accounts")]
    assert [node for node, name in fake.ran_on() if name == "galera_status"] in (
        ["c-0", "c-1"],
        ["c-1", "c-0"],
    )
    for facts in result.facts().values():
        assert facts.databases == ("keystone", "nova")
        assert facts.accounts == (("root", "localhost"), ("nova", "%"))


def test_unreachable_first_node_passes_the_queries_to_the_next_and_still_refuses() -> None:
    """c-0 cannot be reached: c-1 is asked instead, and the run is refused for c-0 as before."""
    fake = controllers({("c-0", "node_name"): unreachable(Reason.CONNECT_TIMEOUT)})
    result = check(fake)
    assert asked(fake) == [("c-1", "database_names"), ("c-1", "database_accounts")]
    assert result.reasons()["c-0"] == ["connect timeout"]
    assert result.facts()["c-1"].accounts == (("root", "localhost"), ("nova", "%"))


def test_no_accounts_on_the_node_asked_refuses_naming_it() -> None:
    """The one node asked lists no accounts: refused as before, naming that node."""
    fake = controllers({"database_accounts": ok("")})
    result = check(fake)
    assert result.reasons()["c-0"] == [
        "galera lists no database accounts: the grants dump would be empty"
    ]
    assert result.reason_classes()["c-0"] is Reason.UNHEALTHY
    assert asked(fake) == [("c-0", "database_names"), ("c-0", "database_accounts")]


def test_failing_database_list_on_the_node_asked_refuses_with_mysql_failed() -> None:
    """mysql failing on the chosen node's database list refuses it; no other node is asked."""
    broken = CommandResult(1, "", "ERROR 2002 (HY000): Can't connect to local server\n", 0.1)
    fake = controllers({("c-0", "database_names"): broken})
    result = check(fake)
    assert result.reasons()["c-0"] == [
        "mysql failed: ERROR 2002 (HY000): Can't connect to local server"
    ]
    assert {node for node, _ in asked(fake)} == {"c-0"}  # c-1 is not asked in its place


def test_a_later_candidate_waits_for_the_nodes_before_it() -> None:
    """Node 1 reporting first waits for node 0; node 0 dropping out makes node 1 the one."""
    election = ClusterQueryElection(3)
    answers: dict[int, bool] = {}
    waiter = threading.Thread(target=lambda: answers.update({1: election.elect(1, candidate=True)}))
    waiter.start()
    time.sleep(0.05)
    assert answers == {}  # node 0 has not reported yet
    election.withdraw(0)
    waiter.join(5)
    assert answers == {1: True}
    assert election.elect(2, candidate=True) is False
    assert election.elect(0, candidate=True) is False  # reported once: a withdrawal stands
