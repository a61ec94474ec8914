"""Stand-in commands for the lab hosts (stdlib only, run as a script).

Every lab host has ``<lab>/bin/<name>`` wrappers that exec
``python -I -S lab/standin_launcher.py <name> ARGS...``, which imports this module and calls
:func:`main`.  It records the invocation in
``<lab>/invocations.jsonl`` (argv only, never stdin), applies injected faults, then
simulates the tool against the shared cluster state in ``<lab>/state.json``
(read-modify-write under ``fcntl.flock`` of ``<lab>/state.lock``).

The environment gives ``BARCTL_LAB_DIR`` and ``BARCTL_LAB_HOST`` (set by each host's sshd).
The state helpers here are also used by :mod:`lab.lab` (the Python side of the lab).
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import functools
import json
import os
import re
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lab import rear_standin

if __name__ == "__main__" and "lab" not in sys.modules:
    # Run as a script (`python -I -S lab/standin.py`): lab/__init__.py needs PyYAML, which is not
    # on this path, so this directory becomes a bare `lab` package for the stdlib-only siblings.
    _package = types.ModuleType("lab")
    _package.__path__ = [str(Path(__file__).resolve().parent)]
    sys.modules["lab"] = _package

# The stand-in runs once per remote command (the tool; the lab's sudo is a sh script,
# lab.lab.SUDO_SCRIPT): its start-up is lab CPU that every benchmark counts as the nodes' time,
# so the heavy siblings (rear_standin and rear_iso pull in tarfile, gzip, tempfile, dataclasses
# and subprocess: ~45 ms) and the rarely used modules are imported by the handler that needs
# them, not here.

STANDIN_NAMES = (
    "rear",
    "pcs",
    "podman",
    "hiera",
    "mysql",
    "mysqldump",
    "ceph",
    "cephadm",
    "clustercheck",
    "systemctl",
    "crm_mon",
    "crm_node",
    "df",
    # barctl setup and the gate's reachability probes (lab/setup_standins.py)
    "rpm",
    "dnf",
    "exportfs",
    "showmount",
    "findmnt",
    "ssh",
    # the config-drive image (lab/device_standins.py)
    "blkid",
    "dd",
)

State = dict[str, Any]

CRM_MON_ERROR = "Error: error running crm_mon, is pacemaker running?"
# Pacemaker states of a lab node ("pacemaker" field). standby and maintenance nodes run the
# pacemaker daemons; standby ones run no resources, maintenance ones keep theirs (unmanaged).
RUNNING_STATES = ("online", "standby", "maintenance", "starting")
RESOURCE_STATES = ("online", "maintenance")
ACCESS_DENIED = "ERROR 1045 (28000): Access denied for user 'root'@'localhost' (using password: {})"
NO_SERVER = "ERROR 2002 (HY000): Can't connect to local MySQL server through socket '/var/lib/mysql/mysql.sock' (2)"  # noqa: E501
DATABASES = ("keystone", "nova", "glance", "neutron")
WSREP_STATUS = ("wsrep_local_state_comment", "wsrep_cluster_size", "wsrep_incoming_addresses")
BIND_ADDRESS_KEY = "tripleo::profile::pacemaker::database::mysql::bind_address"


# --------------------------------------------------------------------------- state helpers


@contextlib.contextmanager
def locked_state(lab_dir: Path) -> Iterator[State]:
    """Yield the shared state for read-modify-write; written back when the block succeeds."""
    with open(lab_dir / "state.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            path = lab_dir / "state.json"
            state: State = json.loads(path.read_text())
            settle(state, time.time())
            yield state
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
            tmp.replace(path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def settle(state: State, now: float) -> None:
    """Apply time-based transitions: a starting node becomes online and Synced at ``online_at``."""
    for node in state["nodes"].values():
        online_at = node.get("online_at")
        if node["pacemaker"] == "starting" and online_at is not None and now >= online_at:
            node["pacemaker"] = "online"
            node["online_at"] = None
            if node["galera"]:
                node["wsrep_state"] = "Synced"
                node["wsrep_desync"] = "OFF"


def record(lab_dir: Path, host: str, argv: list[str]) -> None:
    """Append one invocation line (host, argv, time, pid); stdin is never recorded."""
    line = json.dumps({"host": host, "argv": argv, "time": time.time(), "pid": os.getpid()})
    with open(lab_dir / "invocations.jsonl", "a") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        out.write(line + "\n")
        out.flush()
        fcntl.flock(out, fcntl.LOCK_UN)


def take_fault(state: State, host: str, argv: list[str]) -> dict[str, Any] | None:
    """Return (and consume one use of) the first fault rule matching host and argv prefix."""
    faults: list[dict[str, Any]] = state["faults"]
    for index, rule in enumerate(faults):
        if rule["host"] not in (None, host):
            continue
        prefix: list[str] = rule["prefix"]
        if argv[: len(prefix)] != prefix:
            continue
        if rule.get("times") is not None:
            rule["times"] -= 1
            if rule["times"] <= 0:
                del faults[index]
        return dict(rule)
    return None


def apply_fault(lab_dir: Path, host: str, argv: list[str]) -> None:
    """Apply an injected fault (exit/hang/sleep) for this invocation, before any state change."""
    # Most calls meet no fault: look without the lock first (state.json is replaced atomically),
    # so they neither wait for the lock nor rewrite the whole state.
    if not json.loads((lab_dir / "state.json").read_text()).get("faults"):
        return
    with locked_state(lab_dir) as state:
        rule = take_fault(state, host, argv)
    if rule is None:
        return
    if rule.get("sleep"):
        time.sleep(float(rule["sleep"]))
    if rule.get("hang"):
        while True:
            time.sleep(3600)
    if rule.get("exit") is not None:
        sys.stderr.write(f"{argv[0]}: lab injected failure (exit {rule['exit']})\n")
        raise SystemExit(int(rule["exit"]))


# --------------------------------------------------------------------------- helpers


class Ctx:
    """One invocation: lab directory, host name, stdout/stderr writers."""

    def __init__(self, lab_dir: Path, host: str) -> None:
        self.lab_dir = lab_dir
        self.host = host

    def out(self, text: str) -> None:
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
        sys.stdout.flush()

    def err(self, text: str) -> None:
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()


def _is_bundle(name: str) -> bool:
    return "-bundle-podman-" in name


def container_id(name: str) -> str:
    import hashlib  # noqa: PLC0415 (lazy: see the imports above)

    """The (fake, stable) 12-hex container ID of a container name."""
    return hashlib.sha256(name.encode()).hexdigest()[:12]


def resolve_container(node: dict[str, Any], name_or_id: str) -> str:
    """Container name for a name or a (prefix of a) container ID; unknown values unchanged."""
    if name_or_id in node["containers"]:
        return name_or_id
    if len(name_or_id) >= 3:
        for name in node["containers"]:
            if container_id(name).startswith(name_or_id):
                return str(name)
    return name_or_id


def container_status(node: dict[str, Any], name: str) -> str | None:
    """running | paused | exited (bundle containers while pacemaker is not online) | None."""
    name = resolve_container(node, name)
    status: str | None = node["containers"].get(name)
    if status is None:
        return None
    if _is_bundle(name) and node["pacemaker"] not in RESOURCE_STATES:
        return "exited"
    return status


# --------------------------------------------------------------------------- pcs


def pacemaker_name(state: State, host: str) -> str:
    """The name pacemaker knows lab host `host` by (``lab.set_pacemaker_name``)."""
    return str(state["nodes"][host].get("pacemaker_name") or host)


def _quorum(state: State, members: list[str]) -> bool:
    # Corosync votes: every node whose pacemaker runs counts, standby and maintenance too.
    running = [n for n in members if state["nodes"][n]["pacemaker"] in RUNNING_STATES]
    return len(running) * 2 > len(members)


def pcs_status_text(state: State, cluster_name: str = "tripleo_cluster") -> str:
    members = sorted(n for n, v in state["nodes"].items() if v["pacemaker_member"])
    online = [n for n in members if state["nodes"][n]["pacemaker"] == "online"]
    offline = [n for n in members if state["nodes"][n]["pacemaker"] == "offline"]
    # Other states are listed one node a line, as crm_mon's text does ("Node x: standby").
    flagged = [n for n in members if n not in online and n not in offline]
    quorum = "partition with quorum" if _quorum(state, members) else "partition WITHOUT quorum"
    dc = pacemaker_name(state, online[0]) if online else "NONE"
    lines = [
        f"Cluster name: {cluster_name}",
        "Cluster Summary:",
        "  * Stack: corosync",
        f"  * Current DC: {dc} (version 2.0.5-9.el8_4.5-ba59be7122) - {quorum}",
        f"  * Last updated: {time.strftime('%a %b %d %H:%M:%S %Y')}",
        f"  * {len(members)} nodes configured",
        "",
        "Node List:",
    ]
    for name in flagged:
        shown = "pending" if state["nodes"][name]["pacemaker"] == "starting" else None
        lines.append(
            f"  * Node {pacemaker_name(state, name)}: {shown or state['nodes'][name]['pacemaker']}"
        )
    lines.append(f"  * Online: [ {' '.join(pacemaker_name(state, n) for n in online)} ]")
    if offline:
        lines.append(f"  * OFFLINE: [ {' '.join(pacemaker_name(state, n) for n in offline)} ]")
    lines += ["", "Full List of Resources:"]
    galera = [n for n in members if state["nodes"][n]["galera"]]
    if galera:
        lines.append(
            "  * Container bundle set: galera-bundle [cluster.common.tag/mariadb:pcmklatest]:"
        )
        for i, name in enumerate(galera):
            node = state["nodes"][name]
            role = "Master" if node["pacemaker"] in RESOURCE_STATES else "Stopped"
            where = f" {name}" if role == "Master" else ""
            lines.append(f"    * galera-bundle-{i}\t(ocf::heartbeat:galera):\t {role}{where}")
    for bundle, image, agent, run in (
        ("rabbitmq-bundle", "rabbitmq", "ocf::heartbeat:rabbitmq-cluster", "Started"),
        ("haproxy-bundle", "haproxy", "ocf::heartbeat:haproxy", "Started"),
    ):
        hosts = [n for n in members if f"{bundle}-podman-0" in state["nodes"][n]["containers"]]
        if not hosts:
            continue
        lines.append(f"  * Container bundle set: {bundle} [cluster.common.tag/{image}:pcmklatest]:")
        for i, name in enumerate(hosts):
            up = state["nodes"][name]["pacemaker"] in RESOURCE_STATES
            where = f"{run} {name}" if up else "Stopped"
            lines.append(f"    * {bundle}-{i}\t({agent}):\t {where}")
    lines += [
        "",
        "Daemon Status:",
        "  corosync: active/enabled",
        "  pacemaker: active/enabled",
        "  pcsd: active/enabled",
    ]
    return "\n".join(lines) + "\n"


def _node_stop(node: dict[str, Any]) -> None:
    node["pacemaker"] = "offline"
    node["online_at"] = None
    if node["galera"]:
        node["wsrep_state"] = "Disconnected"
        node["wsrep_desync"] = "OFF"


def _node_start(node: dict[str, Any], delay: float) -> None:
    if node["pacemaker"] == "online":
        return
    if delay > 0:
        node["pacemaker"] = "starting"
        node["online_at"] = time.time() + delay
        if node["galera"]:
            node["wsrep_state"] = "Joining: receiving State Transfer"
    else:
        node["pacemaker"] = "online"
        node["online_at"] = None
        if node["galera"]:
            node["wsrep_state"] = "Synced"
            node["wsrep_desync"] = "OFF"


def cmd_pcs(ctx: Ctx, args: list[str]) -> int:  # noqa: PLR0911, PLR0912
    words = [a for a in args if not a.startswith("-")]
    flags = [a for a in args if a.startswith("-")]
    with locked_state(ctx.lab_dir) as state:
        node = state["nodes"].get(ctx.host)
        member = bool(node and node["pacemaker_member"])
        if words[:1] == ["status"] or not words:
            if not member or node is None or node["pacemaker"] not in RUNNING_STATES:
                ctx.err(CRM_MON_ERROR)
                return 1
            ctx.out(pcs_status_text(state, state.get("cluster_name", "tripleo_cluster")))
            return 0
        if not member or node is None:
            ctx.err("Error: Unable to read /etc/corosync/corosync.conf: No such file or directory")
            return 1
        delay = float(state.get("rejoin_delay", 0.0))
        members = [v for v in state["nodes"].values() if v["pacemaker_member"]]
        if words[:2] == ["cluster", "stop"]:
            targets = members if "--all" in flags else [node]
            for target in targets:
                _node_stop(target)
            names = [n for n, v in state["nodes"].items() if v in targets]
            for name in names:
                ctx.out(f"{name}: Stopping Cluster (pacemaker)...")
            for name in names:
                ctx.out(f"{name}: Stopping Cluster (corosync)...")
            return 0
        if words[:2] == ["cluster", "start"]:
            targets = members if "--all" in flags else [node]
            for target in targets:
                _node_start(target, delay)
            for name in [n for n, v in state["nodes"].items() if v in targets]:
                ctx.out(f"{name}: Starting Cluster...")
            return 0
        if node["pacemaker"] != "online":
            ctx.err(CRM_MON_ERROR)
            return 1
        if words[:2] == ["cluster", "cib"]:
            xml = (
                '<cib crm_feature_set="3.7.1" validate-with="pacemaker-3.5" epoch="42">\n'
                f"  <configuration><nodes>{ctx.host}</nodes></configuration>\n</cib>\n"
            )
            if len(words) > 2:
                Path(words[2]).write_text(xml)
            else:
                ctx.out(xml)
            return 0
        if words[:2] == ["config", "backup"] and len(words) > 2:
            target = Path(words[2] + ".tar.bz2")
            import hashlib  # noqa: PLC0415

            target.write_bytes(b"BZh91AY&SY" + hashlib.sha256(ctx.host.encode()).digest() * 8)
            return 0
    ctx.err(f"Error: lab pcs does not simulate: pcs {' '.join(args)}")
    return 1


# --------------------------------------------------------------------------- crm_mon, crm_node

# Exit code and message of crm_mon and crm_node when the local pacemaker is not running:
# ENOTCONN/ECONNREFUSED map to CRM_EX_DISCONNECT = 102, "Not connected" (pacemaker 2.1
# lib/common/results.c); crm_mon's text is from tools/crm_mon.c, crm_node's from
# tools/crm_node.c (2.0.5) / lib/pacemaker/pcmk_cluster_queries.c (2.1).
NOT_CONNECTED = 102
CRM_MON_NOT_AVAILABLE = "crm_mon: Error: cluster is not available on this node"
CRM_NODE_NOT_CONNECTED = "error: Could not connect to controller: Connection refused"
PACEMAKER_API_VERSION = "2.32"  # pacemaker 2.1.7's newest xml/api schema


def _not_installed(ctx: Ctx, name: str) -> int:
    # A node outside the cluster has no pacemaker packages: `timeout` cannot run the tool
    # and exits 127 (coreutils timeout(1): "127 if COMMAND cannot be found").
    ctx.err(f"timeout: failed to run command '{name}': No such file or directory")
    return 127


_NODE_FLAGS = ("standby", "standby_onfail", "maintenance", "pending", "unclean")


def _node_element(state: State, host: str) -> str:
    """A <node> in pacemaker 2.1's attribute order (lib/pengine/pe_output.c, node_xml)."""
    node = state["nodes"][host]
    current = node["pacemaker"]
    flags = {
        "online": current in RUNNING_STATES,
        "standby": current == "standby",
        "standby_onfail": False,
        "maintenance": current == "maintenance",
        "pending": current == "starting",
        "unclean": False,
    }
    text = " ".join(f'{flag}="{str(value).lower()}"' for flag, value in flags.items())
    dc = host == _dc(state)
    return (
        f'    <node name="{pacemaker_name(state, host)}" id="{_node_id(state, host)}" {text}'
        f' health="green" feature_set="3.17.4" shutdown="false"'
        f' expected_up="{str(current != "offline").lower()}" is_dc="{str(dc).lower()}"'
        f' resources_running="{len(node["containers"]) if current in RESOURCE_STATES else 0}"'
        ' type="member"/>'
    )


