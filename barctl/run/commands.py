"""Every command barctl sends to a node, built as an argv tuple, and the one way it is rendered.

Pure: no I/O. `remote.py` is the only module that sends what `render` returns.

Why the wrapping (ecosystem.md §2.4): a client-side timeout only closes the SSH channel and the
remote process keeps running, so every command runs under coreutils `timeout --kill-after`, set a
little below the client's own timeout. `sudo -n` comes first so that `timeout` runs as root and can
kill a root process; `-n` fails at once instead of waiting on a password prompt.
Secrets (the MySQL root password) travel on stdin as a `[client]` option file read by
`--defaults-extra-file=/dev/stdin`, never in argv: the vendor role put `-p<password>` on the
command line, visible in `ps` and in logs (tripleo.md §8).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from barctl.history import records
from barctl.model import CommandResult, Firmware
from barctl.run import rear_capability, rear_config

KILL_AFTER_SECONDS = 30
HIERA_CONFIG = "/etc/puppet/hiera.yaml"
MYSQL_PASSWORD_KEY = "mysql::server::root_password"  # noqa: S105 (a hiera key name)
NODE_RUN_DIRECTORY = "/var/lib/barctl"
REAR_OUTPUT_DIRECTORY = "/var/lib/rear/output"
OPTION_FILE = "--defaults-extra-file=/dev/stdin"
# The vendor role stops pacemaker with a one-hour request timeout (tripleo.md §2b).
PCS_REQUEST_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True)
class RemoteCommand:
    """One command for one node: argv, limits, and whether it changes the node's state."""

    name: str
    argv: tuple[str, ...]
    timeout_seconds: int
    changes_state: bool = False
    stdin: str | None = None
    stdout_path: str | None = None
    stdout_filter: tuple[str, ...] = ()
    # Run under `umask 077` (through bash): for tools that create files with the caller's umask.
    private: bool = False

    def describe(self) -> str:
        """Human-readable form for plans and logs: argv and redirections, never stdin content."""
        text = shlex.join(self.argv)
        if self.stdout_filter:
            text += " | " + shlex.join(self.stdout_filter)
        if self.stdout_path:
            text += " > " + shlex.quote(self.stdout_path)
        if self.stdin is not None:
            text += "  (secret on stdin)" if "password" in self.stdin else "  (input on stdin)"
        return text


def render(command: RemoteCommand, user: str) -> str:
    """Return the single shell string sent to the node; every argument is quoted."""
    prefix: list[str] = []
    if user != "root":
        prefix += ["sudo", "-n"]
    prefix += ["timeout", f"--kill-after={KILL_AFTER_SECONDS}", f"{command.timeout_seconds}s"]
    if command.stdout_path is None and not command.stdout_filter and not command.private:
        return shlex.join([*prefix, *command.argv])
    # Redirection needs a shell on the node; umask 077 because dumps hold every credential.
    pipeline = shlex.join(command.argv)
    if command.stdout_filter:
        pipeline = f"set -o pipefail; {pipeline} | {shlex.join(command.stdout_filter)}"
    if command.stdout_path:
        pipeline += f" > {shlex.quote(command.stdout_path)}"
    return shlex.join([*prefix, "bash", "-c", f"umask 077; {pipeline}"])


def client_timeout_seconds(command: RemoteCommand) -> int:
    """Client-side limit: the server-side one plus its kill grace plus slack for the network."""
    return command.timeout_seconds + KILL_AFTER_SECONDS + 15


def mysql_option_file(password: str) -> str:
    """A MySQL option file carrying the password, sent on stdin."""
    return f"[client]\nuser=root\npassword={password}\n"


# --- read-only probes -----------------------------------------------------------------------


def node_name(timeout_seconds: int) -> RemoteCommand:
    """The trivial command proving SSH, authentication and a shell work."""
    return RemoteCommand("node_name", ("uname", "-n"), timeout_seconds)


def rear_version(timeout_seconds: int) -> RemoteCommand:
    """Proves ReaR is installed on the node."""
    return RemoteCommand("rear_version", ("rear", "-V"), timeout_seconds)


def cron_file_absent(timeout_seconds: int) -> RemoteCommand:
    """Exit 0 when the rear package's `/etc/cron.d/rear` is absent, 1 when it exists
    (rear_capability: its nightly mkrescue collides with barctl's runs, issue 10)."""
    argv = ("test", "!", "-e", rear_capability.CRON_FILE)
    return RemoteCommand("cron_file_absent", argv, timeout_seconds)


