"""The cluster's health before and after a node, from the cluster's own view.

Before a controller leaves and while it rejoins, barctl used to query pacemaker and galera on
every galera node: the per-controller cost grew with N (issue 12: 4.2 s at 3 controllers, 10.6 s
at 30). Pacemaker and galera each keep a view of the whole cluster, so one node's view is enough:

- pacemaker membership from one `crm_mon` XML, asked of one online peer (never the node that is
  out); the next peer is asked only when that one cannot answer, and in a rolling run a peer
  that cannot answer has left the cluster itself;
- galera from the same exec on that peer (its state, `wsrep_cluster_size` and
  `wsrep_incoming_addresses`: every member of its component by client address), plus the state
  of the node being judged, asked of that node.

The members' galera client addresses are what MariaDB derives its incoming address from in
TripleO (bind-address, `GALERA_BIND_ADDRESS_KEY` in hiera; wsrep_node_incoming_address is AUTO):
read once per run, all nodes at once, so a missing member is named, not just counted.
Interpretation is pure (`cluster.py`); this module only asks.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType

from barctl.model import Node, NodeFacts
from barctl.run import cluster, commands_probe, commands_services, verdicts
from barctl.run.steps import StepRecorder

POLL_FLOOR_SECONDS = 0.1
POLL_FRACTION = 0.1


@dataclass(frozen=True)
class Health:
    """A check's answer: the peers that left (rolling runs), else what is not healthy yet."""

    peer_loss: str = ""
    problems: tuple[str, ...] = ()
    # The peer whose view this is: its membership answer and its own galera state were judged.
    seen_from: str = ""

    def reason(self) -> str:
        """Why the node may not leave (or is not back): empty when healthy."""
        return self.peer_loss or "; ".join(self.problems)