def _node_id(state: State, host: str) -> int:
    return sorted(state["nodes"]).index(host) + 1


def _members(state: State) -> list[str]:
    return sorted(n for n, v in state["nodes"].items() if v["pacemaker_member"])


def _dc(state: State) -> str | None:
    online = [n for n in _members(state) if state["nodes"][n]["pacemaker"] in RUNNING_STATES]
    return online[0] if online else None


def crm_mon_xml(state: State, request: str) -> str:
    """`crm_mon --output-as=xml` in the shape of pacemaker 2.1.7's regression.crm_mon.exp.

    Bundle replicas appear as guest nodes (type="remote"), as on a TripleO controller.
    """
    members = _members(state)
    dc = _dc(state)
    if dc is None:
        dc_line = '    <current_dc present="false"/>'
    else:
        dc_line = (
            f'    <current_dc present="true" version="2.1.7-5.el9-0f7f88312" '
            f'name="{pacemaker_name(state, dc)}" id="{_node_id(state, dc)}" '
            f'with_quorum="{str(_quorum(state, members)).lower()}" mixed_version="false"/>'
        )
    maintenance = str(bool(state.get("maintenance_mode"))).lower()
    lines = [
        f'<pacemaker-result api-version="{PACEMAKER_API_VERSION}" request="{request}">',
        "  <summary>",
        '    <stack type="corosync" pacemakerd-state="running"/>',
        dc_line,
        f'    <nodes_configured number="{len(members)}"/>',
        '    <cluster_options stonith-enabled="true" symmetric-cluster="true" '
        f'no-quorum-policy="stop" maintenance-mode="{maintenance}" stop-all-resources="false"/>',
        "  </summary>",
        "  <nodes>",
        *(_node_element(state, host) for host in members),
    ]
    galera = [n for n in members if state["nodes"][n]["galera"]]
    for index, host in enumerate(galera):
        up = str(state["nodes"][host]["pacemaker"] in RESOURCE_STATES).lower()
        lines.append(
            f'    <node name="galera-bundle-{index}" id="galera-bundle-{index}" online="{up}" '
            'standby="false" standby_onfail="false" maintenance="false" pending="false" '
            'unclean="false" health="green" shutdown="false" expected_up="false" is_dc="false" '
            f'resources_running="{1 if up == "true" else 0}" type="remote" '
            f'id_as_resource="galera-bundle-podman-{index}"/>'
        )
    lines += ["  </nodes>", '  <status code="0" message="OK"/>', "</pacemaker-result>"]
    return "\n".join(lines) + "\n"