def free_space(directory: str, timeout_seconds: int) -> RemoteCommand:
    """Bytes available under `directory` on the target: a header line, then the number."""
    argv = ("df", "-B1", "--output=avail", directory)
    return RemoteCommand("free_space", argv, timeout_seconds)


def firmware(timeout_seconds: int) -> RemoteCommand:
    """Exit 0 when the node booted through UEFI: the kernel creates /sys/firmware/efi only then;
    ReaR's own guess (prep/default/320_include_uefi_env.sh) looks for the variables under it."""
    return RemoteCommand("firmware", ("test", "-d", "/sys/firmware/efi"), timeout_seconds)


def firmware_of(result: CommandResult) -> Firmware:
    """What `firmware` answered: `test` exits 0 or 1; anything else cannot tell."""
    if result.exit_code == 0 and result.reason is None:
        return "uefi"
    if result.exit_code == 1 and result.reason is None:
        return "bios"
    return "unknown"


def pacemaker_status(timeout_seconds: int) -> RemoteCommand:
    """Pacemaker membership, each node's state and quorum as this node sees it, as XML.

    `--inactive` lists stopped resources too; `--output-as=xml` exists since pacemaker 2.0.3
    (RHEL 8.2, the oldest base of OSP 16). With pacemaker stopped here it exits 102 and puts
    "Error: cluster is not available on this node" in the XML (tools/crm_mon.c).
    """
    argv = ("crm_mon", "--one-shot", "--inactive", "--output-as=xml")
    return RemoteCommand("pacemaker_status", argv, timeout_seconds)


def pcs_status(timeout_seconds: int) -> RemoteCommand:
    """The name engine.py calls: the same read as `pacemaker_status`."""
    return pacemaker_status(timeout_seconds)


def pacemaker_node_name(timeout_seconds: int) -> RemoteCommand:
    """This node's own name in pacemaker (`crm_node -n` asks the local controller).

    It may differ from the inventory name; without a running controller it fails
    ("Could not connect to controller"), and 127 where pacemaker is not installed.
    """
    return RemoteCommand("pacemaker_node_name", ("crm_node", "-n"), timeout_seconds)


def container_names(timeout_seconds: int) -> RemoteCommand:
    """Every container on the node, running or paused, one name per line."""
    return RemoteCommand(
        "container_names", ("podman", "ps", "-a", "--format", "{{.Names}}"), timeout_seconds
    )


def hiera_lookup(key: str, timeout_seconds: int) -> RemoteCommand:
    """Read one hiera key on the node (the MySQL password lives there, tripleo.md §2a)."""
    return RemoteCommand("hiera_lookup", ("hiera", "-c", HIERA_CONFIG, key), timeout_seconds)


def mysql_password(result: CommandResult) -> tuple[str, str]:
    """(password, "") from what `hiera_lookup(MYSQL_PASSWORD_KEY)` printed, else ("", why).

    The gate and crash replay both read the password this way; hiera prints `nil` for a
    missing key and exits 0.
    """
    if not result.ok:
        lines = result.stderr_tail().splitlines()[-1:]
        return "", f"hiera failed: {lines[0] if lines else f'exit {result.exit_code}'}"
    password = result.stdout.strip()
    if password in ("", "nil"):
        return "", "no MySQL root password in hiera"
    return password, ""


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


def directory_exists(path: str, timeout_seconds: int) -> RemoteCommand:
    """Exit 0 when `path` is a directory on the node (the backup export, for the gate)."""
    return RemoteCommand("directory_exists", ("test", "-d", path), timeout_seconds)


def file_sizes(paths: tuple[str, ...], timeout_seconds: int) -> RemoteCommand:
    """Size in bytes and path of each file, to verify what ReaR wrote."""
    return RemoteCommand("file_sizes", ("stat", "-c", "%s %n", *paths), timeout_seconds)


# --- state-changing commands ----------------------------------------------------------------


