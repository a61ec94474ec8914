"""The gate's read-only probes of one node and of the backup target: what each one saw.

Every command here is read-only (commands_probe, and the galera queries of commands_services);
a node that cannot be reached, or whose probe fails, ends with its problem and reason, and
`gate.evaluate` judges the probes together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from barctl.model import CommandResult, Node, NodeFacts
from barctl.reasons import Reason
from barctl.run import (
    cluster,
    commands_probe,
    commands_rear,
    commands_services,
    gate_setup,
    probe_script,
    rear_capability,
)
from barctl.run.commands import RemoteCommand
from barctl.run.plan import UNDERCLOUD_DATABASE_CONTAINER
from barctl.run.rear_config import RearSettings, RearTarget
from barctl.run.remote import LOST_PREFIX
from barctl.run.runner import Runner

# The TripleO inventory's service group of the nodes that run pacemaker.
PACEMAKER_GROUP = "pacemaker"

# Told whether the node is a candidate for the cluster-wide queries; True: this node asks them.
Elect = Callable[[bool], bool]


def _ask_here(candidate: bool) -> bool:
    """A node probed alone asks the cluster-wide queries itself."""
    return candidate


@dataclass(frozen=True)
class Probe:
    """What the gate saw on one node.

    `problem` is set when the probe could not finish; what it learned before stays, so a
    standby controller whose galera is stopped is refused for standby, not only for mysql.
    `pacemaker_group` is whether the inventory puts the node in the `pacemaker` group.
    """

    node: str
    problem: str = ""
    facts: NodeFacts = field(default_factory=NodeFacts)
    pacemaker: cluster.PacemakerStatus | None = None
    galera: cluster.GaleraStatus | None = None
    password: str = field(default="", repr=False)
    pacemaker_group: bool = False
    # What `problem` means (barctl.reasons), stored with the node's refusal for metrics.
    reason_class: Reason | None = None
    # Why the node's ReaR set-up cannot run barctl's (rear_capability); the probe goes on.
    setup_problems: tuple[str, ...] = ()
    # The target's free bytes under its directory, when measured (df): kept in history.
    free_bytes: int | None = None
    # This node was asked the cluster's database list and accounts (gate_election).
    asked_cluster: bool = False


class _ProbeFailed(Exception):
    def __init__(
        self, problem: str, reason: Reason = Reason.COMMAND_FAILED, free_bytes: int | None = None
    ) -> None:
        super().__init__(problem)
        self.reason = reason
        self.free_bytes = free_bytes


def _detail(result: CommandResult) -> str:
    # crm_mon --output-as=xml writes its error into the XML on stdout, not on stderr.
    lines = result.stderr_tail().splitlines()[-1:] or [cluster.crm_mon_error(result.stdout)]
    return lines[0] or f"exit {result.exit_code}"


@dataclass(frozen=True)
class _Prober:
    """Read-only commands on one node through the runner; SSH failures end the probe."""

    runner: Runner
    node: Node
    timeout: int
    # Each probe's result out of the execs already run on the node (probe_script).
    results: dict[str, CommandResult] = field(default_factory=dict)

    def prefetch(
        self, name: str, probes: Sequence[RemoteCommand], stdin: str | None = None
    ) -> None:
        """Run `probes` as one exec (issue 12: one channel, not one per probe); `run` then
        answers each from the reply."""
        reply = self.runner.run(self.node, probe_script.batch(name, probes, stdin))
        self.results.update(probe_script.parse_reply(reply, [p.name for p in probes]))

    def run(self, command: RemoteCommand) -> CommandResult:
        """The result; a node that cannot be reached or kept ends the probe with its reason."""
        result = self.results.get(command.name) or self.runner.run(self.node, command)
        if result.unreachable:
            failure = result.failure
            assert failure is not None
            raise _ProbeFailed(failure.words, failure)
        if result.connection_lost:
            # The link went away after the connection was made: a reason for this node,
            # not an internal error of the whole run.
            detail = result.stderr_tail().splitlines()[-1:] or [""]
            detail_text = detail[0].removeprefix(LOST_PREFIX)
            problem = f"connection lost during probe: {detail_text}".rstrip(": ")
            raise _ProbeFailed(problem, Reason.CONNECTION_LOST)
        return result

    def checked(self, command: RemoteCommand, problem: str) -> str:
        """The command's stdout; its failure ends the probe with `problem`."""
        result = self.run(command)
        if not result.ok:
            raise _ProbeFailed(f"{problem}: {_detail(result)}")
        return result.stdout


