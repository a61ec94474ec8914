"""The gate (BZ#2077335): prove every node and the backup target reachable and healthy first.

The vendor role went on backing up controllers when one was unreachable, after it had already
taken others out of the cluster; its later fix only checked for cached Ansible facts
(docs/reference/tripleo.md). barctl opens a fresh SSH connection to every node of the plan and
to the backup target (through a `Runner`), authenticates, runs read-only probes, and refuses the
whole run if anything fails. Only read-only commands run here: the probes are `gate_probe`'s,
the verdict on them is this module's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from barctl.model import Node, NodeFacts
from barctl.reasons import Reason, root_cause
from barctl.run import cluster, rear_capability
from barctl.run.gate_election import ClusterQueryElection
from barctl.run.gate_probe import Probe, probe_node, probe_target, share_cluster_facts
from barctl.run.rear_config import RearSettings, RearTarget
from barctl.run.runner import Runner


@dataclass(frozen=True)
class GateResult:
    """Every probe, and the problems that refuse the run (node, reason)."""

    probes: tuple[Probe, ...]
    target: Probe
    problems: tuple[tuple[str, str], ...]

    @property
    def passed(self) -> bool:
        """True when nothing refuses the run."""
        return not self.problems

    def facts(self) -> dict[str, NodeFacts]:
        """Facts per plan node, for building the plan."""
        return {probe.node: probe.facts for probe in self.probes}

    def password(self) -> str:
        """The MySQL root password read from hiera on a database node (empty when none)."""
        return next((probe.password for probe in self.probes if probe.password), "")

    def reason_classes(self) -> dict[str, Reason]:
        """Each refusing node's root cause: its probe's own reason, else an unhealthy cluster."""
        own = {p.node: p for p in (*self.probes, self.target) if p.problem or p.setup_problems}
        found: dict[str, list[Reason]] = {}
        for node, text in self.problems:
            probe = own.get(node)
            reason = Reason.UNHEALTHY
            if probe is not None and probe.problem == text and probe.reason_class is not None:
                reason = probe.reason_class
            if probe is not None and text in probe.setup_problems:
                reason = Reason.CONFIGURATION
            found.setdefault(node, []).append(reason)
        return {node: root_cause(reasons) or Reason.UNHEALTHY for node, reasons in found.items()}

    def reasons(self) -> dict[str, list[str]]:
        """Each refusing node once, with all its reasons, in the order they were found."""
        grouped: dict[str, list[str]] = {}
        for node, reason in self.problems:
            grouped.setdefault(node, []).append(reason)
        return grouped


def _membership_reason(status: cluster.PacemakerStatus, node: str, name: str) -> str:
    """Why `node` (pacemaker name `name`) is not fit, from one node's view; "" when online."""
    if status.problem:
        return status.problem
    who = "pacemaker" if name == node else f"pacemaker node {name}"
    if name not in status.members:
        return f"{who} is not in the pacemaker cluster's node list"
    state = status.state(name)
    if state == cluster.ONLINE:
        return ""
    return (
        f"{who} is {state}, not online"
        if name != node
        else f"pacemaker state is {state}, not online"
    )


def _pacemaker_verdict(probes: Sequence[Probe]) -> list[tuple[str, str]]:
    """Each member judged by its own view and every readable view (doubt refuses).

    Cluster nodes that no plan node maps to are judged once, from the first readable view.
    """
    judged = [p for p in probes if p.pacemaker and (p.facts.pacemaker_member or p.pacemaker_group)]
    views = [p.pacemaker for p in judged if p.pacemaker is not None and not p.pacemaker.problem]
    problems: list[tuple[str, str]] = []
    for probe in judged:
        assert probe.pacemaker is not None
        problems += [(probe.node, reason) for reason in cluster.cluster_problems(probe.pacemaker)]
        name = probe.facts.cluster_name(probe.node)
        for view in (probe.pacemaker, *views):
            problems.append((probe.node, _membership_reason(view, probe.node, name)))
    mapped = {probe.facts.cluster_name(probe.node) for probe in judged}
    for view in views[:1]:
        for other in sorted(view.members - mapped):
            problems.append(("pacemaker", cluster.member_problem(view, other)))
    return [problem for problem in problems if problem[1]]