def remove_local_iso(iso_prefix: str, timeout_seconds: int) -> RemoteCommand:
    """Delete the run's ISO from ReaR's output directory once the target's copy is verified:
    ReaR keeps every ISO in $VAR_DIR/output (default.conf ISO_DIR), so a node's disk fills."""
    path = f"{REAR_OUTPUT_DIRECTORY}/{iso_prefix}.iso"
    return RemoteCommand("remove_local_iso", ("rm", "-f", "--", path), timeout_seconds, True)


def make_run_directory(path: str, timeout_seconds: int) -> RemoteCommand:
    """Create the run-stamped directory for dumps and cluster configuration on the node."""
    return RemoteCommand(
        "make_run_directory", ("install", "-d", "-m", "0700", path), timeout_seconds, True
    )


# Write stdin into $1 as 0600: umask for a new file, chmod first for an existing one (`>` keeps
# its mode): nothing barctl writes on a node is world-readable.
_WRITE_PRIVATE = 'umask 077; if [ -e "$1" ]; then chmod 0600 -- "$1" || exit; fi; cat > "$1"'


def write_rear_config(content: str, timeout_seconds: int) -> RemoteCommand:
    """Write the per-run ReaR file (`rear_config.render_run_conf`: the run's identity and the
    other runs' excludes), 0600 from stdin."""
    argv = ("bash", "-c", _WRITE_PRIVATE, "barctl-write-run-conf", rear_config.RUN_CONF)
    return RemoteCommand("write_rear_config", argv, timeout_seconds, True, stdin=content)


def rear_mkbackup(timeout_seconds: int) -> RemoteCommand:
    """Create the rescue ISO and the backup archive with the per-run file read after local.conf."""
    return RemoteCommand("rear_mkbackup", rear_config.rear_argv(), timeout_seconds, True)


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


# --- the backup target's runs (retention, `barctl backups`) ----------------------------------

MANIFEST_READ_LIMIT_BYTES = 1 << 20  # a manifest is a few KiB: bounds what a damaged one costs


def target_entries(directory: str, timeout_seconds: int) -> RemoteCommand:
    """`TYPE SIZE PATH` of every entry two to four levels down (`<node>/<run id>[/file]`,
    `.../restore/file`), NUL-ended (GNU find -printf %y %s %P): no name can forge a record."""
    argv = ("find", directory, "-mindepth", "2", "-maxdepth", "4", "-printf", "%y %s %P\\0")
    return RemoteCommand("target_entries", argv, timeout_seconds)


# Each named file's first bytes, then a NUL (JSON never holds one): one command for every
# manifest of a listing; an unreadable file gives an empty record and head's error on stderr.
_READ_EACH = 'for file; do head -c "$0" -- "$file"; printf "\\0"; done'


def read_manifests(paths: tuple[str, ...], timeout_seconds: int) -> RemoteCommand:
    """The manifests at `paths` on the target, NUL-ended, at most MANIFEST_READ_LIMIT_BYTES each."""
    argv = ("bash", "-c", _READ_EACH, str(MANIFEST_READ_LIMIT_BYTES), *paths)
    return RemoteCommand("read_manifests", argv, timeout_seconds)


def remove_run_directory(path: str, timeout_seconds: int) -> RemoteCommand:
    """Delete one run's directory (retention; `path` from a checked node and run id only).
    --one-file-system: a mount under it is refused, not emptied."""
    argv = ("rm", "-rf", "--one-file-system", "--", path)
    return RemoteCommand("remove_run_directory", argv, timeout_seconds, True)


# --- node hygiene: run directories ------------------------------------------------------------

# A name read back from a node becomes part of a path, so only the shape history.records.
# new_run_id makes passes (records.RUN_ID: no `/`, `..`, glob character or leading `-`).
# barctl's own state (its history database on the undercloud) shares /var/lib/barctl and never
# matches.
RUN_DIRECTORY_NAME = records.RUN_ID


def list_run_directories(timeout_seconds: int) -> RemoteCommand:
    """Read-only: the name of each directory directly under /var/lib/barctl, one per line."""
    argv = ("find", NODE_RUN_DIRECTORY, "-mindepth", "1", "-maxdepth", "1", "-type", "d")
    return RemoteCommand("list_run_directories", (*argv, "-printf", "%f\\n"), timeout_seconds)