def _database_facts(prober: _Prober, container: str) -> tuple[str, str]:
    timeout = prober.timeout
    lookup = prober.run(commands_probe.hiera_lookup(commands_probe.MYSQL_PASSWORD_KEY, timeout))
    password, problem = commands_probe.mysql_password(lookup)
    if problem:
        raise _ProbeFailed(problem)
    status = prober.checked(
        commands_services.galera_status(container, password, timeout), "mysql failed"
    )
    return password, status


def _accounts(text: str) -> tuple[tuple[str, str], ...]:
    pairs = (line.split("\t") for line in text.splitlines() if "\t" in line)
    return tuple((user, host) for user, host, *_ in pairs)


def _pacemaker_facts(
    prober: _Prober, facts: NodeFacts
) -> tuple[NodeFacts, cluster.PacemakerStatus | None]:
    """The node's own pacemaker name (`crm_node -n`) and the cluster as it sees it.

    The name is asked, never assumed: an inventory name that differs from the pacemaker
    name made a live controller look like a non-member (issue 8 finding 3). A node the
    inventory puts in `pacemaker` must answer; any other node that cannot is a non-member.
    """
    in_group = PACEMAKER_GROUP in prober.node.groups
    answer = prober.run(commands_probe.pacemaker_node_name(prober.timeout))
    name = answer.stdout.strip().splitlines()[0].strip() if answer.stdout.strip() else ""
    if not answer.ok or not name:
        if in_group:
            detail = _detail(answer) if not answer.ok else "empty answer"
            problem = f"cannot tell its pacemaker node name (crm_node -n): {detail}"
            raise _ProbeFailed(problem, Reason.UNHEALTHY)
        return facts, None
    result = prober.run(commands_probe.pacemaker_status(prober.timeout))
    status = cluster.parse_pacemaker_status(result.stdout)
    if not result.ok and not status.problem:
        status = cluster.unreadable(_detail(result))
    member = name in status.members
    if not member and not in_group and not status.problem:
        return facts, None  # a pacemaker node of another cluster, or a remote node
    return replace(facts, pacemaker_member=member, pacemaker_name=name), status


def _galera_probe(
    prober: _Prober, probe: Probe, container: str, *, judged: bool, elect: Elect
) -> Probe:
    lookup = commands_probe.hiera_lookup(commands_probe.MYSQL_PASSWORD_KEY, prober.timeout)
    password, _ = commands_probe.mysql_password(prober.run(lookup))
    asks_cluster = elect(bool(password))
    if password:
        # The node's second and last exec: the queries need the password from the first reply.
        queries = probe_script.database_queries(
            container, password, prober.timeout, cluster=asks_cluster
        )
        prober.prefetch(probe_script.DATABASE_PROBE_NAME, queries, queries[0].stdin)
    password, galera_text = _database_facts(prober, container)
    galera = cluster.parse_galera_status(galera_text) if judged else None
    probe = replace(probe, galera=galera, password=password)
    return _cluster_facts(prober, probe, container) if asks_cluster else probe


def _cluster_facts(prober: _Prober, probe: Probe, container: str) -> Probe:
    """The database list and accounts, asked of this one node for the cluster (gate_election)."""
    timeout, password = prober.timeout, probe.password
    names = commands_services.database_names(container, password, timeout)
    databases = prober.checked(names, "mysql failed").split()
    listing = commands_services.database_accounts(container, password, timeout)
    accounts = _accounts(prober.checked(listing, "mysql failed"))
    if probe.galera is not None and not accounts:
        # A galera cluster always has accounts (root at least): none means the query or its
        # parsing is wrong, and the grants dump would be an empty file counted as a backup.
        problem = "galera lists no database accounts: the grants dump would be empty"
        raise _ProbeFailed(problem, Reason.UNHEALTHY)
    facts = replace(probe.facts, databases=tuple(databases), accounts=accounts)
    return replace(probe, facts=facts, asked_cluster=True)


def share_cluster_facts(probes: Sequence[Probe]) -> tuple[Probe, ...]:
    """Every galera node's probe given the database list and accounts of the one node asked;
    unchanged when that node's answer is missing (its problem refuses the run)."""
    source = next((p for p in probes if p.asked_cluster and not p.problem), None)
    if source is None:
        return tuple(probes)
    databases, accounts = source.facts.databases, source.facts.accounts
    return tuple(
        replace(probe, facts=replace(probe.facts, databases=databases, accounts=accounts))
        if probe.password and not probe.problem
        else probe
        for probe in probes
    )


def _setup_problems(prober: _Prober, settings: RearSettings) -> tuple[str, ...]:
    """The node's ReaR version and the rear package's cron file, judged (rear_capability)."""
    version = prober.checked(commands_probe.rear_version(prober.timeout), "rear not installed")
    cron = prober.run(commands_probe.cron_file_absent(prober.timeout))
    problems = rear_capability.version_problems(version, settings)
    cron_problem = rear_capability.cron_problem(cron.exit_code if cron.reason is None else None)
    return (*problems, cron_problem) if cron_problem else problems