def crm_mon_not_connected(request: str) -> str:
    """crm_mon's XML result when pacemaker is stopped here (lib/common/output_xml.c)."""
    return (
        f'<pacemaker-result api-version="{PACEMAKER_API_VERSION}" request="{request}">\n'
        f'  <status code="{NOT_CONNECTED}" message="Not connected">\n'
        f"    <errors>\n      <error>{CRM_MON_NOT_AVAILABLE}</error>\n    </errors>\n"
        "  </status>\n</pacemaker-result>\n"
    )


def cmd_crm_mon(ctx: Ctx, args: list[str]) -> int:
    """`crm_mon -1|--one-shot [-r|--inactive] --output-as=xml|--as-xml`; text: `pcs status`'s."""
    known = {"-1", "--one-shot", "-r", "--inactive", "--output-as=xml", "--as-xml", "-X"}
    if set(args) - known:
        ctx.err(f"crm_mon: lab crm_mon does not simulate: {' '.join(args)}")
        return 1
    request = " ".join(["crm_mon", *args])
    with locked_state(ctx.lab_dir) as state:
        node = state["nodes"].get(ctx.host)
        if node is None or not node["pacemaker_member"]:
            return _not_installed(ctx, "crm_mon")
        running = node["pacemaker"] in RUNNING_STATES
        if "--output-as=xml" in args:
            ctx.out(crm_mon_xml(state, request) if running else crm_mon_not_connected(request))
        elif not running:  # legacy and text output: the error on stderr
            ctx.err(CRM_MON_NOT_AVAILABLE)
        elif "--as-xml" in args or "-X" in args:
            xml = crm_mon_xml(state, request).splitlines()
            ctx.out("\n".join(['<crm_mon version="2.1.7">', *xml[1:-2], "</crm_mon>"]))
        else:
            ctx.out(pcs_status_text(state).split("\n", 1)[1])
    return 0 if running else NOT_CONNECTED


