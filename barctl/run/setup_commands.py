"""The commands of `barctl setup` and of the gate's reachability probes, as argv tuples.

commands.py's set-up half (split by concern to keep both modules short): pure, no I/O, every
command a `RemoteCommand` rendered and bounded by `commands.render` (server-side `timeout`,
`sudo -n`). Scripts are fixed strings; every value reaches them as a positional argument or on
stdin, never spliced into the script.
"""

from __future__ import annotations

from barctl.run.ceph_hooks import CEPH_DIRECTORY
from barctl.run.commands import RemoteCommand
from barctl.run.setup_state import ManagedFile

# dnf downloads and installs: far longer than a probe, far shorter than a ReaR run.
PACKAGE_TIMEOUT_SECONDS = 1800
# `read_file`'s exit status for a file that does not exist (anything else is a failure).
ABSENT_EXIT = 100
NO_DIRECTORY_EXIT = 101

_READ = f'[ -e "$1" ] || exit {ABSENT_EXIT}; exec cat -- "$1"'

# Write stdin to $1 atomically (a temporary file in the same directory, then rename), mode $2.
# umask 077 first, so the content is never readable by others before the chmod. With $3 set,
# the first file there whose first line lacks barctl's mark ($4) is kept once as $3, 0600
# (no `cp -p`: an operator's local.conf may hold a password).
_WRITE = (
    'umask 077; directory=$(dirname -- "$1"); '
    f'[ -d "$directory" ] || {{ echo "no directory $directory" >&2; exit {NO_DIRECTORY_EXIT}; }}; '
    'if [ -n "$3" ] && [ -e "$1" ] && [ ! -e "$3" ] && '
    '! head -n 1 -- "$1" | grep -q -F -- "$4"; then cp -- "$1" "$3" || exit; fi; '
    'temporary=$(mktemp -- "$1.barctl.XXXXXX") || exit; '
    'if cat > "$temporary" && chmod "$2" -- "$temporary" && mv -f -- "$temporary" "$1"; '
    'then exit 0; fi; rm -f -- "$temporary"; exit 1'
)

# root's home from the password database: under `sudo` $HOME may still be the SSH user's.
_ROOT_HOME = 'home=$(getent passwd root | cut -d: -f6) && [ -n "$home" ] || exit 1; '
_READ_KNOWN_HOSTS = (
    _ROOT_HOME + 'file="$home/.ssh/known_hosts"; [ -e "$file" ] || exit 0; cat -- "$file"'
)
# Append stdin's lines to root's known_hosts: a copy, the new lines, then rename (atomic).
_ADD_KNOWN_HOSTS = (
    "umask 077; "
    + _ROOT_HOME
    + 'install -d -m 0700 -- "$home/.ssh" || exit; file="$home/.ssh/known_hosts"; '
    'temporary=$(mktemp -- "$file.barctl.XXXXXX") || exit; '
    'if { [ ! -e "$file" ] || cat -- "$file"; } > "$temporary" && cat >> "$temporary" && '
    'chmod 0600 -- "$temporary" && mv -f -- "$temporary" "$file"; then exit 0; fi; '
    'rm -f -- "$temporary"; exit 1'
)


def _bash(
    name: str,
    script: str,
    *arguments: str,
    timeout: int,
    changes: bool = False,
    stdin: str | None = None,
) -> RemoteCommand:
    argv = ("bash", "-c", script, f"barctl-{name}", *arguments)
    return RemoteCommand(name, argv, timeout, changes, stdin=stdin)


# --- read-only probes -----------------------------------------------------------------------


def installed_packages(names: tuple[str, ...], timeout: int) -> RemoteCommand:
    """`rpm -q` prints the NAME of each installed package and "package X is not installed" for
    the others, exiting with the number missing (rpm(8), --queryformat)."""
    argv = ("rpm", "-q", "--queryformat", "%{NAME}\\n", *names)
    return RemoteCommand("installed_packages", argv, timeout)


def path_exists(path: str, timeout: int) -> RemoteCommand:
    """Exit 0 when `path` exists, 1 when it does not."""
    return RemoteCommand("path_exists", ("test", "-e", path), timeout)