def _node_hygiene_facts(prober: _Prober, probe: Probe, *, controlplane: bool) -> Probe:
    """The run directories already on the node (excluded from this run's archive, the oldest
    pruned after it) and, on the control plane, its config-drive partition (guide 2.5 step 1).
    A blkid that cannot answer refuses the node: its image would silently be missing."""
    runs = commands_rear.run_directories_of(
        prober.run(commands_rear.list_run_directories(prober.timeout))
    )
    drive, problem = "", ""
    if controlplane:
        answer = prober.run(commands_rear.config_drive_device(prober.timeout))
        drive, problem = commands_rear.config_drive_of(answer)
    facts = replace(probe.facts, run_directories=runs, config_drive=drive)
    problems = (*probe.setup_problems, problem) if problem else probe.setup_problems
    return replace(probe, facts=facts, setup_problems=problems)


def probe_node(
    runner: Runner,
    node: Node,
    *,
    pacemaker: bool,
    timeout: int,
    settings: RearSettings | None = None,
    target: RearTarget | None = None,
    elect: Elect = _ask_here,
) -> Probe:
    """Run the read-only probes of one plan node and collect its facts; with `target`, its
    local.conf must be the rendered one and it must reach the target as ReaR will. `elect`
    says whether this node asks the cluster-wide galera queries (gate_election)."""
    prober = _Prober(runner, node, timeout)
    probe = Probe(node.name, pacemaker_group=pacemaker and PACEMAKER_GROUP in node.groups)
    try:
        probes = probe_script.node_probes(pacemaker=pacemaker, timeout=timeout, target=target)
        prober.prefetch(probe_script.PROBE_NAME, probes)
        prober.checked(commands_probe.node_name(timeout), "shell failed")
        setup = _setup_problems(prober, settings or RearSettings())
        probe = replace(probe, setup_problems=setup)
        firmware = commands_probe.firmware_of(prober.run(commands_probe.firmware(timeout)))
        if target is not None:
            own = settings or RearSettings()
            found = gate_setup.problems(prober.run, node.address, target, own, firmware, timeout)
            probe = replace(probe, setup_problems=(*setup, *found))
        names = prober.checked(commands_probe.container_names(timeout), "podman failed").split()
        facts = NodeFacts(tuple(names), firmware=firmware)
        probe = _node_hygiene_facts(prober, replace(probe, facts=facts), controlplane=pacemaker)
        if pacemaker:
            facts, status = _pacemaker_facts(prober, probe.facts)
            probe = replace(probe, facts=facts, pacemaker=status)
        container = probe.facts.galera_container()
        if container is None and UNDERCLOUD_DATABASE_CONTAINER in names and not pacemaker:
            container = UNDERCLOUD_DATABASE_CONTAINER
        if container is None:
            return probe
        return _galera_probe(prober, probe, container, judged=pacemaker, elect=elect)
    except _ProbeFailed as failure:
        return replace(probe, problem=str(failure), reason_class=failure.reason)


def probe_target(  # noqa: PLR0917 - the target and its two space rules
    runner: Runner,
    node: Node,
    directory: str,
    timeout: int,
    min_free_bytes: int = 0,
    need: rear_capability.SpaceNeed | None = None,
) -> Probe:
    """The backup target answers SSH, has the directory ReaR writes into, at least
    `min_free_bytes` free under it (0: not measured) and room for `need` (None: not judged)."""
    prober = _Prober(runner, node, timeout)
    try:
        exists = commands_probe.directory_exists(directory, timeout)
        measured = min_free_bytes > 0 or need is not None
        space = commands_probe.free_space(directory, timeout)
        extra = (probe_script.conditional(space),) if measured else ()
        prober.prefetch(
            probe_script.PROBE_NAME, (commands_probe.node_name(timeout), exists, *extra)
        )
        prober.checked(commands_probe.node_name(timeout), "shell failed")
        prober.checked(exists, f"no directory {directory}")
        free = None
        if measured:
            answer = prober.checked(space, "df failed")
            free = rear_capability.parse_free_bytes(answer)
            problem = rear_capability.space_problem(answer, directory, min_free_bytes, need)
            if problem:
                raise _ProbeFailed(problem, Reason.UNHEALTHY, free)
    except _ProbeFailed as failure:
        found = failure.free_bytes
        return Probe(node.name, str(failure), reason_class=failure.reason, free_bytes=found)
    return Probe(node.name, free_bytes=free)
