"""The gate (BZ#2077335): prove every node and the backup target reachable and healthy first.

The vendor role went on backing up controllers when one was unreachable, after it had already
taken others out of the cluster; its later fix only checked for cached Ansible facts
(tripleo.md §3). barctl opens a fresh SSH connection to every node of the plan and to the backup
target, authenticates, runs read-only probes, and refuses the whole run if anything fails.
Only read-only commands run here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from barctl import cluster, commands
from barctl.plan import UNDERCLOUD_DATABASE_CONTAINER, Node, NodeFacts
from barctl.remote import ConnectError, Opener, Session


@dataclass(frozen=True)
class Probe:
    """What the gate saw on one node."""

    node: str
    problem: str = ""
    facts: NodeFacts = field(default_factory=NodeFacts)
    pacemaker: cluster.PacemakerStatus | None = None
    galera: cluster.GaleraStatus | None = None
    password: str = field(default="", repr=False)


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


class _ProbeFailed(Exception):
    pass


def _checked(session: Session, command: commands.RemoteCommand, problem: str) -> str:
    result = session.run(command)
    if not result.ok:
        detail = result.stderr_tail().splitlines()[-1:] or [f"exit {result.exit_code}"]
        raise _ProbeFailed(f"{problem}: {detail[0]}")
    return result.stdout


def _database_facts(session: Session, container: str, timeout: int) -> tuple[str, str]:
    password = _checked(
        session, commands.hiera_lookup(commands.MYSQL_PASSWORD_KEY, timeout), "hiera failed"
    ).strip()
    if password in ("", "nil"):  # hiera prints nil for a missing key
        raise _ProbeFailed("no MySQL root password in hiera")
    status = _checked(session, commands.galera_status(container, password, timeout), "mysql failed")
    return password, status


def _accounts(text: str) -> tuple[tuple[str, str], ...]:
    pairs = (line.split("\t") for line in text.splitlines() if "\t" in line)
    return tuple((user, host) for user, host, *_ in pairs)


def probe_node(session: Session, *, pacemaker: bool, timeout: int) -> Probe:
    """Run the read-only probes of one plan node and collect its facts."""
    name = session.node.name
    try:
        _checked(session, commands.node_name(timeout), "shell failed")
        _checked(session, commands.rear_version(timeout), "rear not installed")
        names = _checked(session, commands.container_names(timeout), "podman failed").split()
        status = None
        if pacemaker:
            status = cluster.parse_pcs_status(
                _checked(session, commands.pcs_status(timeout), "pacemaker not running")
            )
        facts = NodeFacts(tuple(names), status is not None and name in status.members)
        container = facts.galera_container()
        if container is None and UNDERCLOUD_DATABASE_CONTAINER in names and not pacemaker:
            container = UNDERCLOUD_DATABASE_CONTAINER
        if container is None:
            return Probe(name, facts=facts, pacemaker=status)
        password, galera_text = _database_facts(session, container, timeout)
        databases = _checked(
            session, commands.database_names(container, password, timeout), "mysql failed"
        ).split()
        accounts = _accounts(
            _checked(
                session, commands.database_accounts(container, password, timeout), "mysql failed"
            )
        )
        facts = NodeFacts(facts.containers, facts.pacemaker_member, tuple(databases), accounts)
        galera = cluster.parse_galera_status(galera_text) if pacemaker else None
        return Probe(name, "", facts, status, galera, password)
    except _ProbeFailed as failure:
        return Probe(name, str(failure))


def probe_target(session: Session, directory: str, timeout: int) -> Probe:
    """The backup target answers SSH and has the directory ReaR writes into."""
    try:
        _checked(session, commands.node_name(timeout), "shell failed")
        _checked(
            session, commands.directory_exists(directory, timeout), f"no directory {directory}"
        )
    except _ProbeFailed as failure:
        return Probe(session.node.name, str(failure))
    return Probe(session.node.name)


def _guarded(node: Node, opener: Opener, work: Callable[[Session], Probe]) -> Probe:
    try:
        with opener(node) as session:
            return work(session)
    except ConnectError as error:
        return Probe(node.name, error.reason)


def evaluate(
    probes: Sequence[Probe], target: Probe, pacemaker: bool
) -> tuple[tuple[str, str], ...]:
    """Pure verdict: every unreachable or unhealthy node, and cluster-wide health problems."""
    problems = [(probe.node, probe.problem) for probe in (*probes, target) if probe.problem]
    if problems or not pacemaker:
        return tuple(problems)
    statuses = [probe.pacemaker for probe in probes if probe.pacemaker is not None]
    members = frozenset().union(*(status.members for status in statuses))
    for status in statuses[:1]:
        problems += [
            ("pacemaker", reason) for reason in cluster.pacemaker_problems(status, members)
        ]
    galera = [probe for probe in probes if probe.galera is not None]
    for probe in galera:
        assert probe.galera is not None
        for reason in cluster.galera_problems(probe.node, probe.galera, len(galera)):
            problems.append((probe.node, reason))
    return tuple(problems)


def run_gate(
    nodes: Sequence[Node],
    target_node: Node,
    target_directory: str,
    opener: Opener,
    *,
    pacemaker: bool,
    timeout: int,
    max_parallel: int,
) -> GateResult:
    """Probe every node and the target in parallel (bounded); nothing here changes state."""

    def node_work(session: Session) -> Probe:
        return probe_node(session, pacemaker=pacemaker, timeout=timeout)

    def target_work(session: Session) -> Probe:
        return probe_target(session, target_directory, timeout)

    with ThreadPoolExecutor(max_workers=max(1, max_parallel)) as pool:
        futures = [pool.submit(_guarded, node, opener, node_work) for node in nodes]
        target_future = pool.submit(_guarded, target_node, opener, target_work)
        probes = tuple(future.result() for future in futures)
        target = target_future.result()
    return GateResult(probes, target, evaluate(probes, target, pacemaker))


def describe_problems(result: GateResult) -> Iterator[str]:
    """One line per refusing problem, naming the node."""
    for node, reason in result.problems:
        yield f"{node}: {reason}"
