"""Read-only probes of a node (the gate's questions), and the pure readings of their answers.

Pure: built here, sent by `remote.py`, judged by `gate.py` and the readers below.
"""

from __future__ import annotations

from barctl.model import CommandResult, Firmware
from barctl.run import rear_capability
from barctl.run.commands import RemoteCommand

HIERA_CONFIG = "/etc/puppet/hiera.yaml"
MYSQL_PASSWORD_KEY = "mysql::server::root_password"  # noqa: S105 (a hiera key name)


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


def directory_exists(path: str, timeout_seconds: int) -> RemoteCommand:
    """Exit 0 when `path` is a directory on the node (the backup export, for the gate)."""
    return RemoteCommand("directory_exists", ("test", "-d", path), timeout_seconds)


def file_sizes(paths: tuple[str, ...], timeout_seconds: int) -> RemoteCommand:
    """Size in bytes and path of each file, to verify what ReaR wrote."""
    return RemoteCommand("file_sizes", ("stat", "-c", "%s %n", *paths), timeout_seconds)