@dataclass
class ClusterChecks:
    """Asks the cluster's own view; `order` is the plan's node order (peers are asked in it)."""

    rolling: bool
    order: tuple[str, ...]
    nodes: Mapping[str, Node]
    facts: Mapping[str, NodeFacts]
    steps: StepRecorder
    password: str = field(repr=False)
    timeout: int
    max_parallel: int = 8
    _addresses: dict[str, str] | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def members(self) -> list[str]:
        """Pacemaker members of the plan, in plan order."""
        return [
            name
            for name in self.order
            if name in self.nodes and name in self.facts and self.facts[name].pacemaker_member
        ]

    def galera_nodes(self) -> dict[str, str]:
        """Galera nodes of the plan, in plan order, with their bundle container."""
        found = {name: self.facts[name].galera_container() for name in self.order}
        return {
            name: container for name, container in found.items() if container and name in self.nodes
        }

    def health(self, judged: str | None) -> Health:
        """The cluster's health around node `judged` (None: the whole cluster, offline mode)."""
        members = self.members()
        if not members:
            # Galera without pacemaker (not a TripleO layout, but a plan can say so).
            return Health(problems=tuple(self._galera_problems(self._no_view, judged)))
        askers = self.askers(members, judged)
        view, failed, why = self._ask(askers)
        if self.rolling and judged is not None:
            lost = [name for name in failed if name != judged]
            if view is not None:
                rest = [name for name in askers if name not in failed]
                lost += verdicts.lost_peers(view.pacemaker, rest, self.facts)
            if lost:
                return Health(verdicts.peer_loss(sorted(set(lost), key=askers.index)))
        if view is None:
            return Health(problems=(f"pacemaker status unavailable from {', '.join(askers)}{why}",))
        names = frozenset(self.facts[name].cluster_name(name) for name in members)
        problems = cluster.pacemaker_problems(view.pacemaker, names | view.pacemaker.members)
        galera = self._galera_problems(view, judged)
        return Health(problems=(*problems, *galera), seen_from=view.node)

    _no_view = cluster.ClusterView("", cluster.PacemakerStatus(MappingProxyType({}), True))

    @staticmethod
    def askers(members: list[str], judged: str | None) -> list[str]:
        """Who is asked, in turn: the members after `judged` in plan order, then those before
        it (the node itself only when it is alone). The first asked after a node is the next
        node to go out, so the rejoin check has already judged it (engine: no second check)."""
        if judged not in members:
            return members
        index = members.index(judged)
        return [*members[index + 1 :], *members[:index]] or [judged]

    def _ask(self, askers: list[str]) -> tuple[cluster.ClusterView | None, list[str], str]:
        """The first asker's view that can tell pacemaker's membership; who could not, and why."""
        galera = self.galera_nodes()
        failed: list[str] = []
        why = ""
        for name in askers:
            container = galera.get(name)
            command = commands_services.cluster_view(container, self.password, self.timeout)
            result = self.steps.read(self.nodes[name], command)
            if not result.ok:
                failed.append(name)
                why = f": {verdicts.command_problem(result)}"
                continue
            view = cluster.parse_cluster_view(
                name,
                result.stdout,
                commands_services.VIEW_MARKER,
                galera_asked=container is not None,
            )
            if view.answered:
                return view, failed, why
            failed.append(name)
            why = f": {view.pacemaker.problem}"
        return None, failed, why

    def _galera_problems(self, view: cluster.ClusterView, judged: str | None) -> list[str]:
        """Galera as the view's node sees it, then the judged node's own state."""
        galera = self.galera_nodes()
        if not galera:
            return []
        members = self.addresses()
        seen_from, status, problem = view.node, view.galera, view.galera_problem
        if view.node not in galera:
            # A pacemaker member without galera (composable roles): ask one galera node.
            seen_from = next((name for name in galera if name != judged), next(iter(galera)))
            status, problem = self._galera_status(seen_from, galera[seen_from])
        problems = [problem] if status is None else []
        if status is not None:
            problems += cluster.galera_view_problems(seen_from, status, members)
        if judged in galera and judged != seen_from:
            own, own_problem = self._galera_status(judged, galera[judged])
            problems += (
                [own_problem] if own is None else cluster.galera_problems(judged, own, len(galera))
            )
        return problems

    def _galera_status(self, name: str, container: str) -> tuple[cluster.GaleraStatus | None, str]:
        command = commands_services.galera_status(container, self.password, self.timeout)
        result = self.steps.read(self.nodes[name], command)
        if not result.ok:
            return None, f"{name}: galera status unavailable ({verdicts.command_problem(result)})"
        return cluster.parse_galera_status(result.stdout), ""

    def addresses(self) -> dict[str, str]:
        """Each galera node's client address ("" when hiera has none), read once per run."""
        with self._lock:
            if self._addresses is None:
                names = list(self.galera_nodes())
                workers = max(1, min(self.max_parallel, len(names)))
                with ThreadPoolExecutor(max_workers=workers) as executor:
                    self._addresses = dict(executor.map(self._bind_address, names))
            return self._addresses

    def _bind_address(self, name: str) -> tuple[str, str]:
        lookup = commands_probe.hiera_lookup(
            commands_services.GALERA_BIND_ADDRESS_KEY, self.timeout
        )
        result = self.steps.read(self.nodes[name], lookup)
        return name, cluster.galera_address(result.stdout) if result.ok else ""


def poll_delay(waited: float, remaining: float, ceiling: float) -> float:
    """Seconds until the next rejoin poll: a tenth of the time waited so far, at least
    `POLL_FLOOR_SECONDS` and at most `ceiling`, never past the deadline.

    A node back at once costs no wait at all (the first poll follows the start); one that
    takes a minute (galera's IST/SST) is seen at most `ceiling` late, and the polls a
    short rejoin makes stay few (each asks two nodes).
    """
    return max(0.0, min(remaining, ceiling, max(POLL_FLOOR_SECONDS, waited * POLL_FRACTION)))
