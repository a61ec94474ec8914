"""The cluster's health around a node from one peer's view: cost flat in N, reasons precise."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from barctl.config.policy_sections import TimeoutsSection
from barctl.history.store import Store
from barctl.model import CommandResult, Node, NodeFacts
from barctl.outcome import RunOutcome, Trigger
from barctl.run import plan, plan_modes
from barctl.run.cluster_checks import ClusterChecks
from barctl.run.commands import RemoteCommand
from barctl.run.engine import Environment, Execution
from barctl.run.rear_config import RearTarget
from barctl.run.resolution import plan_timeouts
from barctl.run.steps import StepRecorder
from tests.fakes import FakeRunner, cluster_view, galera_lines, healthy_target, ok, unreachable

NOW = datetime(2026, 11, 30, 2, 30, tzinfo=timezone.utc)
TARGET = plan.BackupTarget(
    Node("backup-0", "198.18.1.9", "root"), "/backups", RearTarget("nfs", "198.18.1.9", "/backups")
)
READS = ("cluster_view", "galera_status")


def address(name: str) -> str:
    """The galera client address of lab-like node `nI`."""
    return f"198.18.2.{int(name[1:]) + 10}"


def crm_mon(names: list[str], states: dict[str, str]) -> str:
    """crm_mon XML in pacemaker 2.1.7's shape (tests/data/pacemaker) for members `names`."""
    nodes = []
    for name in names:
        online = str(states.get(name, "online") == "online").lower()
        nodes.append(
            f'<node name="{name}" id="{name}" online="{online}" standby="false" '
            'standby_onfail="false" maintenance="false" pending="false" unclean="false" '
            'shutdown="false" type="member"/>'
        )
    return (
        '<pacemaker-result api-version="2.30" request="crm_mon">\n<summary>\n'
        '<current_dc present="true" name="n0" with_quorum="true"/>\n'
        '<cluster_options maintenance-mode="false"/>\n</summary>\n'
        f"<nodes>{''.join(nodes)}</nodes>\n"
        '<status code="0" message="OK"/>\n</pacemaker-result>\n'
    )


@dataclass
class World:
    """N controllers, each a pacemaker member running galera; states changed by a test."""

    size: int
    pacemaker: dict[str, str] = field(default_factory=dict)
    galera: dict[str, str] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)

    @property
    def names(self) -> list[str]:
        """Node names in plan order."""
        return [f"n{index}" for index in range(self.size)]

    def members(self) -> list[str]:
        """Galera nodes in the primary component (online in pacemaker, not unreachable)."""
        return [n for n in self.names if self.pacemaker.get(n, "online") == "online"]

    def status(self, name: str) -> str:
        """What mysql prints on `name` for the galera status query."""
        members = self.members()
        state = self.galera.get(name, "Synced")
        return galera_lines(state, len(members), [f"{address(n)}:3306" for n in members])

    def answer(self, node: Node, command: RemoteCommand) -> CommandResult:
        """The node's answer to the three reads the checks make."""
        if node.name in self.unreachable:
            return unreachable()
        if command.name == "hiera_lookup":
            return ok(address(node.name) + "\n")
        if command.name == "galera_status":
            return ok(self.status(node.name))
        return ok(cluster_view(crm_mon(self.names, self.pacemaker), self.status(node.name)))

    def runner(self) -> FakeRunner:
        """A runner answering every read from this world, every change with success."""
        script = {name: self.answer for name in ("hiera_lookup", "galera_status", "cluster_view")}
        return FakeRunner({**healthy_target(), **script})  # type: ignore[dict-item]

    def nodes(self) -> dict[str, Node]:
        """The plan's nodes by name."""
        return {n: Node(n, f"198.18.1.{int(n[1:]) + 10}", "root") for n in self.names}

    def facts(self) -> dict[str, NodeFacts]:
        """Every node a pacemaker member with one galera bundle container."""
        return {
            n: NodeFacts((f"galera-bundle-podman-{n[1:]}",), True, pacemaker_name=n)
            for n in self.names
        }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty history with the run `RUN` started."""
    with Store.open(tmp_path / "history.db") as opened:
        opened.start_run("RUN", "controlplane", Trigger.MANUAL, NOW, 1)
        yield opened


def checks(world: World, store: Store, fake: FakeRunner, *, rolling: bool = True) -> ClusterChecks:
    """The checks of a run over `world`'s nodes through `fake`."""
    recorder = StepRecorder(store, fake, lambda: NOW, "RUN")
    nodes = world.nodes()
    return ClusterChecks(rolling, tuple(nodes), nodes, world.facts(), recorder, "pw", 10)


def rolling_run(world: World, store: Store, fake: FakeRunner) -> RunOutcome:
    """Walk the whole rolling plan of `world` through `fake`."""
    nodes = world.nodes()
    context = plan.Context("controlplane", "RUN", plan_timeouts(TimeoutsSection()), TARGET)
    built = plan_modes.build_rolling_plan(tuple(nodes.values()), world.facts(), context)
    environment = Environment(store, fake, lambda: NOW, threading.Event(), poll_seconds=0)
    return Execution(built, nodes, world.facts(), environment, password="pw").execute().outcome