def cmd_crm_node(ctx: Ctx, args: list[str]) -> int:
    """`crm_node -n|--name`: the node's pacemaker name, asked of the local controller."""
    if args not in (["-n"], ["--name"]):
        ctx.err(f"crm_node: lab crm_node does not simulate: {' '.join(args)}")
        return 1
    with locked_state(ctx.lab_dir) as state:
        node = state["nodes"].get(ctx.host)
        if node is None or not node["pacemaker_member"]:
            return _not_installed(ctx, "crm_node")
        if node["pacemaker"] not in RUNNING_STATES:
            ctx.err(CRM_NODE_NOT_CONNECTED)
            return NOT_CONNECTED
        ctx.out(pacemaker_name(state, ctx.host))
    return 0


# --------------------------------------------------------------------------- podman


def cmd_podman(ctx: Ctx, args: list[str]) -> int:
    if not args:
        ctx.err("Error: missing command 'podman COMMAND'")
        return 125
    sub, rest = args[0], args[1:]
    if sub == "ps":
        return _podman_ps(ctx, rest)
    if sub in ("pause", "unpause"):
        return _podman_pause(ctx, sub, rest)
    if sub == "exec":
        return _podman_exec(ctx, rest)
    ctx.err(f"Error: lab podman does not simulate: podman {' '.join(args)}")
    return 125


