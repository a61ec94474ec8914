"""The gate's verdicts and reasons: membership by pacemaker name, states, no repeated names."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from barctl.console import report
from barctl.model import CommandResult, Node, NodeFacts
from barctl.reasons import Reason
from barctl.run import cluster, gate, gate_probe
from barctl.run.commands import RemoteCommand
from barctl.run.remote import Session, SessionPool
from tests.fakes import FakeRunner, ok, unreachable

SAMPLE = (
    Path(__file__).resolve().parent.parent / "data" / "pacemaker" / "crm_mon-2.1.7.xml"
).read_text()
GALERA = "wsrep_local_state_comment\tSynced\nwsrep_cluster_size\t3\n"


def crm_mon(states: Mapping[str, str] | None = None, quorum: bool = True) -> str:
    """The real 2.1.7 sample with cluster01/cluster02 renamed, and flags set per `states`."""
    names = {"cluster01": "overcloud-controller-0", "cluster02": "overcloud-controller-1"}
    text = SAMPLE.replace('with_quorum="true"', f'with_quorum="{str(quorum).lower()}"')
    for old, new in names.items():
        text = text.replace(f'"{old}"', f'"{new}"')
    for name, flag in (states or {}).items():
        start = text.index(f'<node name="{name}"')
        end = text.index(">", start)
        element = text[start:end].replace(f' {flag}="false"', f' {flag}="true"', 1)
        text = text[:start] + element + text[end:]
    return text


def answers(node: Node, extra: Mapping[str, CommandResult]) -> FakeRunner:
    """A healthy galera controller's answers by command name, with `extra` overriding."""
    script: dict[tuple[str, str] | str, CommandResult] = {
        "node_name": ok(node.name),
        "rear_version": ok("Relax-and-Recover 2.6"),
        "container_names": ok("galera-bundle-podman-0\nkeystone\n"),
        "hiera_lookup": ok("secret\n"),
        "galera_status": ok(GALERA),
        "database_names": ok("keystone\n"),
        "database_accounts": ok("root\tlocalhost\n"),
        **extra,
    }
    return FakeRunner(script)


def probe(
    name: str, groups: frozenset[str], **extra: CommandResult
) -> tuple[gate_probe.Probe, list[str]]:
    """Probe one fake node of a controlplane plan; the probe and the commands it ran."""
    node = Node(name, "198.18.0.10", "root", groups=groups)
    runner = answers(node, extra)
    result = gate_probe.probe_node(runner, node, pacemaker=True, timeout=5)
    return result, runner.ran()


PACEMAKER = frozenset({"Controller", "pacemaker"})


def verdict(*probes: gate_probe.Probe) -> gate.GateResult:
    """Evaluate plan node probes with a healthy target, for a controlplane plan."""
    target = gate_probe.Probe("backup-0")
    return gate.GateResult(probes, target, gate.evaluate(probes, target, pacemaker=True))


def test_mapped_pacemaker_name_makes_a_member() -> None:
    """controller-0 answers `crm_node -n` with overcloud-controller-0: a member, mapped by name."""
    result, ran = probe(
        "controller-0",
        PACEMAKER,
        pacemaker_node_name=ok("overcloud-controller-0\n"),
        pacemaker_status=ok(crm_mon()),
    )
    assert result.facts.pacemaker_member and result.facts.pacemaker_name == "overcloud-controller-0"
    assert ran.index("pacemaker_node_name") < ran.index("pacemaker_status")
    assert verdict(result).passed


def test_standby_member_refuses_naming_the_state() -> None:
    """A controller in standby (real XML flag) refuses the run; the reason names standby once."""
    status = ok(crm_mon({"overcloud-controller-1": "standby"}))
    healthy, _ = probe(
        "controller-0",
        PACEMAKER,
        pacemaker_node_name=ok("overcloud-controller-0"),
        pacemaker_status=status,
    )
    standby, _ = probe(
        "controller-1",
        PACEMAKER,
        pacemaker_node_name=ok("overcloud-controller-1"),
        pacemaker_status=status,
    )
    result = verdict(healthy, standby)
    assert result.reasons() == {
        "controller-1": ["pacemaker node overcloud-controller-1 is standby, not online"]
    }


def test_maintenance_member_with_its_own_name_refuses() -> None:
    """Inventory name = pacemaker name: "pacemaker state is maintenance", node named once."""
    text = crm_mon({"overcloud-controller-0": "maintenance"})
    result, _ = probe(
        "overcloud-controller-0",
        PACEMAKER,
        pacemaker_node_name=ok("overcloud-controller-0"),
        pacemaker_status=ok(text),
    )
    assert list(gate.describe_problems(verdict(result))) == [
        "overcloud-controller-0: pacemaker state is maintenance, not online"
    ]