def run_directories_of(result: CommandResult) -> tuple[str, ...]:
    """The run-id-shaped names `list_run_directories` printed, sorted (oldest first); none when
    it failed (no /var/lib/barctl yet: find exits 1)."""
    if not result.ok:
        return ()
    names = (line.strip() for line in result.stdout.splitlines())
    return tuple(sorted({name for name in names if RUN_DIRECTORY_NAME.fullmatch(name)}))


def run_directory_path(name: str) -> str:
    """`/var/lib/barctl/<name>` for a run-id-shaped `name`; ValueError for anything else."""
    if not RUN_DIRECTORY_NAME.fullmatch(name):
        raise ValueError(f"not a run directory name: {name!r}")
    return f"{NODE_RUN_DIRECTORY}/{name}"


def remove_run_directories(names: tuple[str, ...], timeout_seconds: int) -> RemoteCommand:
    """Delete older runs' dump directories, each path checked to be a run's child of
    /var/lib/barctl; `--one-file-system` never follows a mount placed inside one."""
    paths = tuple(run_directory_path(name) for name in names)
    argv = ("rm", "-rf", "--one-file-system", "--", *paths)
    return RemoteCommand("remove_run_directories", argv, timeout_seconds, True)


# --- the restore drill, read-only on the target (barctl.run.drill) ---------------------------

# tar's decompression option per archive suffix (rear_config.COMPRESSION's suffixes).
TAR_DECOMPRESS = {".gz": "--gzip", ".bz2": "--bzip2", ".xz": "--xz", "": ""}
# ReaR's rescue system in its ISO: pack/GNU/Linux/900_create_initramfs.sh packs the rootfs
# (`find . | cpio -H newc --create | gzip`, REAR_INITRD_COMPRESSION's default) into
# initrd.cgz, which output/ISO/Linux-i386/800_create_isofs.sh copies to isolinux/; its
# etc/rear holds local.conf and rescue.conf (build/GNU/Linux/100_copy_as_is.sh,
# rescue/NETFS/default/600_store_NETFS_variables.sh). The initrd is found in the ISO's
# directories as verification finds the SFTP archive (iso_sectors, verification.file_span) and
# streamed out with dd: nothing is written on the target, and no ISO tool is assumed there.
ISO_INITRD = ("isolinux", "initrd.cgz")
_INITRD_MEMBER = (
    'set -o pipefail; dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=1M'
    ' status=none | gzip -dc | cpio -i --quiet --to-stdout -- "$4"'
)


def checksums(paths: tuple[str, ...], timeout_seconds: int) -> RemoteCommand:
    """sha256 of each file on the target, `HEX  PATH` per line (coreutils sha256sum)."""
    return RemoteCommand("checksums", ("sha256sum", "--", *paths), timeout_seconds)


def archive_member_count(path: str, suffix: str, timeout_seconds: int) -> RemoteCommand:
    """List every member of the archive, streamed: only the count comes back (`wc -l`); a
    truncated or corrupt archive makes tar exit non-zero (pipefail)."""
    option = TAR_DECOMPRESS.get(suffix, "")
    argv = ("tar", *((option,) if option else ()), "-t", "-f", path)
    return RemoteCommand("archive_member_count", argv, timeout_seconds, stdout_filter=("wc", "-l"))


def initrd_member(
    iso: str, offset: int, size: int, member: str, timeout_seconds: int
) -> RemoteCommand:
    """One file of the rescue system (`etc/rear/rescue.conf`), out of the initrd stored in the
    ISO at `offset` (gzip'd newc cpio)."""
    argv = ("bash", "-c", _INITRD_MEMBER, "barctl-initrd-member", iso, str(offset), str(size))
    return RemoteCommand("initrd_member", (*argv, member), timeout_seconds)


# --- config drive (guide 2.5 step 1, restored by 4.3 step 5) ---------------------------------