def _podman_ps(ctx: Ctx, args: list[str]) -> int:  # noqa: PLR0912
    show_all = "-a" in args or "--all" in args
    quiet = "-q" in args or "--quiet" in args
    table = not any(a == "--format" or a.startswith("--format=") for a in args)
    wanted: str | None = None
    name_filter: str | None = None
    for i, arg in enumerate(args):
        value = None
        if arg in ("--filter", "-f") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--filter="):
            value = arg.split("=", 1)[1]
        if value is None:
            continue
        value = value.strip("'\"")
        if value.startswith("status="):
            wanted = value.split("=", 1)[1]
        elif value.startswith("name="):
            name_filter = value.split("=", 1)[1]
    with locked_state(ctx.lab_dir) as state:
        node = state["nodes"].get(ctx.host, {"containers": {}, "pacemaker": "offline"})
        rows = [(name, container_status(node, name)) for name in sorted(node["containers"])]
    if table and not quiet:
        ctx.out("CONTAINER ID  IMAGE  COMMAND  CREATED  STATUS  PORTS  NAMES")
    for name, status in rows:
        if status == "exited" and not show_all and wanted is None:
            continue
        if wanted is not None and status != wanted:
            continue
        if name_filter is not None and not re.search(name_filter, name):
            continue
        if quiet:
            ctx.out(container_id(name))
        elif table:
            shown = {"running": "Up 3 days ago", "paused": "Paused", "exited": "Exited (0)"}
            ctx.out(
                f"{container_id(name)}  cluster.common.tag/{name.split('-')[0]}:pcmklatest"
                f"  kolla_start  3 days ago  {shown.get(status or '', status)}"
                f"{' ' * 8}{name}"
            )
        else:
            ctx.out(name)
    return 0


def _podman_pause(ctx: Ctx, sub: str, names: list[str]) -> int:
    names = [n for n in names if not n.startswith("-")]
    code = 0
    with locked_state(ctx.lab_dir) as state:
        node = state["nodes"].get(ctx.host, {"containers": {}, "pacemaker": "offline"})
        for name in names:
            status = container_status(node, name)
            if status is None:
                ctx.err(f'Error: no container with name or ID "{name}" found: no such container')
                code = 125
            elif sub == "pause" and status != "running":
                ctx.err(f'Error: "{name}" is not running, can\'t pause: container state improper')
                code = 125
            elif sub == "unpause" and status != "paused":
                ctx.err(f'Error: "{name}" is not paused, can\'t unpause: container state improper')
                code = 125
            else:
                node["containers"][resolve_container(node, name)] = (
                    "paused" if sub == "pause" else "running"
                )
                ctx.out(name)
    return code


def _podman_exec(ctx: Ctx, args: list[str]) -> int:  # noqa: PLR0911
    i = 0
    with_value = {"-e", "--env", "-u", "--user", "-w", "--workdir", "--env-file"}
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in with_value else 1
    if i >= len(args):
        ctx.err("Error: must provide a non-empty command to start an exec session")
        return 125
    container, inner = args[i], args[i + 1 :]
    with locked_state(ctx.lab_dir) as state:
        node = state["nodes"].get(ctx.host, {"containers": {}, "pacemaker": "offline"})
        status = container_status(node, container)
    if status is None:
        ctx.err(f'Error: no container with name or ID "{container}" found: no such container')
        return 125
    if status == "paused":
        ctx.err(f"Error: cannot exec into paused container {container}: container state improper")
        return 126
    if status != "running":
        ctx.err(
            "Error: can only create exec sessions on running containers: container state improper"
        )
        return 125
    if not inner:
        ctx.err("Error: must provide a non-empty command to start an exec session")
        return 125
    name = os.path.basename(inner[0])
    if name not in HANDLERS or name == "podman":
        ctx.err(
            f"Error: crun: executable file `{inner[0]}` not found in $PATH: "
            "No such file or directory: OCI runtime attempted to invoke a command that was "
            "not found"
        )
        return 127
    apply_fault(ctx.lab_dir, ctx.host, [name, *inner[1:]])
    return HANDLERS[name](ctx, inner[1:])


# --------------------------------------------------------------------------- hiera


def cmd_hiera(ctx: Ctx, args: list[str]) -> int:
    keys: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("-c", "--config"):
            skip = True
            continue
        if arg.startswith("-"):
            continue
        keys.append(arg)
    with locked_state(ctx.lab_dir) as state:
        hiera: dict[str, Any] = dict(state["hiera"])
        hiera.update(state["nodes"].get(ctx.host, {}).get("hiera", {}))
    for key in keys[:1]:
        value = hiera.get(key)
        if value is None:
            ctx.out("nil")
        elif isinstance(value, str):
            ctx.out(value)
        else:
            ctx.out(json.dumps(value))
    return 0


# --------------------------------------------------------------------------- mysql


