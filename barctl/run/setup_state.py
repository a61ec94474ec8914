"""What `barctl setup` wants on each node, and the pure difference from what a node has.

Pure: frozen inputs in, differences out. `setup.py` probes the nodes and applies the differences.
The desired state is the vendor's set-up playbooks (guide 1.2-1.4, 2.2-2.4, 3.2-3.4, 4.1) made
idempotent and owned by barctl:

- packages: `rear syslinux genisoimage nfs-utils lftp`, plus `dosfstools efibootmgr` on UEFI
  nodes (guide 1.3/2.3 "Installing ReaR on the ... nodes"); `nfs-utils` on the NFS backup node
  (guide 1.2, the role's `setup_nfs`, tripleo.md §4d);
- `/etc/cron.d/rear` absent: the RPM's nightly `rear checklayout || rear mkrescue` collides
  with barctl's runs ("rear is already running", issue 10; rear_capability);
- `/etc/rear/local.conf` equal to `rear_config.render_local_conf` (the original kept once);
- the guide 4.1 ceph hooks on ceph monitor nodes (`ceph_hooks.py`);
- root's `known_hosts` knows the SFTP target (vendor BZ 1955495: lftp's ssh cannot ask);
- on the NFS backup node: `/etc/exports.d/barctl.exports` exporting the target directory to
  each node's address (never `*`: the vendor role's 0777 share was open to any client), and
  the directory itself; `exportfs -ra` after the file changed, or when mountd's live table
  (`showmount -e` on the backup node) does not offer the directory to every node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from barctl.model import Firmware
from barctl.run import reachability
from barctl.run.rear_config import LOCAL_CONF, LOCAL_CONF_ORIGINAL

BASE_PACKAGES = ("rear", "syslinux", "genisoimage", "nfs-utils", "lftp")
UEFI_PACKAGES = ("dosfstools", "efibootmgr")
NFS_SERVER_PACKAGES = ("nfs-utils",)
CRON_FILE = "/etc/cron.d/rear"
EXPORTS_FILE = "/etc/exports.d/barctl.exports"
EXPORTS_HEADER = "# Managed by barctl: the backup target's NFS export, one address per node."
# The vendor role's options (tripleo.md §4d): ReaR writes as root, so no_root_squash.
EXPORT_OPTIONS = "rw,sync,no_root_squash,no_subtree_check"
KNOWN_HOSTS_ITEM = "root's known_hosts"
LIVE_EXPORT_ITEM = "live NFS exports (showmount -e)"


@dataclass(frozen=True)
class ManagedFile:
    """A whole file barctl owns on a node; `original` keeps a file it did not write, once."""

    path: str
    mode: str
    content: str
    original: str = ""


@dataclass(frozen=True)
class KnownHost:
    """One key root's known_hosts must hold for `host` (OpenSSH's `host type base64` line)."""

    host: str
    key_type: str
    key: str

    @property
    def line(self) -> str:
        """The known_hosts line barctl adds."""
        return f"{self.host} {self.key_type} {self.key}"


@dataclass(frozen=True)
class Desired:
    """Everything `barctl setup` wants on one node."""

    node: str
    packages: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    files: tuple[ManagedFile, ...] = ()
    known_hosts: tuple[KnownHost, ...] = ()
    directories: tuple[str, ...] = ()
    # On the NFS backup node: (directory, clients) that `showmount -e` must offer (live).
    export: tuple[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class Probed:
    """What one node has, as setup's read-only probes saw it."""

    node: str
    installed: frozenset[str] = frozenset()
    present: frozenset[str] = frozenset()
    contents: Mapping[str, str | None] = field(default_factory=dict)
    known_hosts: str = ""
    directories: frozenset[str] = frozenset()
    # `showmount -e` asked on the backup node itself: the export table mountd serves now.
    offered: str = ""


@dataclass(frozen=True)
class Difference:
    """One thing a node lacks: the node, the item, and for a file the first differing line."""

    node: str
    kind: str
    item: str
    detail: str
    line: int | None = None
    # For a known_hosts difference, the line that adds the missing key.
    addition: str = ""

    def describe(self) -> str:
        """`node: item: detail`, one line for the operator."""
        return f"{self.node}: {self.item}: {self.detail}"


def packages_for(firmware: Firmware) -> tuple[str, ...]:
    """ReaR and the tools it needs; the UEFI ones only where the node boots UEFI."""
    return BASE_PACKAGES + (UEFI_PACKAGES if firmware == "uefi" else ())


def installed_names(text: str, names: tuple[str, ...]) -> frozenset[str]:
    """The installed packages among `names`, from `rpm -q --queryformat '%{NAME}\\n'`: a line
    that is exactly a name (a missing one is "package NAME is not installed", rpm(8))."""
    return frozenset(line.strip() for line in text.splitlines()) & frozenset(names)