CONFIG_DRIVE_LABEL = "config-2"  # the ISO 9660 label of an OpenStack config drive (nova/ironic)
# The guide's image path: 4.3 step 5 reads it back from the restored disk (/mnt/local/mnt/...).
CONFIG_DRIVE_IMAGE = "/mnt/config-drive"
# Absolute /dev paths only, every component starting with a letter or digit: no `..`, no option.
DEVICE_PATH = re.compile(r"/dev(/[A-Za-z0-9][A-Za-z0-9._+:-]*)+")
# umask and chmod first: a config drive carries the node's metadata and user data, and dd keeps
# the mode of an existing file. conv=fsync: the image is on disk before ReaR reads the disk.
# The guide's chapter 3 (3.5 step 1) runs `mkdir /mnt/config-drive` before the same dd, which
# then fails; such a directory is named and left untouched, never chmod'ed or written into.
_IMAGE_CONFIG_DRIVE = (
    'umask 077; if [ -d "$2" ]; then echo "barctl: $2 is a directory, not the image file of'
    ' guide 2.5 step 1: remove it" >&2; exit 1; fi; '
    'if [ -e "$2" ]; then chmod 0600 -- "$2" || exit; fi; '
    'exec dd if="$1" of="$2" bs=1M conv=fsync status=none'
)


def config_drive_device(timeout_seconds: int) -> RemoteCommand:
    """Read-only: the device of the partition labelled config-2; util-linux blkid exits 2 when
    no device has that label (misc-utils/blkid.c, BLKID_EXIT_NOTFOUND)."""
    argv = ("blkid", "-t", f"LABEL={CONFIG_DRIVE_LABEL}", "-o", "device")
    return RemoteCommand("config_drive_device", argv, timeout_seconds)


def config_drive_of(result: CommandResult) -> tuple[str, str]:
    """(device, "") for one config-2 partition, ("", "") for none, ("", why) otherwise."""
    if result.reason is None and result.exit_code == 2 and not result.stdout.strip():
        return "", ""
    if not result.ok:
        lines = result.stderr_tail().splitlines()[-1:] or [f"exit {result.exit_code}"]
        return "", f"cannot tell whether it has a config drive (blkid): {lines[0]}"
    devices = sorted({line.strip() for line in result.stdout.splitlines() if line.strip()})
    if not devices:
        return "", ""
    if len(devices) != 1 or not DEVICE_PATH.fullmatch(devices[0]):
        shown = ", ".join(devices)
        return "", f"blkid names {shown} as the config drive: not one device path to image"
    return devices[0], ""


def image_config_drive(device: str, timeout_seconds: int) -> RemoteCommand:
    """`dd if=<device> of=/mnt/config-drive`, the guide's 2.5 step 1, as a 0600 file."""
    if not DEVICE_PATH.fullmatch(device):
        raise ValueError(f"not a device path: {device!r}")
    argv = ("bash", "-c", _IMAGE_CONFIG_DRIVE, "barctl-image-config-drive", device)
    return RemoteCommand("image_config_drive", (*argv, CONFIG_DRIVE_IMAGE), timeout_seconds, True)


# --- verification on the backup target (issue 11; output read by verification.py) ----------
# Read-only, and only coreutils, gzip/bzip2/xz and tar: the target node may be any NFS or SFTP
# server. Archive checks stream the file through the tool and print nothing (or to /dev/null):
# a multi-GB listing never reaches barctl.

HEX_DUMP = ("od", "-A", "n", "-v", "-t", "x1")
COMPRESSION_TESTERS = {"gzip": "gzip", "bzip2": "bzip2", "xz": "xz"}


def iso_sectors(iso: str, first: int, count: int, timeout_seconds: int) -> RemoteCommand:
    """`count` 2048-byte sectors of `iso` from sector `first`, in hex: the volume descriptors
    (from 16) or a directory (ECMA-119)."""
    argv = ("dd", f"if={iso}", "bs=2048", f"skip={first}", f"count={count}", "status=none")
    return RemoteCommand("iso_sectors", argv, timeout_seconds, stdout_filter=HEX_DUMP)


def file_checksums(paths: tuple[str, ...], timeout_seconds: int) -> RemoteCommand:
    """sha256 of each file, computed on the target (`sha256sum`: `<hex>  <path>` lines)."""
    return RemoteCommand("file_checksums", ("sha256sum", "--", *paths), timeout_seconds)


def compression_test(path: str, compress: str, timeout_seconds: int) -> RemoteCommand:
    """`gzip -t` (or bzip2/xz): the archive's compressed stream is whole and its CRC right."""
    tester = COMPRESSION_TESTERS[compress]
    return RemoteCommand("compression_test", (tester, "-t", "--", path), timeout_seconds)