def _mysql_options(args: list[str]) -> tuple[dict[str, str], list[str], set[str]]:
    """Parse mysql/mysqldump options: (valued options, positionals, flags)."""
    values: dict[str, str] = {}
    positional: list[str] = []
    flags: set[str] = set()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            values[key] = value
        elif arg in ("-e", "--execute", "-u", "--user", "-h", "--host"):
            key = {"-e": "execute", "-u": "user", "-h": "host"}.get(arg, arg[2:])
            values[key] = args[i + 1] if i + 1 < len(args) else ""
            i += 1
        elif arg.startswith("-p") and len(arg) > 2:
            values["password"] = arg[2:]
        elif arg.startswith("-u") and len(arg) > 2:
            values["user"] = arg[2:]
        elif arg.startswith("--"):
            flags.add(arg[2:])
        elif arg.startswith("-"):
            flags.update(arg[1:])
        else:
            positional.append(arg)
        i += 1
    return values, positional, flags


def _read_password(ctx: Ctx, values: dict[str, str]) -> str | None:
    if "password" in values:
        return values["password"]
    path = values.get("defaults-extra-file") or values.get("defaults-file")
    if not path:
        return None
    try:
        text = sys.stdin.read() if path in ("/dev/stdin", "-") else Path(path).read_text()
    except OSError:
        return None
    import configparser  # noqa: PLC0415
    import io  # noqa: PLC0415

    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_file(io.StringIO(text))
    except configparser.Error:
        return None
    for section in ("client", "mysql", "mysqldump"):
        if parser.has_option(section, "password"):
            return parser.get(section, "password").strip().strip("'\"")
    return None


def _mysql_auth(ctx: Ctx, values: dict[str, str], state: State) -> int | None:
    password = _read_password(ctx, values)
    if password != state["hiera"].get("mysql::server::root_password"):
        ctx.err(ACCESS_DENIED.format("YES" if password else "NO"))
        return 1
    node = state["nodes"].get(ctx.host)
    if node is not None and node["galera"] and node["pacemaker"] not in RESOURCE_STATES:
        ctx.err(NO_SERVER)
        return 1
    return None


def cmd_mysql(ctx: Ctx, args: list[str]) -> int:  # noqa: PLR0912
    values, _positional, flags = _mysql_options(args)
    header = not ({"N", "skip-column-names"} & flags)
    query = values.get("execute", "")
    with locked_state(ctx.lab_dir) as state:
        denied = _mysql_auth(ctx, values, state)
        if denied is not None:
            return denied
        node = state["nodes"].get(ctx.host, {})
        galera_nodes = [
            v for v in state["nodes"].values() if v["galera"] and v["pacemaker"] in RESOURCE_STATES
        ]
        for statement in [s.strip() for s in query.split(";") if s.strip()]:
            lowered = statement.lower()
            setting = re.search(r"set\s+global\s+wsrep_desync\s*=\s*'?(on|off|1|0)'?", lowered)
            if setting:
                if node.get("galera"):
                    node["wsrep_desync"] = "ON" if setting.group(1) in ("on", "1") else "OFF"
                else:
                    ctx.err("ERROR 1193 (HY000) at line 1: Unknown system variable 'wsrep_desync'")
                    return 1
            elif any(name in lowered for name in WSREP_STATUS):
                if not node.get("galera"):
                    continue
                if header:
                    ctx.out("Variable_name\tValue")
                ctx.out(f"wsrep_local_state_comment\t{node['wsrep_state']}")
                ctx.out(f"wsrep_cluster_size\t{len(galera_nodes)}")
                if "wsrep_incoming_addresses" in lowered:
                    ctx.out(f"wsrep_incoming_addresses\t{_incoming_addresses(galera_nodes)}")
            elif "wsrep_desync" in lowered:
                value = node.get("wsrep_desync", "OFF")
                if lowered.startswith("show"):
                    if header:
                        ctx.out("Variable_name\tValue")
                    ctx.out(f"wsrep_desync\t{value}")
                else:
                    if header:
                        ctx.out("@@wsrep_desync")
                    ctx.out(value)
            elif "information_schema.tables" in lowered:
                if header:
                    ctx.out("table_schema")
                for name in DATABASES:
                    ctx.out(name)
            elif "mysql.user" in lowered:
                # `mysql -N -B -e "SELECT user, host FROM mysql.user ..."`: one tab-separated
                # row per account, the select list as header without -N (mysql(1) --batch).
                if header:
                    ctx.out("user\thost")
                for user, host in _accounts(node):
                    ctx.out(f"{user}\t{host}")
            elif lowered.startswith("show grants for"):
                found = _grants(node, statement)
                if found is None:
                    ctx.err("ERROR 1141 (42000) at line 1: There is no such grant defined for user")
                    return 1
                if header:
                    ctx.out("Grants for account")
                for line in found:
                    ctx.out(line)
    return 0


def _incoming_addresses(galera_nodes: list[dict[str, Any]]) -> str:
    """`wsrep_incoming_addresses` as MariaDB galera reports it: every member of the component,
    `address:port`, comma-separated (e.g. `192.168.0.2:3307,192.168.0.3:3307,192.168.0.7:3307`).
    Each member's address is its wsrep_node_incoming_address; TripleO leaves that AUTO, and
    MariaDB then takes bind-address and the port (sql/wsrep_mysqld.cc
    wsrep_server_incoming_address, MDEV-20627), so the lab answers the hiera bind_address."""
    addresses = []
    for node in galera_nodes:
        bind = node.get("hiera", {}).get(BIND_ADDRESS_KEY)
        if isinstance(bind, str):
            addresses.append(f"{bind}:3306")
    return ",".join(addresses)


def _accounts(node: dict[str, Any]) -> list[tuple[str, str]]:
    configured = node.get("mysql_accounts")
    if configured is not None:
        return [(str(user), str(host)) for user, host in configured]
    return [("root", "localhost"), *((name, "%") for name in DATABASES)]