def exports_file(directory: str, clients: tuple[str, ...]) -> ManagedFile:
    """`/etc/exports.d/barctl.exports`: `directory` exported to each client address (exports(5):
    `path client(options) ...`; a file in exports.d keeps the operator's /etc/exports intact,
    BZ 1878480)."""
    listed = " ".join(f"{client}({EXPORT_OPTIONS})" for client in sorted(set(clients)))
    return ManagedFile(EXPORTS_FILE, "0644", f"{EXPORTS_HEADER}\n{directory} {listed}\n")


def first_difference(have: str, want: str) -> tuple[int, str, str] | None:
    """(line number from 1, the node's line, barctl's line) where two texts first differ;
    a missing line is ""; None when they are equal."""
    if have == want:
        return None
    have_lines, want_lines = have.split("\n"), want.split("\n")
    for number in range(max(len(have_lines), len(want_lines))):
        mine = have_lines[number] if number < len(have_lines) else ""
        theirs = want_lines[number] if number < len(want_lines) else ""
        if mine != theirs:
            return number + 1, mine, theirs
    return len(have_lines), "", ""  # only a trailing newline differs


def local_conf_problem(have: str | None, want: str) -> str:
    """The gate's judgement of a node's local.conf against the rendered one ("" when equal):
    the rescue system reads local.conf without `-C`, so a drifted one restores something else."""
    if have is None:
        return f"{LOCAL_CONF} is missing: run `barctl setup`"
    found = first_difference(have, want)
    if found is None:
        return ""
    number, mine, theirs = found
    return (
        f"{LOCAL_CONF} differs from barctl's at line {number} ({mine!r}, barctl's {theirs!r}):"
        " run `barctl setup`"
    )


def _file_difference(node: str, wanted: ManagedFile, have: str | None) -> Difference | None:
    if have is None:
        return Difference(node, "file", wanted.path, "missing")
    found = first_difference(have, wanted.content)
    if found is None:
        return None
    number, mine, theirs = found
    detail = f"line {number} is {mine!r}, barctl's is {theirs!r}"
    return Difference(node, "file", wanted.path, detail, number)


def knows(text: str, wanted: KnownHost) -> bool:
    """True when a known_hosts text holds `wanted`'s key for its host (plain names only:
    hashed entries cannot be matched without the salt, so barctl adds its own line)."""
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or words[0].startswith(("#", "@")):
            continue
        names = words[0].split(",")
        if wanted.host in names and words[1:3] == [wanted.key_type, wanted.key]:
            return True
    return False


def diff(desired: Desired, probed: Probed) -> tuple[Difference, ...]:
    """Every difference between what `desired` wants and what `probed` has, in apply order:
    packages first (the files below need rear's directories), then files."""
    node = desired.node
    found = [
        Difference(node, "package", f"package {name}", "not installed")
        for name in desired.packages
        if name not in probed.installed
    ]
    found += [
        Difference(node, "absent", path, "exists, must be removed")
        for path in desired.absent
        if path in probed.present
    ]
    found += [
        Difference(node, "directory", path, "missing")
        for path in desired.directories
        if path not in probed.directories
    ]
    for wanted in desired.files:
        difference = _file_difference(node, wanted, probed.contents.get(wanted.path))
        if difference is not None:
            found.append(difference)
    found += [
        Difference(
            node,
            "known_hosts",
            KNOWN_HOSTS_ITEM,
            f"lacks {key.host}'s {key.key_type} key",
            addition=key.line,
        )
        for key in desired.known_hosts
        if not knows(probed.known_hosts, key)
    ]
    found += _live_export_differences(desired, probed)
    return tuple(found)


def _live_export_differences(desired: Desired, probed: Probed) -> list[Difference]:
    """The export file can be right while mountd serves an older table (a hand edit put back
    without `exportfs -ra`): each client not offered the directory now is a difference, the
    same judgement the gate makes from each node (reachability)."""
    if desired.export is None:
        return []
    directory, clients = desired.export
    return [
        Difference(desired.node, "export", LIVE_EXPORT_ITEM, f"{directory} not offered to {client}")
        for client in sorted(set(clients))
        if reachability.export_problem(probed.offered, directory, desired.node, client)
    ]


def local_conf(content: str) -> ManagedFile:
    """barctl's local.conf (0600: nothing barctl writes on a node is world-readable); the first
    local.conf barctl did not write is kept as local.conf.before-barctl."""
    return ManagedFile(LOCAL_CONF, "0600", content, original=LOCAL_CONF_ORIGINAL)