def archive_listing(path: str, compress: str, timeout_seconds: int) -> RemoteCommand:
    """A full `tar --list` of the archive, to /dev/null: every header readable to the end."""
    flags = rear_config.COMPRESSION[compress][0]
    argv = ("tar", "--list", *flags, "--file", path)
    return RemoteCommand("archive_listing", argv, timeout_seconds, stdout_path="/dev/null")


def _iso_span(iso: str, offset: int, size: int) -> tuple[str, ...]:
    # GNU dd's byte-addressed skip and count (coreutils 8.16+, RHEL 7+).
    flags = "iflag=skip_bytes,count_bytes"
    return ("dd", f"if={iso}", flags, f"skip={offset}", f"count={size}", "bs=1M", "status=none")


def iso_file_compression_test(
    iso: str, offset: int, size: int, compress: str, timeout_seconds: int
) -> RemoteCommand:
    """`gzip -t` of a file stored inside the ISO at `offset` (SFTP: the archive in the ISO)."""
    tester = (COMPRESSION_TESTERS[compress], "-t")
    argv = _iso_span(iso, offset, size)
    return RemoteCommand("compression_test", argv, timeout_seconds, stdout_filter=tester)


def iso_file_listing(
    iso: str, offset: int, size: int, compress: str, timeout_seconds: int
) -> RemoteCommand:
    """A full `tar --list` of an archive stored inside the ISO, to /dev/null."""
    lister = ("tar", "--list", *rear_config.COMPRESSION[compress][0], "--file", "-")
    return RemoteCommand(
        "archive_listing",
        _iso_span(iso, offset, size),
        timeout_seconds,
        stdout_path="/dev/null",
        stdout_filter=lister,
    )


def file_tail(path: str, size_bytes: int, timeout_seconds: int) -> RemoteCommand:
    """The last `size_bytes` of a file (the database dump's trailer)."""
    return RemoteCommand("file_tail", ("tail", "-c", str(size_bytes), "--", path), timeout_seconds)


# --- the run directory on the backup target (issue 11) -------------------------------------

# mkdir -p, then move $1 into $2: lftp puts an SFTP run's ISO straight into the target path
# (rear_config), barctl moves it beside the run's manifest, as NFS has it.
_PLACE = 'set -e; mkdir -p -m 0750 -- "$2"; mv -f -- "$1" "$2/"'
# Atomic: the manifest appears whole or not at all (a reader never sees half a JSON document).
_WRITE_MANIFEST = (
    'set -e; umask 022; mkdir -p -m 0750 -- "$1"; cat > "$1/.$2.tmp"; mv -f -- "$1/.$2.tmp" "$1/$2"'
)


def place_in_run_directory(path: str, directory: str, timeout_seconds: int) -> RemoteCommand:
    """Move the file `path` into the run directory `directory` on the target."""
    argv = ("bash", "-c", _PLACE, "barctl-place", path, directory)
    return RemoteCommand("place_in_run_directory", argv, timeout_seconds, True)


def write_manifest(directory: str, name: str, content: str, timeout_seconds: int) -> RemoteCommand:
    """Write `content` (stdin) as `directory/name` on the target: a temporary file, renamed."""
    argv = ("bash", "-c", _WRITE_MANIFEST, "barctl-write-manifest", directory, name)
    return RemoteCommand("write_manifest", argv, timeout_seconds, True, stdin=content)


# --- restore material, node -> barctl -> target (issue 11; piping.py streams between them) ----

# umask 077: the dump and grants hold every credential. Written under a dot name and renamed,
# so a copy cut short never looks complete; the partial file is removed on failure.
_WRITE_RESTORE = (
    'set -e; umask 077; mkdir -p -m 0700 -- "$1"; trap \'rm -f -- "$1/.$2.part"\' ERR; '
    'cat > "$1/.$2.part"; mv -f -- "$1/.$2.part" "$1/$2"'
)


def read_file(path: str, timeout_seconds: int) -> RemoteCommand:
    """A file's bytes on stdout (the run's restore material on a node, root's 0600 file)."""
    return RemoteCommand("read_restore_material", ("cat", "--", path), timeout_seconds)


def write_restore_file(directory: str, name: str, timeout_seconds: int) -> RemoteCommand:
    """stdin as `directory/name` on the target (0600), complete or not at all."""
    argv = ("bash", "-c", _WRITE_RESTORE, "barctl-write-restore", directory, name)
    return RemoteCommand("copy_restore_material", argv, timeout_seconds, True)