def test_group_member_whose_name_is_not_in_the_cluster_refuses() -> None:
    """A `pacemaker` group node whose pacemaker name pacemaker does not list refuses the run."""
    result, _ = probe(
        "controller-2",
        PACEMAKER,
        pacemaker_node_name=ok("controller-2"),
        pacemaker_status=ok(crm_mon()),
    )
    assert not result.facts.pacemaker_member
    assert verdict(result).reasons()["controller-2"] == [
        "pacemaker is not in the pacemaker cluster's node list"
    ]


def test_group_member_that_cannot_tell_its_name_refuses() -> None:
    """crm_node -n failing (controller down) on a `pacemaker` group node refuses, with the cause."""
    failed = CommandResult(
        102, "", "error: Could not connect to controller: Connection refused\n", 0.1
    )
    result, ran = probe("controller-0", PACEMAKER, pacemaker_node_name=failed)
    assert result.problem == (
        "cannot tell its pacemaker node name (crm_node -n): "
        "error: Could not connect to controller: Connection refused"
    )
    assert "pacemaker_status" not in ran and not verdict(result).passed


def test_node_without_pacemaker_outside_the_group_is_a_non_member() -> None:
    """crm_node missing (exit 127) on a node outside `pacemaker`: no member, no refusal."""
    missing = CommandResult(
        127, "", "timeout: failed to run command 'crm_node': No such file or directory", 0.1
    )
    result, ran = probe(
        "compute-0",
        frozenset({"Compute"}),
        pacemaker_node_name=missing,
        container_names=ok("nova_compute\n"),
    )
    assert not result.facts.pacemaker_member and result.pacemaker is None
    assert "pacemaker_status" not in ran and verdict(result).passed


def test_crm_mon_error_from_its_xml_is_the_reason() -> None:
    """crm_mon exit 102 with its error in the XML on stdout: that error is the node's reason."""
    stopped = (
        Path(__file__).resolve().parent.parent
        / "data"
        / "pacemaker"
        / "crm_mon-2.1.7-not-connected.xml"
    ).read_text()
    result, _ = probe(
        "c-0",
        PACEMAKER,
        pacemaker_node_name=ok("c-0"),
        pacemaker_status=CommandResult(102, stopped, "", 0.1),
    )
    assert verdict(result).reasons()["c-0"] == [
        "cannot read pacemaker status: "
        "crm_mon: Error: cluster is not available on this node; Not connected"
    ]


def test_standby_node_with_stopped_galera_names_both() -> None:
    """Standby stops galera there: mysql fails, and standby is still named for that node."""
    mysql_down = CommandResult(125, "", "Error: can only exec into running containers\n", 0.1)
    text = crm_mon({"overcloud-controller-0": "standby"})
    result, _ = probe(
        "controller-0",
        PACEMAKER,
        pacemaker_node_name=ok("overcloud-controller-0"),
        pacemaker_status=ok(text),
        galera_status=mysql_down,
    )
    assert verdict(result).reasons()["controller-0"] == [
        "pacemaker node overcloud-controller-0 is standby, not online",
        "mysql failed: Error: can only exec into running containers",
    ]


def test_joining_galera_reason_names_the_node_once() -> None:
    """ "controller-2: galera is Joining, not Synced", not "controller-2: controller-2: ..."."""
    galera = cluster.GaleraStatus("Joining", 3)
    probes = (
        gate_probe.Probe("controller-2", galera=galera),
        gate_probe.Probe("controller-0", galera=cluster.GaleraStatus("Synced", 3)),
    )
    text = report.gate_text(verdict(*probes))
    assert "  REFUSED  controller-2: galera is Joining, not Synced\n" in text
    assert "controller-2: controller-2" not in text


def test_unreadable_galera_state_is_printed_with_its_reason() -> None:
    """Galera state unreadable on every node: each node REFUSED with that reason, none "ok"."""
    unknown = cluster.parse_galera_status("")
    probes = tuple(gate_probe.Probe(f"ctl-{i}", galera=unknown) for i in range(3))
    text = report.gate_text(verdict(*probes))
    assert text.count("galera state could not be read") == 3
    assert "ok       ctl-" not in text


def test_a_node_with_several_reasons_is_printed_once() -> None:
    """One REFUSED line per node holding all of its reasons."""
    synced = cluster.GaleraStatus("Synced", 3)
    donor = gate_probe.Probe("ctl-1", galera=cluster.GaleraStatus("Donor/Desynced", 2))
    text = report.gate_text(
        verdict(
            gate_probe.Probe("ctl-0", galera=synced),
            donor,
            gate_probe.Probe("ctl-2", galera=synced),
        )
    )
    assert text.count("ctl-1") == 1
    assert (
        "REFUSED  ctl-1: galera is Donor/Desynced, not Synced; galera cluster size 2 < 3\n" in text
    )