def read_file(path: str, timeout: int) -> RemoteCommand:
    """The file's content; exit ABSENT_EXIT when it does not exist."""
    return _bash("read_file", _READ, path, timeout=timeout)


def read_root_known_hosts(timeout: int) -> RemoteCommand:
    """root's ~/.ssh/known_hosts (empty when it has none): the file ssh under lftp reads."""
    return _bash("read_root_known_hosts", _READ_KNOWN_HOSTS, timeout=timeout)


def ceph_mount(timeout: int) -> RemoteCommand:
    """Device, type and mount point of the file system holding /var/lib/ceph (findmnt(8):
    `-T` finds the file system of a path, `-r` raw output, `-n` no header)."""
    argv = ("findmnt", "-r", "-n", "-o", "SOURCE,FSTYPE,TARGET", "-T", CEPH_DIRECTORY)
    return RemoteCommand("ceph_mount", argv, timeout)


def offered_exports(server: str, timeout: int) -> RemoteCommand:
    """The exports `server` offers, asked from this node (showmount(8) -e: the mountd answer a
    client's mount would get): a header line, then `directory client,client` lines."""
    return RemoteCommand("offered_exports", ("showmount", "-e", server), timeout)


def sftp_login(user: str, server: str, connect_timeout: int, timeout: int) -> RemoteCommand:
    """Log in as lftp will: root's ssh with lftp's connect program (`ssh -a -x`, lftp's default
    sftp:connect-program, plus barctl's BatchMode=yes from OUTPUT_LFTP_OPTIONS) asking for the
    sftp subsystem, whose server ends at once on `-n`'s empty input. An SFTP-only account
    (ForceCommand internal-sftp) would ignore a shell command, so none is sent."""
    argv = (
        "ssh", "-n", "-a", "-x", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}",
        "-l", user, "-s", "--", server, "sftp",
    )  # fmt: skip
    return RemoteCommand("sftp_login", argv, timeout)


# --- state-changing commands ----------------------------------------------------------------


def install_packages(names: tuple[str, ...]) -> RemoteCommand:
    """`dnf -y install` the missing packages (guide 1.3/2.3 install ReaR the same way)."""
    argv = ("dnf", "-y", "install", *names)
    return RemoteCommand("install_packages", argv, PACKAGE_TIMEOUT_SECONDS, True)


def remove_file(path: str, timeout: int) -> RemoteCommand:
    """Remove one file (the rear package's /etc/cron.d/rear)."""
    return RemoteCommand("remove_file", ("rm", "-f", "--", path), timeout, True)


def write_file(wanted: ManagedFile, mark: str, timeout: int) -> RemoteCommand:
    """Write a managed file atomically with its mode, the content on stdin; an original whose
    first line lacks `mark` is kept once at `wanted.original` (when set)."""
    arguments = (wanted.path, wanted.mode, wanted.original, mark)
    return _bash("write_file", _WRITE, *arguments, timeout=timeout, changes=True,
                 stdin=wanted.content)  # fmt: skip


def add_root_known_hosts(lines: tuple[str, ...], timeout: int) -> RemoteCommand:
    """Append host key lines to root's known_hosts (atomically, 0600)."""
    text = "".join(f"{line}\n" for line in lines)
    return _bash("add_root_known_hosts", _ADD_KNOWN_HOSTS, timeout=timeout, changes=True,
                 stdin=text)  # fmt: skip


def make_directory(path: str, timeout: int) -> RemoteCommand:
    """The export directory, 0700: root on the nodes writes through no_root_squash, nobody
    else reads the backups (the vendor role's was 0777, tripleo.md §4d)."""
    return RemoteCommand("make_directory", ("install", "-d", "-m", "0700", path), timeout, True)


def reload_exports(timeout: int) -> RemoteCommand:
    """Re-export everything from /etc/exports and /etc/exports.d (exportfs(8) -r -a)."""
    return RemoteCommand("reload_exports", ("exportfs", "-ra"), timeout, True)
