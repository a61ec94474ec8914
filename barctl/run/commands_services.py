"""The commands for a node's services around a backup: galera/MySQL (status, dumps, grants,
desync), pacemaker, ceph monitors and containers.

Pure. MySQL's password travels on stdin (`commands.mysql_option_file`), never in argv.
"""

from __future__ import annotations

from barctl.run.commands import RemoteCommand, mysql_option_file

OPTION_FILE = "--defaults-extra-file=/dev/stdin"
# The vendor role stops pacemaker with a one-hour request timeout (tripleo.md §2b).
PCS_REQUEST_TIMEOUT_SECONDS = 3600


# The node's own state, and the cluster's view shared by every member of its component: the
# size and each member's client address (MariaDB: `wsrep_incoming_addresses`, "ip:port,...",
# each member's wsrep_node_incoming_address; AUTO, TripleO's, derives it from bind-address).
GALERA_STATUS_QUERY = (
    "SHOW GLOBAL STATUS WHERE Variable_name IN "
    "('wsrep_local_state_comment','wsrep_cluster_size','wsrep_incoming_addresses')"
)
GALERA_BIND_ADDRESS_KEY = "tripleo::profile::pacemaker::database::mysql::bind_address"
# One read-only exec for the cluster's view from one node: crm_mon's XML, then (when a galera
# container is named) its galera status, each followed by a marker line with its exit status.
# crm_mon gets /dev/null so that mysql alone reads the option file on stdin.
VIEW_MARKER = "@@barctl-exit"
_CLUSTER_VIEW = (
    f'crm_mon --one-shot --inactive --output-as=xml </dev/null; echo "{VIEW_MARKER} crm_mon $?"; '
    'if [ -n "$1" ]; then podman exec -i "$1" mysql --defaults-extra-file=/dev/stdin -N -B '
    f'-e "$2"; echo "{VIEW_MARKER} mysql $?"; fi'
)


def galera_status(container: str, password: str, timeout_seconds: int) -> RemoteCommand:
    """Galera state, cluster size and members' addresses on this node, tab-separated lines."""
    return _mysql_query("galera_status", container, GALERA_STATUS_QUERY, password, timeout_seconds)


def cluster_view(container: str | None, password: str, timeout_seconds: int) -> RemoteCommand:
    """Pacemaker's XML and, with `container`, galera's status, from one node in one exec.

    Read-only: the engine's checks before and after a node ask one peer this, not every node.
    """
    argv = (
        "bash",
        "-c",
        _CLUSTER_VIEW,
        "barctl-cluster-view",
        container or "",
        GALERA_STATUS_QUERY,
    )
    stdin = mysql_option_file(password) if container else None
    return RemoteCommand("cluster_view", argv, timeout_seconds, stdin=stdin)


def database_dump(
    container: str, databases: tuple[str, ...], password: str, path: str, timeout_seconds: int
) -> RemoteCommand:
    """Consistent InnoDB dump (--single-transaction) of the given databases, or all of them."""
    selection = ("--databases", *databases) if databases else ("--all-databases",)
    argv = _mysql_in(
        container, "mysqldump", OPTION_FILE, "--single-transaction", "--routines", *selection
    )
    return RemoteCommand(
        "database_dump", argv, timeout_seconds, True, mysql_option_file(password), path
    )


def database_names(container: str, password: str, timeout_seconds: int) -> RemoteCommand:
    """InnoDB schemas other than `mysql`, as the vendor role selects them (tripleo.md §2b)."""
    query = (
        "SELECT DISTINCT table_schema FROM information_schema.tables "
        "WHERE engine='innodb' AND table_schema != 'mysql'"
    )
    return _mysql_query("database_names", container, query, password, timeout_seconds)


def database_accounts(container: str, password: str, timeout_seconds: int) -> RemoteCommand:
    """Local, wildcard and IP accounts whose grants are saved, root included (LP#1952099).

    The vendor filter: FQDN hosts of TLS-everywhere users broke the dump with ERROR 1141.
    """
    query = (
        "SELECT user, host FROM mysql.user WHERE length(user) > 0 AND (host='localhost' "
        "OR host='%' OR IS_IPV4(host) OR IS_IPV6(host))"
    )
    return _mysql_query("database_accounts", container, query, password, timeout_seconds)