@pytest.mark.parametrize("size", [3, 10])
def test_each_controller_costs_the_same_reads_whatever_the_cluster_size(
    size: int, tmp_path: Path
) -> None:
    """Two reads per controller at 3 and at 10 nodes (one check more first); hiera once each."""
    world = World(size)
    fake = world.runner()
    with Store.open(tmp_path / "history.db") as store:
        store.start_run("RUN", "controlplane", Trigger.MANUAL, NOW, 1)
        assert rolling_run(world, store, fake) is RunOutcome.SUCCESS
    reads = [name for name in fake.ran() if name in READS]
    # (peer view + own galera state) after each node, and before the first: each rejoin
    # check asked the next node to go out, so the check before it is not asked again.
    assert len(reads) == 2 + 2 * size
    assert fake.ran().count("hiera_lookup") == size


def test_the_node_that_is_out_is_never_asked_for_the_cluster_view(store: Store) -> None:
    """Around n1, crm_mon is asked of n2 (the next to go out), never of n1 itself."""
    world = World(3)
    fake = world.runner()
    checks(world, store, fake).health("n1")
    assert [(c.node, c.name) for c in fake.calls if c.name == "cluster_view"] == [
        ("n2", "cluster_view")
    ]


def test_a_peer_that_cannot_answer_has_left_and_the_next_peer_is_asked(store: Store) -> None:
    """n1 unreachable: n2 answers, and the run is told `peer n1 left the cluster`."""
    world = World(3, unreachable={"n1"})
    fake = world.runner()
    health = checks(world, store, fake).health("n0")
    assert health.peer_loss == "peer n1 left the cluster during the run"
    assert ("n2", "cluster_view") in fake.ran_on()


def test_a_peer_offline_in_the_answer_is_named_as_lost(store: Store) -> None:
    """The first peer answers that n2 is offline: n2 is named, n2 itself is not asked."""
    world = World(3, pacemaker={"n2": "offline"})
    fake = world.runner()
    assert checks(world, store, fake).health("n0").peer_loss == (
        "peer n2 left the cluster during the run"
    )
    assert ("n2", "cluster_view") not in fake.ran_on()


def test_offline_mode_names_the_node_still_offline(store: Store) -> None:
    """Offline rejoin: no peer watch; the cluster's view names the member not back yet."""
    world = World(3, pacemaker={"n2": "offline"})
    health = checks(world, store, world.runner(), rolling=False).health(None)
    assert health.peer_loss == ""
    assert "n2 is offline in pacemaker, not online" in health.problems
    assert "n2: not in galera's wsrep_incoming_addresses on n0" in health.problems
    assert "n0: galera cluster size 2 < 3" in health.problems


def test_the_judged_node_not_synced_is_named(store: Store) -> None:
    """n1 still Joining after its start: the reason names n1 and its galera state."""
    world = World(3, galera={"n1": "Joining: receiving State Transfer"})
    health = checks(world, store, world.runner()).health("n1")
    assert health.problems == ("n1: galera is Joining: receiving State Transfer, not Synced",)


def test_a_peer_not_synced_in_the_view_is_named(store: Store) -> None:
    """The answering peer's own galera state counts too: n2 Donor/Desynced is named."""
    world = World(3, galera={"n2": "Donor/Desynced"})
    health = checks(world, store, world.runner()).health("n1")
    assert health.problems == ("n2: galera is Donor/Desynced, not Synced",)


def test_a_member_missing_from_the_incoming_addresses_is_named(store: Store) -> None:
    """n0 out of galera's component while pacemaker still lists it: named by its address."""
    world = World(3)
    fake = world.runner()

    def two_members(node: Node, command: RemoteCommand) -> CommandResult:
        lines = galera_lines("Synced", 2, [f"{address('n1')}:3306", f"{address('n2')}:3306"])
        if command.name == "galera_status":
            return ok(lines)
        return ok(cluster_view(crm_mon(world.names, {}), lines))

    fake.script = {**fake.script, "cluster_view": two_members, "galera_status": two_members}
    health = checks(world, store, fake).health("n1")
    assert health.problems == (
        "n2: galera cluster size 2 < 3",
        "n0: not in galera's wsrep_incoming_addresses on n2",
        "n1: galera cluster size 2 < 3",
    )


def test_the_check_before_a_node_is_asked_when_no_rejoin_vouched_for_it(store: Store) -> None:
    """Galera without pacemaker (no rejoin wait): each node's check runs, galera judged."""
    world = World(3)
    fake = world.runner()
    facts = {n: NodeFacts((f"galera-bundle-podman-{n[1:]}",), False) for n in world.names}
    nodes = world.nodes()
    context = plan.Context("controlplane", "RUN", plan_timeouts(TimeoutsSection()), TARGET)
    built = plan_modes.build_rolling_plan(tuple(nodes.values()), facts, context)
    environment = Environment(store, fake, lambda: NOW, threading.Event(), poll_seconds=0)
    Execution(built, nodes, facts, environment, password="pw").execute()
    # Each check: the first other galera node's view, then the node's own state.
    asked = [c.node for c in fake.calls if c.name == "galera_status"]
    assert asked == ["n1", "n0", "n0", "n1", "n0", "n2"]


def test_the_rejoin_view_comes_from_the_next_node_to_go_out(store: Store) -> None:
    """Asked in turn: the members after the node, then those before it; alone, itself."""
    assert ClusterChecks.askers(["n0", "n1", "n2", "n3"], "n2") == ["n3", "n0", "n1"]
    assert ClusterChecks.askers(["n0"], "n0") == ["n0"]
    assert ClusterChecks.askers(["n0", "n1"], None) == ["n0", "n1"]
