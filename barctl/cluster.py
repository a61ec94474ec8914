"""Reading pacemaker and galera state from command output, and judging it. Pure.

The vendor role waits for galera with `pacemaker_wait_bundle.sh`, which always exits 0
(tripleo.md §2b), so its "wait" can never fail. barctl parses the state itself and decides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

_NODE_LIST = re.compile(r"^\s*\*?\s*(Online|OFFLINE):\s*\[(?P<nodes>[^\]]*)\]", re.MULTILINE)


ONLINE = "online"
OFFLINE = "offline"


@dataclass(frozen=True)
class PacemakerStatus:
    """Cluster membership: each node pacemaker knows, by its pacemaker name, and its state.

    A state is `online`, `offline`, or a state that makes the node doubtful for a backup:
    `standby`, `maintenance`, `unclean`, `pending`, `shutdown`, `unknown`.
    """

    states: Mapping[str, str]
    quorate: bool

    @property
    def online(self) -> frozenset[str]:
        """Nodes fully online (not standby, maintenance, ...)."""
        return frozenset(name for name, state in self.states.items() if state == ONLINE)

    @property
    def offline(self) -> frozenset[str]:
        """Nodes pacemaker lists as offline."""
        return frozenset(name for name, state in self.states.items() if state == OFFLINE)

    @property
    def members(self) -> frozenset[str]:
        """Every node pacemaker knows, whatever its state."""
        return frozenset(self.states)


@dataclass(frozen=True)
class GaleraStatus:
    """Galera state of one node."""

    state: str
    cluster_size: int

    @property
    def synced(self) -> bool:
        """True when the node is a fully synced member (`wsrep_local_state_comment`)."""
        return self.state == "Synced"


def parse_pcs_status(text: str) -> PacemakerStatus:
    """Parse `pcs status` (RHEL 8 layout: `* Online: [ a b ]`, `partition with quorum`)."""
    online: set[str] = set()
    offline: set[str] = set()
    for match in _NODE_LIST.finditer(text):
        names = set(match.group("nodes").split())
        (online if match.group(1) == "Online" else offline).update(names)
    quorate = "partition with quorum" in text
    states = {name: ONLINE for name in online} | {name: OFFLINE for name in offline}
    return PacemakerStatus(MappingProxyType(states), quorate)


def parse_galera_status(text: str) -> GaleraStatus:
    """Parse tab-separated `SHOW GLOBAL STATUS` lines for state and cluster size."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, _, value = line.partition("\t")
        values[name.strip()] = value.strip()
    size = values.get("wsrep_cluster_size", "0")
    return GaleraStatus(
        values.get("wsrep_local_state_comment", "unknown"), int(size) if size.isdigit() else 0
    )


def pacemaker_problems(status: PacemakerStatus, expected: frozenset[str]) -> list[str]:
    """Why the cluster is not healthy: nodes offline or missing, or no quorum."""
    problems = []
    if not status.quorate:
        problems.append("pacemaker partition without quorum")
    for node in sorted(status.offline & expected):
        problems.append(f"{node} is OFFLINE in pacemaker")
    for node in sorted(expected - status.members):
        problems.append(f"{node} is not a pacemaker member")
    return problems


def galera_problems(node: str, status: GaleraStatus, expected_size: int) -> list[str]:
    """Why a galera node is not ready: not Synced, or the cluster is smaller than expected."""
    problems = []
    if not status.synced:
        problems.append(f"{node}: galera is {status.state}, not Synced")
    if status.cluster_size < expected_size:
        problems.append(f"{node}: galera cluster size {status.cluster_size} < {expected_size}")
    return problems