def _grants(node: dict[str, Any], statement: str) -> list[str] | None:
    """`SHOW GRANTS FOR 'u'@'h'` as MariaDB answers it; None for an unknown account (1141)."""
    match = re.search(r"for\s+'([^']*)'@'([^']*)'", statement, re.IGNORECASE)
    if match is None or (match.group(1), match.group(2)) not in _accounts(node):
        return None
    user, host = match.groups()
    if user == "root":
        return [f"GRANT ALL PRIVILEGES ON *.* TO `root`@`{host}` WITH GRANT OPTION"]
    import hashlib  # noqa: PLC0415

    digest = hashlib.sha1(user.encode()).hexdigest().upper()  # noqa: S324
    return [
        f"GRANT USAGE ON *.* TO `{user}`@`{host}` IDENTIFIED BY PASSWORD '*{digest}'",
        f"GRANT ALL PRIVILEGES ON `{user}`.* TO `{user}`@`{host}`",
    ]


def cmd_mysqldump(ctx: Ctx, args: list[str]) -> int:
    values, positional, flags = _mysql_options(args)
    with locked_state(ctx.lab_dir) as state:
        denied = _mysql_auth(ctx, values, state)
        if denied is not None:
            return denied
        node = dict(state["nodes"][ctx.host])
    names = list(DATABASES) if "all-databases" in flags or "A" in flags else positional
    out = [
        "-- MySQL dump 10.19  Distrib 10.3.32-MariaDB, for Linux (x86_64)",
        "--",
        f"-- Host: localhost    Database: {' '.join(names)}",
        "-- ------------------------------------------------------",
        "-- Server version\t10.3.32-MariaDB",
        f"-- lab dump of {ctx.host}: databases {' '.join(names)}",
    ]
    for name in names:
        out += [
            "",
            f"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `{name}`;",
            f"USE `{name}`;",
            f"CREATE TABLE `{name}_lab` (`id` int(11) NOT NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB;",
            f"INSERT INTO `{name}_lab` VALUES (1),(2),(3);",  # noqa: S608
        ]
    # client/mysqldump.c write_footer: "-- Dump completed on %s" (--dump-date, the default);
    # a node field set false leaves it out, as a dump cut short does.
    if node.get("mysqldump_trailer", True):
        out.append(f"-- Dump completed on {time.strftime('%Y-%m-%d %H:%M:%S')}")
    ctx.out("\n".join(out))
    return 0


# --------------------------------------------------------------------------- ceph


def _keyring(host: str) -> str:
    import hashlib  # noqa: PLC0415

    key = hashlib.sha256(f"ceph-{host}".encode()).hexdigest()[:40]
    return (
        "[client.admin]\n"
        f"\tkey = AQ{key}==\n"
        '\tcaps mds = "allow *"\n\tcaps mgr = "allow *"\n'
        '\tcaps mon = "allow *"\n\tcaps osd = "allow *"\n'
        f'[mon.]\n\tkey = AQ{key[::-1]}==\n\tcaps mon = "allow *"\n'
    )


def cmd_ceph(ctx: Ctx, args: list[str]) -> int:
    words = [a for a in args if not a.startswith("-")]
    if "auth" in words and "export" in words:
        ctx.out(_keyring(ctx.host))
        return 0
    if words[:1] in (["-s"], ["status"]) or "-s" in args:
        ctx.out(
            "  cluster:\n    id:     4b5c8c0a-ff60-454b-a1b4-9747aa737d19\n    health: HEALTH_OK\n"
        )
        return 0
    ctx.err(f"lab ceph does not simulate: ceph {' '.join(args)}")
    return 1


def cmd_cephadm(ctx: Ctx, args: list[str]) -> int:
    if "--" in args:
        inner = args[args.index("--") + 1 :]
        if inner and inner[0] == "ceph":
            return cmd_ceph(ctx, inner[1:])
        ctx.err("lab cephadm shell only runs ceph")
        return 1
    if args[:1] == ["ls"]:
        with locked_state(ctx.lab_dir) as state:
            ctx.out(str(state.get("cephadm_ls", "[]")))
        return 0
    ctx.err(f"lab cephadm does not simulate: cephadm {' '.join(args)}")
    return 1


# --------------------------------------------------------------------------- systemctl


def cmd_systemctl(ctx: Ctx, args: list[str]) -> int:
    words = [a for a in args if not a.startswith("-")]
    if not words:
        ctx.err("lab systemctl: missing verb")
        return 1
    verb, units = words[0], words[1:]
    with locked_state(ctx.lab_dir) as state:
        node = state["nodes"].get(ctx.host, {"ceph_units": {}})
        known: dict[str, str] = node["ceph_units"]

        def matches(pattern: str) -> list[str]:
            if pattern in {"ceph.target", "ceph*.target"}:
                return list(known)
            bare = [u for u in known if fnmatch.fnmatch(u, pattern)]
            svc = [u for u in known if fnmatch.fnmatch(u + ".service", pattern)]
            return sorted(set(bare + svc))

        if verb in ("stop", "start", "restart"):
            for pattern in units:
                found = matches(pattern)
                if not found and not any(c in pattern for c in "*?["):
                    unit = pattern if "." in pattern else pattern + ".service"
                    ctx.err(f"Failed to {verb} {unit}: Unit {unit} not found.")
                    return 5
                for unit in found:
                    known[unit] = "inactive" if verb == "stop" else "active"
            return 0
        if verb == "is-active":
            code = 0
            for pattern in units:
                found = matches(pattern)
                active = bool(found) and all(known[u] == "active" for u in found)
                ctx.out("active" if active else "inactive")
                if not active:
                    code = 3
            return code
    ctx.err(f"lab systemctl does not simulate: systemctl {' '.join(args)}")
    return 1