def test_connection_dropped_mid_probe_is_a_reason_for_that_node() -> None:
    """EOFError from a session mid-probe (paramiko link loss) refuses that node, not the run."""

    class Healthy:
        """A session on which every read-only probe succeeds."""

        def run(self, command: object, on_line: object = None, abort: object = None) -> object:
            """Exit 0, no output, for each probe of the gate's probe script."""
            assert isinstance(command, RemoteCommand)
            return FakeRunner().run(Node("backup-0", "198.18.0.12", "root"), command)

    @contextmanager
    def opener(node: Node) -> Iterator[Session]:
        if node.name == "ctl-1":
            raise EOFError("Socket is closed")
        yield Healthy()  # type: ignore[misc]

    nodes = [Node("ctl-1", "198.18.0.11", "root")]
    with SessionPool(opener) as runner:
        result = gate.check(
            nodes,
            Node("backup-0", "198.18.0.12", "root"),
            "/backups",
            runner,
            pacemaker=False,
            timeout=5,
            max_parallel=2,
        )
    assert result.problems == (("ctl-1", "connection lost during probe: Socket is closed"),)
    assert result.reason_classes()["ctl-1"] is Reason.CONNECTION_LOST


def test_facts_of_a_member_carry_its_pacemaker_name() -> None:
    """GateResult.facts hands the probed pacemaker name to the plan and the engine."""
    result, _ = probe(
        "controller-1",
        PACEMAKER,
        pacemaker_node_name=ok("overcloud-controller-1"),
        pacemaker_status=ok(crm_mon()),
    )
    facts = verdict(result).facts()["controller-1"]
    assert facts.cluster_name("controller-1") == "overcloud-controller-1"
    assert NodeFacts().cluster_name("ctl-0") == "ctl-0"


def test_galera_node_without_accounts_refuses() -> None:
    """A galera member listing no database accounts refuses: its grants dump would be empty."""
    result, _ = probe(
        "overcloud-controller-0",
        PACEMAKER,
        pacemaker_node_name=ok("overcloud-controller-0\n"),
        pacemaker_status=ok(crm_mon()),
        database_accounts=ok(""),
    )
    assert result.problem == "galera lists no database accounts: the grants dump would be empty"
    assert not verdict(result).passed


def check(fake: FakeRunner, *, pacemaker: bool = False) -> gate.GateResult:
    """The gate over one plan node ctl-0 and the backup target, through `fake`."""
    return gate.check(
        [Node("ctl-0", "198.18.0.11", "root")],
        Node("backup-0", "198.18.0.12", "root"),
        "/backups",
        fake,
        pacemaker=pacemaker,
        timeout=5,
        max_parallel=2,
    )


def test_check_passes_when_every_node_and_the_target_answer() -> None:
    """Reachable node and target with the directory: the gate passes and ran only reads."""
    fake = answers(Node("ctl-0", "198.18.0.11", "root"), {})
    result = check(fake)
    assert result.passed and result.reason_classes() == {}
    assert {call.node for call in fake.calls} == {"ctl-0", "backup-0"}
    assert "directory_exists" in fake.ran("backup-0")


def test_check_refuses_an_unreachable_node_with_its_connect_reason() -> None:
    """A connect timeout is the node's whole reason, classed CONNECT_TIMEOUT; nothing more ran."""
    fake = FakeRunner({("ctl-0", "node_name"): unreachable(Reason.CONNECT_TIMEOUT)})
    result = check(fake)
    assert result.problems == (("ctl-0", "connect timeout"),)
    assert result.reason_classes() == {"ctl-0": Reason.CONNECT_TIMEOUT}
    assert fake.ran("ctl-0") == ["node_name"]


def test_check_refuses_an_unhealthy_cluster_as_unhealthy() -> None:
    """A standby controller refuses the run; its class is UNHEALTHY, not a command failure."""
    node = Node("ctl-0", "198.18.0.11", "root", groups=PACEMAKER)
    text = crm_mon({"overcloud-controller-0": "standby"})
    fake = answers(
        node,
        {"pacemaker_node_name": ok("overcloud-controller-0"), "pacemaker_status": ok(text)},
    )
    result = gate.check(
        [node],
        Node("backup-0", "198.18.0.12", "root"),
        "/backups",
        fake,
        pacemaker=True,
        timeout=5,
        max_parallel=2,
    )
    assert not result.passed
    assert result.reason_classes()["ctl-0"] is Reason.UNHEALTHY


def test_check_refuses_a_target_without_its_directory() -> None:
    """The target answers but lacks the export directory: refused for the target alone."""
    missing = CommandResult(1, "", "", 0.01)
    fake = answers(Node("ctl-0", "198.18.0.11", "root"), {"directory_exists": missing})
    result = check(fake)
    assert result.problems == (("backup-0", "no directory /backups: exit 1"),)
    assert result.reason_classes() == {"backup-0": Reason.COMMAND_FAILED}