def _galera_verdict(probes: Sequence[Probe]) -> list[tuple[str, str]]:
    galera = [probe for probe in probes if probe.galera is not None]
    problems = []
    for probe in galera:
        assert probe.galera is not None
        problems += [
            (probe.node, reason) for reason in cluster.galera_reasons(probe.galera, len(galera))
        ]
    return problems


def evaluate(
    probes: Sequence[Probe], target: Probe, pacemaker: bool
) -> tuple[tuple[str, str], ...]:
    """Pure verdict: every unreachable or unhealthy node, and cluster-wide health problems.

    Each reason appears once per node, without the node's name in it (the report adds it).
    """
    # Membership first: a standby node's stopped galera is a consequence, standby the cause.
    problems = _pacemaker_verdict(probes) if pacemaker else []
    problems += [(probe.node, probe.problem) for probe in (*probes, target) if probe.problem]
    problems += [(probe.node, text) for probe in probes for text in probe.setup_problems]
    if pacemaker:
        problems += _galera_verdict(probes)
    return tuple(dict.fromkeys(problems))


@dataclass
class _NodeProber:
    """`probe_node` for each plan node, with the election of the node asked the cluster-wide
    galera queries (gate_election) shared between them."""

    runner: Runner
    pacemaker: bool
    timeout: int
    settings: Callable[[str], RearSettings] | None
    rear_target: RearTarget | None
    count: int
    election: ClusterQueryElection = field(init=False)

    def __post_init__(self) -> None:
        self.election = ClusterQueryElection(self.count)

    def probe(self, index: int, node: Node) -> Probe:
        """The probe of plan node number `index`."""
        try:
            return probe_node(
                self.runner,
                node,
                pacemaker=self.pacemaker,
                timeout=self.timeout,
                settings=self.settings(node.name) if self.settings is not None else None,
                target=self.rear_target,
                elect=lambda candidate: self.election.elect(index, candidate=candidate),
            )
        finally:
            self.election.withdraw(index)  # no-op once it reported; else later nodes would wait


def check(
    nodes: Sequence[Node],
    target_node: Node,
    target_directory: str,
    runner: Runner,
    *,
    pacemaker: bool,
    timeout: int,
    max_parallel: int,
    settings: Callable[[str], RearSettings] | None = None,
    min_free_bytes: int = 0,
    need: rear_capability.SpaceNeed | None = None,
    rear_target: RearTarget | None = None,
) -> GateResult:
    """Probe every node and the target in parallel (bounded); nothing here changes state.

    `settings` gives each node's ReaR settings (what its version must support);
    `min_free_bytes` is the target's floor (0: not measured), `need` what the next run writes;
    with `rear_target`, each node's local.conf must be the one rendered for it and the node must
    reach the target as ReaR will.
    """
    prober = _NodeProber(runner, pacemaker, timeout, settings, rear_target, len(nodes))
    # Submitted in plan order: the election relies on it (gate_election).
    with ThreadPoolExecutor(max_workers=max(1, max_parallel)) as pool:
        futures = [pool.submit(prober.probe, index, node) for index, node in enumerate(nodes)]
        target_future = pool.submit(
            probe_target, runner, target_node, target_directory, timeout, min_free_bytes, need
        )
        probes = share_cluster_facts([future.result() for future in futures])
        target = target_future.result()
    return GateResult(probes, target, evaluate(probes, target, pacemaker))


def describe_problems(result: GateResult) -> Iterator[str]:
    """One line per refusing node, naming it once, with all its reasons."""
    for node, reasons in result.reasons().items():
        yield f"{node}: {'; '.join(reasons)}"
