"""Reading pacemaker and galera state from command output, and judging it. Pure.

The vendor role waits for galera with `pacemaker_wait_bundle.sh`, which always exits 0
(tripleo.md §2b), so its "wait" can never fail. barctl parses the state itself and decides.

Pacemaker is read from its structured output, `crm_mon --one-shot --inactive --output-as=xml`
(pacemaker 2.0.3 and later; the deprecated `crm_mon --as-xml` prints the same elements under a
`<crm_mon>` root). Matching names in the text of `pcs status` judged a
node in standby "not a member" (it is listed as `Node x: standby`, not under `Online:`), and
the run then stopped nothing on it (issue 8 finding 9).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from xml.etree import ElementTree

ONLINE = "online"
OFFLINE = "offline"
STANDBY = "standby"
MAINTENANCE = "maintenance"
UNCLEAN = "unclean"
PENDING = "pending"
SHUTDOWN = "shutdown"
UNKNOWN = "unknown"

# The boolean attributes pacemaker writes on every <node> (lib/pengine/pe_output.c, node_xml).
_NODE_FLAGS = ("online", "standby", "standby_onfail", "maintenance", "pending", "unclean")


@dataclass(frozen=True)
class PacemakerStatus:
    """Cluster membership: each node pacemaker knows, by its pacemaker name, and its state.

    A state is `online`, `offline`, or a state that makes the node doubtful for a backup:
    `standby`, `maintenance`, `unclean`, `pending`, `shutdown`, `unknown`. `problem` is set
    when the status could not be read at all; then nothing else in it is known.
    """

    states: Mapping[str, str]
    quorate: bool
    maintenance_mode: bool = False
    problem: str = ""

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

    def state(self, name: str) -> str:
        """The state of node `name`; `unknown` when pacemaker does not list it."""
        return self.states.get(name, UNKNOWN)


@dataclass(frozen=True)
class GaleraStatus:
    """Galera state of one node."""

    state: str
    cluster_size: int
    # Every member's client address, `host:port` as `wsrep_incoming_addresses` lists them.
    incoming_addresses: tuple[str, ...] = ()

    @property
    def synced(self) -> bool:
        """True when the node is a fully synced member (`wsrep_local_state_comment`)."""
        return self.state == "Synced"


def unreadable(reason: str) -> PacemakerStatus:
    """A status that could not be read: it refuses everything it is asked about."""
    return PacemakerStatus(
        MappingProxyType({}), False, problem=f"cannot read pacemaker status: {reason}"
    )


def _document(text: str) -> ElementTree.Element:
    # crm_mon never writes a DTD; refusing one keeps entity expansion out of the parser.
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ValueError("unexpected DTD in crm_mon output")
    return ElementTree.fromstring(text)  # noqa: S314 - DTDs refused above


def node_state(attributes: Mapping[str, str]) -> str:
    """One node's state, in the precedence of pacemaker's own `node_text_status`.

    Unclean before pending before anything else; a node that is not online is `offline`
    whatever else it carries ("OFFLINE (standby)" in crm_mon's text). Values other than
    true/false, or a missing flag, make the state `unknown`: doubt refuses.
    """
    if any(attributes.get(flag) not in ("true", "false") for flag in _NODE_FLAGS):
        return UNKNOWN
    flags = {flag for flag in (*_NODE_FLAGS, "shutdown") if attributes.get(flag) == "true"}
    for flag, state in (("unclean", UNCLEAN), ("pending", PENDING)):
        if flag in flags:
            return state
    if "online" not in flags:
        return OFFLINE
    for flag, state in (
        ("shutdown", SHUTDOWN),
        ("standby", STANDBY),
        ("standby_onfail", STANDBY),
        ("maintenance", MAINTENANCE),
    ):
        if flag in flags:
            return state
    return ONLINE


def crm_mon_error(text: str) -> str:
    """The error crm_mon put in its XML result (`<status><errors><error>`), else ""."""
    try:
        root = _document(text)
    except (ElementTree.ParseError, ValueError):
        return ""
    status = root.find("status")
    if status is None or status.get("code", "0") == "0":
        return ""
    errors = [error.text or "" for error in status.iterfind("errors/error")]
    message = status.get("message", "")
    return "; ".join(error for error in (*errors, message) if error) or f"code {status.get('code')}"


def parse_pacemaker_status(text: str) -> PacemakerStatus:
    """Parse crm_mon's XML; anything unreadable becomes a status carrying its `problem`."""
    try:
        root = _document(text)
    except (ElementTree.ParseError, ValueError) as error:
        return unreadable(f"not XML ({error})" if text.strip() else "empty output")
    if root.tag not in ("pacemaker-result", "crm_mon"):
        return unreadable(f"unexpected document <{root.tag}>")
    failure = crm_mon_error(text)
    if failure:
        return unreadable(failure)
    dc = root.find("summary/current_dc")
    nodes = root.find("nodes")
    if dc is None or nodes is None:
        return unreadable("no summary/current_dc or nodes element")
    states: dict[str, str] = {}
    for node in nodes.iterfind("node"):
        # Bundle and remote nodes (type remote/ping) are resources, not cluster members.
        if node.get("type", "member") == "member" and node.get("name"):
            states[node.get("name", "")] = node_state(node.attrib)
    options = root.find("summary/cluster_options")
    return PacemakerStatus(
        MappingProxyType(states),
        dc.get("present") == "true" and dc.get("with_quorum") == "true",
        options is not None and options.get("maintenance-mode") == "true",
    )


def parse_pcs_status(text: str) -> PacemakerStatus:
    """The name engine.py calls: `commands_probe.pcs_status` now runs crm_mon's XML output."""
    return parse_pacemaker_status(text)


def parse_galera_status(text: str) -> GaleraStatus:
    """Parse tab-separated `SHOW GLOBAL STATUS` lines for state and cluster size."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, _, value = line.partition("\t")
        values[name.strip()] = value.strip()
    size = values.get("wsrep_cluster_size", "0")
    addresses = values.get("wsrep_incoming_addresses", "")
    return GaleraStatus(
        values.get("wsrep_local_state_comment", "unknown"),
        int(size) if size.isdigit() else 0,
        tuple(item.strip() for item in addresses.split(",") if item.strip()),
    )


def cluster_problems(status: PacemakerStatus) -> list[str]:
    """Cluster-wide reasons not to take a node out: unreadable status, no quorum, maintenance."""
    if status.problem:
        return [status.problem]
    problems = []
    if not status.quorate:
        problems.append("pacemaker partition without quorum")
    if status.maintenance_mode:
        problems.append("pacemaker cluster is in maintenance-mode")
    return problems


def member_problem(status: PacemakerStatus, name: str) -> str:
    """Why pacemaker node `name` is not fit for a backup, or "" when it is online."""
    if status.problem:
        return status.problem
    if name not in status.states:
        return f"{name} is not a node of the pacemaker cluster"
    state = status.states[name]
    return "" if state == ONLINE else f"{name} is {state} in pacemaker, not online"


def pacemaker_problems(status: PacemakerStatus, expected: frozenset[str]) -> list[str]:
    """Why the cluster is not healthy: no quorum, or an expected node not online or missing."""
    problems = cluster_problems(status)
    if status.problem:
        return problems
    for name in sorted(expected):
        problem = member_problem(status, name)
        if problem:
            problems.append(problem)
    return problems


def galera_reasons(status: GaleraStatus, expected_size: int) -> list[str]:
    """Why this galera node is not ready, without its name: not Synced, cluster too small."""
    reasons = []
    if not status.synced:
        reasons.append(
            "galera state could not be read (no wsrep_local_state_comment)"
            if status.state == "unknown"
            else f"galera is {status.state}, not Synced"
        )
    if status.state != "unknown" and status.cluster_size < expected_size:
        reasons.append(f"galera cluster size {status.cluster_size} < {expected_size}")
    return reasons


def galera_problems(node: str, status: GaleraStatus, expected_size: int) -> list[str]:
    """`galera_reasons` prefixed with the node, for lists that mix nodes (engine re-checks)."""
    return [f"{node}: {reason}" for reason in galera_reasons(status, expected_size)]


@dataclass(frozen=True)
class ClusterView:
    """What one node answered to `commands_services.cluster_view`: pacemaker's membership as it
    sees it and, when asked, its galera status (`galera` None then says why in `galera_problem`)."""

    node: str
    pacemaker: PacemakerStatus
    galera: GaleraStatus | None = None
    galera_problem: str = ""

    @property
    def answered(self) -> bool:
        """The node could tell pacemaker's membership (its own pacemaker runs)."""
        return not self.pacemaker.problem


def _sections(text: str, marker: str) -> dict[str, tuple[str, int | None]]:
    """Each command's output and exit status, from the marker line that follows it."""
    found: dict[str, tuple[str, int | None]] = {}
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith(marker + " "):
            name, _, code = line[len(marker) + 1 :].partition(" ")
            found[name] = ("\n".join(lines), int(code) if code.strip().isdigit() else None)
            lines = []
        else:
            lines.append(line)
    return found


def parse_cluster_view(node: str, text: str, marker: str, *, galera_asked: bool) -> ClusterView:
    """Split the batched answer: crm_mon's XML, then galera's status when it was asked."""
    parts = _sections(text, marker)
    crm_text, crm_exit = parts.get("crm_mon", ("", None))
    pacemaker = parse_pacemaker_status(crm_text)
    if not pacemaker.problem and crm_exit != 0:
        pacemaker = unreadable(f"crm_mon exit {crm_exit}")
    if not galera_asked:
        return ClusterView(node, pacemaker)
    mysql_text, mysql_exit = parts.get("mysql", ("", None))
    if mysql_exit != 0:
        why = "no answer" if mysql_exit is None else f"mysql exit {mysql_exit}"
        return ClusterView(node, pacemaker, None, f"{node}: galera status unavailable ({why})")
    return ClusterView(node, pacemaker, parse_galera_status(mysql_text))


def address_host(address: str) -> str:
    """The host part of a `wsrep_incoming_addresses` entry: `ip:port`, `[ipv6]:port`."""
    if address.startswith("["):
        return address[1:].partition("]")[0]
    host, separator, port = address.rpartition(":")
    return host if separator and port.isdigit() and ":" not in host else address


def galera_address(hiera_text: str) -> str:
    """A node's galera client address from hiera's bind_address answer; "" when unknown."""
    value = hiera_text.strip().strip("[]")
    return "" if value in ("", "nil") else value


def galera_view_problems(
    view_node: str, status: GaleraStatus, members: Mapping[str, str]
) -> list[str]:
    """Why galera, as `view_node` sees it, is not whole: its own state, the cluster size, and
    each member (name -> client address, "" when unknown) missing from its
    `wsrep_incoming_addresses`. An empty list (variable not reported) judges by size alone."""
    problems = galera_problems(view_node, status, len(members))
    listed = {address_host(address).lower() for address in status.incoming_addresses}
    if status.state == "unknown" or not listed:
        return problems
    for name, address in members.items():
        if address and address.lower() not in listed:
            problems.append(f"{name}: not in galera's wsrep_incoming_addresses on {view_node}")
    return problems