# --------------------------------------------------------------------------- clustercheck


def cmd_clustercheck(ctx: Ctx, args: list[str]) -> int:
    with locked_state(ctx.lab_dir) as state:
        node = state["nodes"].get(ctx.host)
        ok = bool(
            node
            and node["galera"]
            and node["pacemaker"] in RESOURCE_STATES
            and node["wsrep_state"] == "Synced"
            and node["wsrep_desync"] == "OFF"
        )
    if ok:
        ctx.out(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            "Content-Length: 32\r\n\r\nGalera cluster node is synced.\r\n"
        )
        return 0
    ctx.out(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
        "Connection: close\r\nContent-Length: 36\r\n\r\nGalera cluster node is not synced.\r\n"
    )
    return 1


# --------------------------------------------------------------------------- rear


def rear_host(state: State, host: str) -> rear_standin.RearHost:
    """This node's ReaR as the lab state configures it (version, archive size, target, sftp)."""
    from lab import rear_iso, rear_standin  # noqa: PLC0415 (lazy: see the imports above)

    rear = state["rear"]
    backup_host = state["backup_host"]
    lab_dir = Path(state["export_dir"]).parent
    return rear_standin.RearHost(
        version=rear["versions"].get(host, rear["version"]),
        archive_size=rear["archive_sizes"].get(host),
        target=rear_iso.LabTarget(
            address=state["addresses"].get(backup_host),
            down=backup_host in state["down_hosts"],
            export_path=state["export_path"],
            export_directory=Path(state["export_dir"]),
        ),
        sftp=rear_standin.SftpServer(rear["sftp_accounts"], bool(rear["sftp_check_host_key"])),
        home=Path(os.environ.get("HOME") or lab_dir / "hosts" / host / "home"),
        var_lib_rear=Path("/var/lib/rear"),
        fault=rear.get("faults", {}).get(host, ""),
    )


def cmd_rear(ctx: Ctx, args: list[str]) -> int:
    """`rear`, as real ReaR reads its configuration and places its results (lab/rear_standin.py)."""
    with locked_state(ctx.lab_dir) as state:
        host = rear_host(state, ctx.host)
    from lab import rear_standin  # noqa: PLC0415

    return rear_standin.main(ctx, args, host)


# --------------------------------------------------------------------------- df


def cmd_df(ctx: Ctx, args: list[str]) -> int:
    """`df -B1 --output=avail DIR` on a host given a value by `lab.set_free_space` prints it as
    coreutils does (a right-aligned `Avail` header, then the number, src/df.c); any other call
    is the real df, which measures the machine's own filesystem."""
    with locked_state(ctx.lab_dir) as state:
        free = state.get("free_bytes", {}).get(ctx.host)
    if free is None or args[:2] != ["-B1", "--output=avail"] or len(args) != 3:
        real = next(p for p in ("/usr/bin/df", "/bin/df") if Path(p).exists())
        os.execv(real, [real, *args])  # noqa: S606
    width = max(len("Avail"), len(str(free)))
    ctx.out(f"{'Avail':>{width}}\n{free:>{width}}")
    return 0


HANDLERS: dict[str, Callable[[Ctx, list[str]], int]] = {
    "rear": cmd_rear,
    "pcs": cmd_pcs,
    "podman": cmd_podman,
    "hiera": cmd_hiera,
    "mysql": cmd_mysql,
    "mysqldump": cmd_mysqldump,
    "ceph": cmd_ceph,
    "cephadm": cmd_cephadm,
    "clustercheck": cmd_clustercheck,
    "systemctl": cmd_systemctl,
    "crm_mon": cmd_crm_mon,
    "crm_node": cmd_crm_node,
    "df": cmd_df,
}
# Imported on first use (see the imports above): module name of each such stand-in's handler.
LAZY_HANDLERS = {
    **dict.fromkeys(("rpm", "dnf", "exportfs", "showmount", "findmnt", "ssh"), "setup_standins"),
    **dict.fromkeys(("blkid", "dd"), "device_standins"),
}


def handler(name: str) -> Callable[[Ctx, list[str]], int] | None:
    """The stand-in's handler; the setup and device ones take the state's lock function."""
    if name in HANDLERS:
        return HANDLERS[name]
    if name not in LAZY_HANDLERS:
        return None
    import importlib  # noqa: PLC0415

    module = importlib.import_module(f"lab.{LAZY_HANDLERS[name]}")
    return functools.partial(getattr(module, f"cmd_{name}"), locked=locked_state)


def main(argv: list[str]) -> int:
    """Entry point: ``standin.py NAME ARGS...``."""
    if len(argv) < 2 or (run := handler(argv[1])) is None:
        sys.stderr.write("usage: standin.py NAME ARGS...\n")
        return 2
    lab_dir = Path(os.environ.get("BARCTL_LAB_DIR", ""))
    host = os.environ.get("BARCTL_LAB_HOST", "")
    if not lab_dir.is_absolute() or not host:
        sys.stderr.write(f"{argv[1]}: BARCTL_LAB_DIR / BARCTL_LAB_HOST not set (lab stand-in)\n")
        return 127
    name, args = argv[1], argv[2:]
    record(lab_dir, host, [name, *args])
    apply_fault(lab_dir, host, [name, *args])
    return run(Ctx(lab_dir, host), args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