def _mysql_query(
    name: str, container: str, query: str, password: str, timeout_seconds: int
) -> RemoteCommand:
    """A read-only query, tab-separated without headers; the password on stdin."""
    argv = _mysql_in(container, "mysql", OPTION_FILE, "-N", "-B", "-e", query)
    return RemoteCommand(name, argv, timeout_seconds, stdin=mysql_option_file(password))


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def grants_dump(
    container: str,
    accounts: tuple[tuple[str, str], ...],
    password: str,
    path: str,
    timeout_seconds: int,
) -> RemoteCommand:
    """The grant statements of `accounts`, each terminated by `;` so the file can be replayed."""
    query = " ".join(
        f"SHOW GRANTS FOR {_sql_string(user)}@{_sql_string(host)};" for user, host in accounts
    )
    argv = _mysql_in(container, "mysql", OPTION_FILE, "-N", "-B", "-e", query)
    return RemoteCommand(
        "grants_dump",
        argv,
        timeout_seconds,
        True,
        mysql_option_file(password),
        path,
        ("sed", "s/$/;/"),
    )


def galera_desync(
    container: str, enable: bool, password: str, timeout_seconds: int
) -> RemoteCommand:
    """Take this galera node out of flow control while it is dumped (LP#1934654)."""
    value = "ON" if enable else "OFF"
    argv = _mysql_in(container, "mysql", OPTION_FILE, "-e", f"SET GLOBAL wsrep_desync = {value}")
    name = "galera_desync_on" if enable else "galera_desync_off"
    return RemoteCommand(name, argv, timeout_seconds, True, mysql_option_file(password))


def pacemaker_config_backup(prefix: str, timeout_seconds: int) -> RemoteCommand:
    """`pcs config backup`, restorable with `pcs config restore` (writes PREFIX.tar.bz2)."""
    argv = ("pcs", "config", "backup", prefix)
    # pcs writes its tarball with the caller's umask (root's 022: world-readable otherwise).
    return RemoteCommand("pacemaker_config_backup", argv, timeout_seconds, True, private=True)


def pacemaker_cib(path: str, timeout_seconds: int) -> RemoteCommand:
    """Save the cluster information base to `path`."""
    argv = ("pcs", "cluster", "cib", path)
    return RemoteCommand("pacemaker_cib", argv, timeout_seconds, True, private=True)


def ceph_auth_export(host: str, path: str, timeout_seconds: int) -> RemoteCommand:
    """Export every ceph auth entity from the node's monitor container."""
    argv = ("podman", "exec", f"ceph-mon-{host}", "ceph", "--cluster", "ceph", "auth", "export")
    return RemoteCommand("ceph_auth_export", argv, timeout_seconds, True, stdout_path=path)


def ceph_units(host: str) -> tuple[str, ...]:
    """The colocated ceph monitor and manager units of a ceph-ansible controller."""
    return (f"ceph-mon@{host}", f"ceph-mgr@{host}")


def ceph_stop(host: str, timeout_seconds: int) -> RemoteCommand:
    """Stop the colocated ceph monitor and manager before ReaR (tripleo.md §2b)."""
    argv = ("systemctl", "stop", *ceph_units(host))
    return RemoteCommand("ceph_stop", argv, timeout_seconds, True)


def ceph_start(host: str, timeout_seconds: int) -> RemoteCommand:
    """Start the colocated ceph monitor and manager again."""
    argv = ("systemctl", "start", *ceph_units(host))
    return RemoteCommand("ceph_start", argv, timeout_seconds, True)


def pcs_cluster_stop(timeout_seconds: int, *, every_node: bool = False) -> RemoteCommand:
    """Stop pacemaker on this node (or on all with `every_node`)."""
    scope = ("--all",) if every_node else ()
    argv = ("pcs", "cluster", "stop", *scope, f"--request-timeout={PCS_REQUEST_TIMEOUT_SECONDS}")
    name = "pcs_cluster_stop_all" if every_node else "pcs_cluster_stop"
    return RemoteCommand(name, argv, timeout_seconds, True)


def pcs_cluster_start(timeout_seconds: int, *, every_node: bool = False) -> RemoteCommand:
    """Start pacemaker on this node (or on all with `every_node`)."""
    scope = ("--all",) if every_node else ()
    name = "pcs_cluster_start_all" if every_node else "pcs_cluster_start"
    return RemoteCommand(name, ("pcs", "cluster", "start", *scope), timeout_seconds, True)


def pause_containers(names: tuple[str, ...], timeout_seconds: int) -> RemoteCommand:
    """Freeze the given containers so the offline backup sees quiet services (guide ch. 3)."""
    return RemoteCommand("pause_containers", ("podman", "pause", *names), timeout_seconds, True)


def unpause_containers(names: tuple[str, ...], timeout_seconds: int) -> RemoteCommand:
    """Resume exactly the containers this run paused."""
    argv = ("podman", "unpause", *names)
    return RemoteCommand("unpause_containers", argv, timeout_seconds, True)


def _mysql_in(container: str, *argv: str) -> tuple[str, ...]:
    # -i keeps podman's stdin open so the option file reaches the client inside the container.
    return ("podman", "exec", "-i", container, *argv)
