"""The lab: N hosts in network namespaces, each with a real sshd, and a simulated cluster.

See ``lab/README.md``.  Everything lives under the caller's directory, addresses come from
198.18.0.0/15 on links the lab creates, and teardown removes what it created by recorded PID
and name (never by a broad match).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import yaml

from lab import rear_iso, rear_shell, rear_standin, standin

SSHD = "/usr/sbin/sshd"
LAB_SUPERNET = IPv4Network("198.18.0.0/15")
MOUNT_POINTS = (
    Path("/etc/rear"),
    Path("/var/lib/barctl"),
    Path("/ctl_plane_backups"),
    Path("/var/lib/rear"),
    # Bind-mounted per host (hosts/<h>/etc-cron.d): a test can give one node the rear package's
    # /etc/cron.d/rear without touching the machine's own cron directory.
    Path("/etc/cron.d"),
    # barctl setup writes the backup node's NFS export here and the guide 4.1 ceph hooks into
    # ReaR's tree (hosts/<h>/etc-exports.d, hosts/<h>/usr-share-rear): never the machine's.
    Path("/etc/exports.d"),
    Path("/usr/share/rear"),
    # The config-drive image goes to /mnt/config-drive (guide 2.5 step 1): hosts/<h>/mnt.
    Path("/mnt"),
)
# Per-host directories bind-mounted over the MOUNT_POINTS above (and /ctl_plane_backups).
HOST_DIRECTORIES = (
    "etc-rear",
    "etc-cron.d",
    "var-lib-barctl",
    "var-lib-rear",
    "etc-exports.d",
    "usr-share-rear",
    "mnt",
    "home",
    # Not mounted: the content of the host's simulated devices (lab/device_standins.py).
    "devices",
)
# ReaR's hook directories, as the rear package creates them (setup_standins' dnf installs
# nothing on disk).
REAR_HOOK_DIRECTORIES = ("setup/default", "wrapup/default")
# The lab's ReaR when no test chooses one: 2.6, what RHEL 8 ships (the OSP 16 base). Tests that
# depend on a version set it (`lab.set_rear`): SFTP runs on 2.4 and 2.8 (OUTPUT_LFTP_*, 498915c9).
DEFAULT_REAR_VERSION = "2.6"
# The lab policy's backup_target.min_free_bytes: the backup node's df is the machine's own
# filesystem unless a test sets a value (set_free_space), so the floor is low enough to pass.
LAB_MIN_FREE_BYTES = 1 << 20
REGISTRY = Path("/run/barctl-lab")
EXPORT_PATH = "/ctl_plane_backups"
UNUSED_MAC = "02:00:5e:00:53:01"
FAULT_KINDS = ("link_down", "banner_hang", "sshd_stopped", "host_key_changed")

# The lab's sudo: real sudo is a small C binary, and every remote command of a non-root SSH user
# starts with it (commands.render: `sudo -n timeout ...`), so a Python stand-in here cost each
# such command ~40 ms of the lab's CPU that a real node does not spend (bench/node_costs.py).
# sudo(8): -n (non-interactive: fail rather than prompt; root is never asked), -u USER and
# -g GROUP (run as that user / group: the lab runs everything as root, so they are consumed),
# other single-letter flags taken alone, `--` ends the options. Not recorded in
# invocations.jsonl: like `timeout`, it is a wrapper, not a tool whose calls a test judges.
SUDO_SCRIPT = """#!/bin/sh
while [ "$#" -gt 0 ]; do
    case "$1" in
        --) shift; break ;;
        -u|-g) if [ "$#" -ge 2 ]; then shift 2; else set --; fi ;;
        -*) shift ;;
        *) break ;;
    esac
done
if [ "$#" -eq 0 ]; then
    echo "usage: sudo -n COMMAND" >&2
    exit 1
fi
exec "$@"
"""
BANNER_HANG_LISTENER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 22))
s.listen(64)
held = []
while True:
    conn, _ = s.accept()
    held.append(conn)  # accept, never send a banner
"""


class LabUnavailable(RuntimeError):
    """The machine cannot host the lab (not root, no ip/sshd, netns creation fails)."""


@dataclass(frozen=True)
class HostSpec:
    """One lab host.

    ``role``: undercloud | controller | backup | other.  ``groups``: TripleO role group(s)
    (first one is the host's role group in the inventory, e.g. ``Controller``).
    """

    name: str
    role: str
    groups: tuple[str, ...] = ()
    galera: bool = False
    ceph_mon: bool = False
    pacemaker: bool = False
    containers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invocation:
    """One recorded stand-in invocation."""

    host: str
    argv: tuple[str, ...]
    time: float
    pid: int = 0


def standard_hosts(
    controllers: int = 3, *, ceph: bool = True, composable: bool = False
) -> list[HostSpec]:
    """undercloud, the control plane, backup-0 (BackupNode).

    Plain: ``ctl-0..N-1`` in role ``Controller`` (pacemaker, galera, ceph mon when ``ceph``).
    Composable: ``ctlos-0`` (ControllerOpenstack, ceph mon), ``db-0..2`` (Database, galera),
    ``msg-0`` (Messaging); all pacemaker members.
    """
    hosts = [
        HostSpec(
            "undercloud",
            "undercloud",
            ("Undercloud",),
            containers=("mysql", "keystone", "ironic_api"),
        ),
    ]
    if composable:
        hosts.append(
            HostSpec(
                "ctlos-0",
                "controller",
                ("ControllerOpenstack",),
                ceph_mon=ceph,
                pacemaker=True,
                containers=("haproxy-bundle-podman-0", "nova_api", "keystone")
                + (("ceph-mon-ctlos-0",) if ceph else ()),
            )
        )
        hosts += [
            HostSpec(
                f"db-{i}",
                "controller",
                ("Database",),
                galera=True,
                pacemaker=True,
                containers=(f"galera-bundle-podman-{i}",),
            )
            for i in range(3)
        ]
        hosts.append(
            HostSpec(
                "msg-0",
                "controller",
                ("Messaging",),
                pacemaker=True,
                containers=("rabbitmq-bundle-podman-0",),
            )
        )
    else:
        for i in range(controllers):
            name = f"ctl-{i}"
            hosts.append(
                HostSpec(
                    name,
                    "controller",
                    ("Controller",),
                    galera=True,
                    ceph_mon=ceph,
                    pacemaker=True,
                    containers=(
                        f"galera-bundle-podman-{i}",
                        f"rabbitmq-bundle-podman-{i}",
                        f"haproxy-bundle-podman-{i}",
                        "nova_api",
                        "keystone",
                    )
                    + ((f"ceph-mon-{name}",) if ceph else ()),
                )
            )
    hosts.append(HostSpec("backup-0", "backup", ("BackupNode",)))
    return hosts


# --------------------------------------------------------------------------- small helpers


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}")
    return result


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _pid_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _kill_and_wait(pid: int, timeout: float = 3.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.02)
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _wait_listening(address: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, 22), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _deep_merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


@contextlib.contextmanager
def _global_lock() -> Iterator[None]:
    REGISTRY.mkdir(parents=True, exist_ok=True)
    (REGISTRY / "active").mkdir(exist_ok=True)
    with open(REGISTRY / "lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


_UNAVAILABLE: list[str | None] = []


def unavailable_reason() -> str | None:
    """Why the lab cannot run on this machine, or None when it can (probes once)."""
    if _UNAVAILABLE:
        return _UNAVAILABLE[0]
    reason: str | None = None
    if os.geteuid() != 0:
        reason = "lab needs root (network namespaces)"
    else:
        for tool in ("ip", "unshare", "ssh", "ssh-keygen", "timeout"):
            if shutil.which(tool) is None:
                reason = f"lab needs `{tool}` on PATH"
                break
        if reason is None and not os.access(SSHD, os.X_OK):
            reason = f"lab needs {SSHD} (openssh-server)"
        if reason is None:
            probe = f"blprobe{secrets.token_hex(3)}"
            result = _run("ip", "netns", "add", probe, check=False)
            if result.returncode != 0:
                reason = f"`ip netns add` fails: {result.stderr.strip()}"
            else:
                _run("ip", "netns", "del", probe, check=False)
    _UNAVAILABLE.append(reason)
    return reason


# --------------------------------------------------------------------------- the lab


@dataclass
class _Host:
    spec: HostSpec
    index: int
    namespace: str
    veth: str
    address: str
    directory: Path
    pid: int | None = None  # sshd, or the banner-hang listener
    listener: bool = False
    faults: set[str] = field(default_factory=set)


class Lab:
    """A running lab.  Use :meth:`running` (context manager) or :meth:`up` / :meth:`down`."""

    def __init__(self, directory: Path, hosts: Sequence[HostSpec]) -> None:
        names = [h.name for h in hosts]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate host names: {names}")
        backups = [h for h in hosts if h.role == "backup"]
        if len(backups) > 1:
            raise ValueError("at most one backup host")
        self.directory = Path(directory).resolve()
        self.specs = list(hosts)
        self.lab_id = secrets.token_hex(3)
        self.bridge = f"bl{self.lab_id}"
        self.network: IPv4Network | None = None
        self.root_address = ""
        self.mysql_password = secrets.token_urlsafe(18)
        self.created_mount_points: list[str] = []
        self._hosts: dict[str, _Host] = {}
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._is_up = False

    # ---------------------------------------------------------------- paths

    @property
    def bin_directory(self) -> Path:
        """Directory of the stand-in wrappers (first on every host's PATH)."""
        return self.directory / "bin"

    @property
    def inventory_path(self) -> Path:
        """The TripleO static inventory for the lab."""
        return self.directory / "tripleo-inventory.yaml"

    @property
    def known_hosts_path(self) -> Path:
        """known_hosts with every host key under its lab address (not hashed)."""
        return self.directory / "known_hosts"

    @property
    def client_key_path(self) -> Path:
        """The client's ed25519 private key (public key next to it, ``.pub``)."""
        return self.directory / "client" / "id_ed25519"

    @property
    def export_directory(self) -> Path:
        """The backup host's NFS export (``/ctl_plane_backups`` in BACKUP_URL maps here)."""
        backup = self.backup_host
        if backup is None:
            return self.directory / "export"
        return self.directory / "hosts" / backup / "export"

    @property
    def backup_host(self) -> str | None:
        """Name of the backup host (role ``backup``), if any."""
        for spec in self.specs:
            if spec.role == "backup":
                return spec.name
        return None

    @property
    def host_names(self) -> list[str]:
        """Host names in spec order."""
        return [s.name for s in self.specs]

    def address(self, host: str) -> str:
        """The host's lab address."""
        return self._hosts[host].address

    def namespace(self, host: str) -> str:
        """The host's network namespace name."""
        return self._hosts[host].namespace

    def host_directory(self, host: str, which: str = "") -> Path:
        """Per-host lab directory; ``which``: ``etc-rear``, ``etc-cron.d``, ``var-lib-barctl``,
        ``var-lib-rear`` or ``home`` (bind sources of /etc/rear, /etc/cron.d, /var/lib/barctl,
        /var/lib/rear, root's home)."""
        base = self.directory / "hosts" / host
        return base / which if which else base

    def pids(self) -> dict[str, int]:
        """PID of each host's sshd (or banner-hang listener); stopped hosts are absent."""
        return {n: h.pid for n, h in self._hosts.items() if h.pid is not None}

    # ---------------------------------------------------------------- lifecycle

    @classmethod
    @contextlib.contextmanager
    def running(cls, directory: Path, hosts: Sequence[HostSpec]) -> Iterator[Lab]:
        """Bring a lab up in ``directory``; always torn down when the block exits."""
        lab = cls(directory, hosts)
        try:
            lab.up()
            yield lab
        finally:
            lab.down()

    def up(self) -> None:
        """Create bridge, namespaces, keys, sshds, state, inventory.  Raises LabUnavailable."""
        reason = unavailable_reason()
        if reason is not None:
            raise LabUnavailable(reason)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._is_up = True
        try:
            self._allocate_network()
            self._prepare_mount_points()
            self._write_files()
            for index, spec in enumerate(self.specs):
                self._create_host(index, spec)
            (self.directory / "state.json").write_text(json.dumps(self._initial_state(), indent=1))
            self._write_known_hosts()
            self.write_inventory()
            for host in self._hosts.values():
                self._start_sshd(host, wait=False)
            for host in self._hosts.values():
                _wait_listening(host.address)
            self._save_record()
        except BaseException:
            self.down()
            raise

    def _allocate_network(self) -> None:
        subnets = list(LAB_SUPERNET.subnets(new_prefix=24))
        with _global_lock():
            used = (
                _run("ip", "-4", "-o", "addr", "show").stdout
                + _run("ip", "-4", "route", "show", "table", "all").stdout
            )
            existing_links = _run("ip", "-o", "link", "show").stdout
            if f" {self.bridge}:" in existing_links or f" {self.bridge}@" in existing_links:
                raise RuntimeError(f"bridge name {self.bridge} already in use")
            random.shuffle(subnets)
            for net in subnets:
                prefix = str(net.network_address).rsplit(".", 1)[0] + "."
                if prefix in used:
                    continue
                self.network = net
                break
            else:
                raise RuntimeError("no free /24 in 198.18.0.0/15")
            hosts = list(self.network.hosts())
            self.root_address = str(hosts[0])
            _run("ip", "link", "add", self.bridge, "type", "bridge")
            self._sysctl_ipv6_off(None, self.bridge)
            _run("ip", "addr", "add", f"{self.root_address}/24", "dev", self.bridge)
            _run("ip", "link", "set", self.bridge, "up")
            (REGISTRY / "active" / self.lab_id).write_text(
                json.dumps({"bridge": self.bridge, "directory": str(self.directory)})
            )

    @staticmethod
    def _sysctl_ipv6_off(namespace: str | None, link: str) -> None:
        path = f"/proc/sys/net/ipv6/conf/{link}/disable_ipv6"
        if namespace is None:
            with contextlib.suppress(OSError):
                Path(path).write_text("1")
        else:
            _run("ip", "netns", "exec", namespace, "sh", "-c", f"echo 1 > {path}", check=False)

    def _prepare_mount_points(self) -> None:
        with _global_lock():
            created_file = REGISTRY / "created-mount-points"
            for path in MOUNT_POINTS:
                if not path.exists():
                    path.mkdir(parents=False)
                    self.created_mount_points.append(str(path))
                    with open(created_file, "a") as out:
                        out.write(f"{path}\n")

    def _write_files(self) -> None:
        d = self.directory
        for sub in ("bin", "client", "hosts"):
            (d / sub).mkdir(exist_ok=True)
        script = Path(standin.__file__).resolve().with_name("standin_launcher.py")
        for name in standin.STANDIN_NAMES:
            wrapper = self.bin_directory / name
            wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -I -S {script} {name} "$@"\n')
            wrapper.chmod(0o755)
        (self.bin_directory / "sudo").write_text(SUDO_SCRIPT)
        (self.bin_directory / "sudo").chmod(0o755)
        key = self.client_key_path
        if not key.exists():
            _run(
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"barctl-lab-{self.lab_id}",
                "-f",
                str(key),
            )
        (d / "invocations.jsonl").write_text("")
        (d / "state.lock").touch()

    def _create_host(self, index: int, spec: HostSpec) -> None:
        assert self.network is not None
        address = str(self.network.network_address + 10 + index)
        host = _Host(
            spec,
            index,
            f"{self.bridge}-{spec.name}",
            f"{self.bridge}h{index}",
            address,
            self.directory / "hosts" / spec.name,
        )
        self._hosts[spec.name] = host
        host.directory.mkdir(parents=True, exist_ok=True)
        for sub in HOST_DIRECTORIES:
            (host.directory / sub).mkdir(exist_ok=True)
        self._make_hook_directories(host.directory)
        # root's home is per host (an empty dir, no dotfiles: the PATH from SetEnv is kept)
        passwd = []
        for line in Path("/etc/passwd").read_text().splitlines():
            parts = line.split(":")
            if len(parts) == 7 and parts[0] == "root":
                parts[5] = str(host.directory / "home")
            passwd.append(":".join(parts))
        (host.directory / "passwd").write_text("\n".join(passwd) + "\n")
        (host.directory / "export").mkdir(exist_ok=True)
        ns, peer = host.namespace, f"{self.bridge}p{index}"
        _run("ip", "netns", "add", ns)
        _run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", peer)
        self._sysctl_ipv6_off(None, host.veth)
        _run("ip", "link", "set", peer, "netns", ns)
        _run("ip", "link", "set", host.veth, "master", self.bridge, "up")
        _run("ip", "-n", ns, "link", "set", peer, "name", "eth0")
        self._sysctl_ipv6_off(ns, "eth0")
        _run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        _run("ip", "-n", ns, "link", "set", "eth0", "up")
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        key = host.directory / "ssh_host_ed25519_key"
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", spec.name, "-f", str(key))
        shutil.copy(key, host.directory / "ssh_host_ed25519_key.orig")
        shutil.copy(key.with_suffix(".pub"), host.directory / "ssh_host_ed25519_key.orig.pub")
        shutil.copy(self.client_key_path.with_suffix(".pub"), host.directory / "authorized_keys")
        env = (
            f"PATH={self.bin_directory}:/usr/sbin:/usr/bin:/sbin:/bin "
            f"BARCTL_LAB_HOST={spec.name} BARCTL_LAB_DIR={self.directory}"
        )
        (host.directory / "sshd_config").write_text(
            "\n".join(
                [
                    f"ListenAddress {address}",
                    "Port 22",
                    f"HostKey {key}",
                    f"PidFile {host.directory / 'sshd.pid'}",
                    f"AuthorizedKeysFile {host.directory / 'authorized_keys'}",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "UseDNS no",
                    "PrintMotd no",
                    "MaxStartups 100:30:200",
                    "MaxSessions 50",
                    f"SetEnv {env}",
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )

    def _start_sshd(self, host: _Host, *, wait: bool = True) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        script = (
            f"mount --bind {host.directory / 'etc-rear'} /etc/rear && "
            f"mount --bind {host.directory / 'var-lib-barctl'} /var/lib/barctl && "
            f"mount --bind {host.directory / 'var-lib-rear'} /var/lib/rear && "
            f"mount --bind {host.directory / 'etc-cron.d'} /etc/cron.d && "
            f"mount --bind {host.directory / 'etc-exports.d'} /etc/exports.d && "
            f"mount --bind {host.directory / 'usr-share-rear'} /usr/share/rear && "
            f"mount --bind {host.directory / 'mnt'} /mnt && "
            # The backup node serves its export at the path the NFS URL names, as a real one does.
            f"mount --bind {host.directory / 'export'} {EXPORT_PATH} && "
            f"mount --bind {host.directory / 'passwd'} /etc/passwd && "
            f"hostname {host.spec.name} && "
            f"exec {SSHD} -D -e -f {host.directory / 'sshd_config'}"
        )
        log = open(host.directory / "sshd.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                host.namespace,
                "unshare",
                "--mount",
                "--uts",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        self._procs[proc.pid] = proc
        host.pid, host.listener = proc.pid, False
        if wait:
            _wait_listening(host.address)

    def _start_listener(self, host: _Host) -> None:
        proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                host.namespace,
                sys.executable,
                "-I",
                "-S",
                "-c",
                BANNER_HANG_LISTENER,
                host.address,
                str(self.directory),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._procs[proc.pid] = proc
        host.pid, host.listener = proc.pid, True
        _wait_listening(host.address)

    def _stop_process(self, host: _Host) -> None:
        if host.pid is None:
            return
        pid = host.pid
        host.pid = None
        if str(self.directory) in _pid_cmdline(pid) or pid in self._procs:
            _kill_and_wait(pid)
        proc = self._procs.pop(pid, None)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=3)
        # sessions spawned by that sshd keep running until teardown; that is like real sshd.

    def _write_known_hosts(self) -> None:
        lines = []
        for host in self._hosts.values():
            pub = (host.directory / "ssh_host_ed25519_key.orig.pub").read_text().split()
            lines.append(f"{host.address} {pub[0]} {pub[1]}")
        self.known_hosts_path.write_text("\n".join(lines) + "\n")

    def down(self) -> None:
        """Tear down everything this lab created (idempotent)."""
        if not self._is_up:
            return
        self._is_up = False
        errors: list[str] = []
        for host in self._hosts.values():
            try:
                self._stop_process(host)
            except Exception as exc:
                errors.append(f"{host.spec.name}: {exc}")
        for host in self._hosts.values():
            errors += _remove_namespace(host.namespace, host.veth)
        if _link_exists(self.bridge):
            result = _run("ip", "link", "del", self.bridge, check=False)
            if result.returncode != 0:
                errors.append(result.stderr.strip())
        _release_registry(self.lab_id)
        record = self.directory / "lab.json"
        if record.exists():
            data = json.loads(record.read_text())
            data["down"] = True
            record.write_text(json.dumps(data, indent=1))
        if errors:
            raise RuntimeError("lab teardown problems: " + "; ".join(errors))

    def _save_record(self) -> None:
        assert self.network is not None
        data = {
            "id": self.lab_id,
            "directory": str(self.directory),
            "bridge": self.bridge,
            "network": str(self.network),
            "root_address": self.root_address,
            "created_mount_points": self.created_mount_points,
            "hosts": {
                n: {
                    "namespace": h.namespace,
                    "veth": h.veth,
                    "address": h.address,
                    "pid": h.pid,
                    "role": h.spec.role,
                    "faults": sorted(h.faults),
                }
                for n, h in self._hosts.items()
            },
            "down": False,
        }
        (self.directory / "lab.json").write_text(json.dumps(data, indent=1))

    # ---------------------------------------------------------------- state

    def _initial_state(self) -> dict[str, Any]:
        nodes: dict[str, Any] = {}
        for spec in self.specs:
            units: dict[str, str] = {}
            if spec.ceph_mon:
                units = {f"ceph-mon@{spec.name}": "active", f"ceph-mgr@{spec.name}": "active"}
            nodes[spec.name] = {
                "pacemaker_member": spec.pacemaker,
                "pacemaker_name": spec.name,
                "pacemaker": "online" if spec.pacemaker else "offline",
                "online_at": None,
                "galera": spec.galera,
                "wsrep_desync": "OFF",
                "wsrep_state": "Synced" if spec.galera else "",
                # Database accounts as [user, host] pairs; None: root@localhost plus one
                # service account per database (see standin.DATABASES).
                "mysql_accounts": None,
                # False: mysqldump ends without its `-- Dump completed` trailer (cut short).
                "mysqldump_trailer": True,
                "containers": {c: "running" for c in spec.containers},
                "ceph_mon": spec.ceph_mon,
                "ceph_units": units,
                # per-node hiera overrides the lab-wide map; None prints `nil`
                "hiera": {
                    "tripleo::profile::pacemaker::database::mysql::bind_address": (
                        self._hosts[spec.name].address if spec.galera else None
                    ),
                },
            }
        hiera: dict[str, Any] = {
            "mysql::server::root_password": self.mysql_password,
            "container_cli": "podman",
        }
        backup = self.backup_host
        return {
            "cluster_name": "tripleo_cluster",
            "nodes": nodes,
            "hiera": hiera,
            "faults": [],
            "down_hosts": {},
            "backup_host": backup,
            "addresses": {n: h.address for n, h in self._hosts.items()},
            "export_path": EXPORT_PATH,
            "export_dir": str(self.export_directory),
            "rejoin_delay": 0.0,
            "cephadm_ls": "[]",
            "rear": {
                "version": DEFAULT_REAR_VERSION,
                "versions": {},
                "archive_sizes": {},
                "sftp_accounts": None,
                "sftp_check_host_key": False,
                "faults": {},
            },
            "free_bytes": {},
            # barctl setup's world (lab/setup_standins.py): what rpm -q finds (ReaR itself on
            # every node that runs it, nothing on the backup node), the backup node's active
            # export table (exportfs -ra), and where /var/lib/ceph lives on monitor nodes.
            "packages": {
                spec.name: [] if spec.role == "backup" else ["rear"] for spec in self.specs
            },
            "exports": {},
            # Config-2 partitions per host (set_config_drive): blkid and dd read them.
            "config_drives": {},
            "ceph_mounts": {
                spec.name: ["/dev/vda2", "xfs", "/"] for spec in self.specs if spec.ceph_mon
            },
        }

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        with standin.locked_state(self.directory) as state:
            yield state

    def node_state(self, host: str) -> dict[str, Any]:
        """A copy of the simulated state of one node."""
        with self._state() as state:
            node: dict[str, Any] = copy.deepcopy(state["nodes"][host])
        return node

    def set_node(self, host: str, **fields: Any) -> None:
        """Set raw node fields (e.g. ``wsrep_desync="ON"``, ``pacemaker="offline"``)."""
        with self._state() as state:
            node = state["nodes"][host]
            unknown = set(fields) - set(node)
            if unknown:
                raise KeyError(f"unknown node fields: {sorted(unknown)}")
            node.update(fields)

    def set_pacemaker(self, host: str, online: bool) -> None:
        """Mark a pacemaker member online or offline (galera follows, as on a real node)."""
        with self._state() as state:
            node = state["nodes"][host]
            if online:
                node.update(pacemaker="online", online_at=None)
                if node["galera"]:
                    node.update(wsrep_state="Synced", wsrep_desync="OFF")
            else:
                node.update(pacemaker="offline", online_at=None)
                if node["galera"]:
                    node.update(wsrep_state="Disconnected", wsrep_desync="OFF")

    def set_pacemaker_state(self, host: str, state: str) -> None:
        """Put a member in ``online``, ``offline``, ``standby`` or ``maintenance``.

        Galera follows as on a real node: standby moves every resource off the node (its
        galera stops), maintenance leaves them running unmanaged.
        """
        if state not in ("online", "offline", "standby", "maintenance"):
            raise ValueError(f"unknown pacemaker state {state!r}")
        with self._state() as shared:
            node = shared["nodes"][host]
            node.update(pacemaker=state, online_at=None)
            if node["galera"] and state in ("offline", "standby"):
                node.update(wsrep_state="Disconnected", wsrep_desync="OFF")
            elif node["galera"]:
                node.update(wsrep_state="Synced", wsrep_desync="OFF")

    def set_pacemaker_name(self, host: str, name: str) -> None:
        """The name pacemaker knows ``host`` by (``crm_node -n``, crm_mon), if not its own."""
        self.set_node(host, pacemaker_name=name)

    def set_container(self, host: str, container: str, status: str) -> None:
        """Set a container to ``running`` or ``paused``."""
        with self._state() as state:
            state["nodes"][host]["containers"][container] = status

    def set_rejoin_delay(self, seconds: float) -> None:
        """Seconds between ``pcs cluster start`` and the node being online + Synced."""
        with self._state() as state:
            state["rejoin_delay"] = float(seconds)

    def set_hiera(self, key: str, value: Any, host: str | None = None) -> None:
        """Set a hiera key lab-wide, or for one host (None: the key prints ``nil``)."""
        with self._state() as state:
            if host is not None:
                state["nodes"][host]["hiera"][key] = value
            elif value is None:
                state["hiera"].pop(key, None)
            else:
                state["hiera"][key] = value

    def set_cephadm_ls(self, text: str) -> None:
        """Output of ``cephadm ls --no-detail`` (``[]`` means ceph-ansible deployment)."""
        with self._state() as state:
            state["cephadm_ls"] = text

    # ---------------------------------------------------------------- rear

    def set_rear(
        self,
        version: str | None = None,
        *,
        host: str | None = None,
        archive_size: int | None = None,
        corrupt: str | None = None,
    ) -> None:
        """ReaR's version (lab-wide, or on one host), a simulated archive size in bytes, and a
        broken result (`corrupt`, one of rear_standin.FAULTS; "" repairs) on `host` or all."""
        if version is not None and version not in rear_shell.RELEASE_DATES:
            raise ValueError(f"ReaR {version}: the lab knows {list(rear_shell.RELEASE_DATES)}")
        if corrupt and corrupt not in rear_standin.FAULTS:
            raise ValueError(f"fault {corrupt!r}: the lab knows {list(rear_standin.FAULTS)}")
        with self._state() as state:
            rear = state["rear"]
            if version is not None and host is None:
                rear["version"] = version
            elif version is not None:
                rear["versions"][host] = version
            if archive_size is not None:
                for name in [host] if host else self.host_names:
                    rear["archive_sizes"][name] = archive_size
            if corrupt is not None:
                for name in [host] if host else self.host_names:
                    rear.setdefault("faults", {})[name] = corrupt

    def set_ceph_mount(self, host: str, device: str, fstype: str, target: str) -> None:
        """Where /var/lib/ceph lives on ``host`` (findmnt), e.g. ``target="/var"`` when /var
        is its own mount; monitor nodes start with /dev/vda2, xfs, / (the guide's normal)."""
        with self._state() as state:
            state["ceph_mounts"][host] = [device, fstype, target]

    def installed_packages(self, host: str) -> list[str]:
        """What `rpm -q` finds installed on ``host``."""
        with self._state() as state:
            return list(state["packages"].get(host, []))

    def set_config_drive(self, host: str, content: bytes | None, device: str = "/dev/vda3") -> None:
        """Give ``host`` a partition labelled config-2 holding ``content`` (``blkid -t
        LABEL=config-2`` names ``device``, ``dd if=<device>`` reads it); None removes it."""
        path = self._hosts[host].directory / "devices" / Path(device).name
        with self._state() as state:
            drives = state.setdefault("config_drives", {})
            if content is None:
                drives.pop(host, None)
            else:
                drives[host] = device
        if content is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(content)

    def set_free_space(self, host: str, free_bytes: int) -> None:
        """`df -B1 --output=avail DIR` on `host` answers `free_bytes` (else the real df)."""
        with self._state() as state:
            state.setdefault("free_bytes", {})[host] = free_bytes

    def rear_version(self, host: str) -> str:
        """The ReaR version the host runs."""
        with self._state() as state:
            rear = state["rear"]
            return str(rear["versions"].get(host, rear["version"]))

    def set_sftp_account(
        self, user: str, *, password: str | None = None, public_keys: Sequence[str] = ()
    ) -> None:
        """Make the backup node's SFTP strict: only configured accounts log in (password or key,
        keys as the base64 field of a public key line)."""
        with self._state() as state:
            accounts = state["rear"]["sftp_accounts"] or {}
            accounts[user] = {"password": password, "keys": list(public_keys)}
            state["rear"]["sftp_accounts"] = accounts

    def set_sftp_host_key_check(self, check: bool) -> None:
        """ssh under lftp refuses a backup node missing from root's known_hosts (BZ 1955495)."""
        with self._state() as state:
            state["rear"]["sftp_check_host_key"] = check

    def root_ssh_key(self, host: str) -> str:
        """Give root on ``host`` an ed25519 key (~/.ssh/id_ed25519); returns its base64 field."""
        directory = self.host_directory(host, "home") / ".ssh"
        directory.mkdir(mode=0o700, exist_ok=True)
        key = directory / "id_ed25519"
        if not key.exists():
            _run(
                "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host}", "-f", str(key)
            )
        return key.with_suffix(".pub").read_text().split()[1]

    def boot_and_recover(self, host: str, iso: Path) -> rear_iso.RecoverResult:
        """Boot ``iso`` as ``host``'s rescue system and resolve what `rear recover` restores."""
        with self._state() as state:
            target = standin.rear_host(state, host)
        return rear_iso.recover(iso, host=host, version=target.version, target=target.target)

    def cluster_health(self) -> list[str]:
        """Problems with the simulated cluster; empty when healthy."""
        with self._state() as state:
            return health_problems(state)

    def is_cluster_healthy(self) -> bool:
        """True when :meth:`cluster_health` reports nothing."""
        return not self.cluster_health()

    # ---------------------------------------------------------------- invocations / faults

    def invocations(self, host: str | None = None) -> list[Invocation]:
        """Recorded stand-in invocations, oldest first (optionally of one host)."""
        result = []
        text = (self.directory / "invocations.jsonl").read_text()
        # A stand-in may be appending its line right now: only whole lines are read (a waiting
        # test polls while rear runs; a torn line raised JSONDecodeError).
        for line in text[: text.rfind("\n") + 1].splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            if host is None or item["host"] == host:
                result.append(
                    Invocation(item["host"], tuple(item["argv"]), item["time"], item.get("pid", 0))
                )
        return result

    def clear_invocations(self) -> None:
        """Forget recorded invocations."""
        (self.directory / "invocations.jsonl").write_text("")

    def inject(
        self,
        host: str | None,
        argv_prefix: Sequence[str],
        *,
        exit_code: int | None = None,
        hang: bool = False,
        sleep: float | None = None,
        times: int | None = None,
    ) -> None:
        """Make stand-in commands on ``host`` (None: any) whose argv starts with the prefix
        exit ``exit_code``, hang, or sleep first; expires after ``times`` matches.
        Applies before any state change; ``podman exec C CMD`` also matches on ``[CMD, ...]``.
        """
        if exit_code is None and not hang and sleep is None:
            raise ValueError("give exit_code, hang or sleep")
        with self._state() as state:
            state["faults"].append(
                {
                    "host": host,
                    "prefix": list(argv_prefix),
                    "exit": exit_code,
                    "hang": hang,
                    "sleep": sleep,
                    "times": times,
                }
            )

    def clear_faults(self) -> None:
        """Remove every injected command fault."""
        with self._state() as state:
            state["faults"] = []

    # ---------------------------------------------------------------- host faults

    def _mark_down(self, host: _Host, kind: str) -> None:
        host.faults.add(kind)
        with self._state() as state:
            state["down_hosts"][host.spec.name] = sorted(host.faults)
        self._save_record()

    def link_down(self, host: str) -> None:
        """TCP connects to the host time out (veth down + a neighbour entry to nowhere)."""
        h = self._hosts[host]
        _run("ip", "-n", h.namespace, "link", "set", "eth0", "down")
        _run(
            "ip",
            "neigh",
            "replace",
            h.address,
            "lladdr",
            UNUSED_MAC,
            "dev",
            self.bridge,
            "nud",
            "permanent",
        )
        self._mark_down(h, "link_down")

    def banner_hang(self, host: str) -> None:
        """Replace sshd by a listener that accepts and never sends the SSH banner."""
        h = self._hosts[host]
        self._stop_process(h)
        self._start_listener(h)
        self._mark_down(h, "banner_hang")

    def stop_sshd(self, host: str) -> None:
        """Kill the host's sshd (by recorded PID): connections are refused."""
        h = self._hosts[host]
        self._stop_process(h)
        self._mark_down(h, "sshd_stopped")

    def change_host_key(self, host: str) -> None:
        """Give the host a new host key (known_hosts keeps the old one) and restart sshd."""
        h = self._hosts[host]
        key = h.directory / "ssh_host_ed25519_key"
        key.unlink()
        key.with_suffix(".pub").unlink()
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{host}-new", "-f", str(key))
        was_listener = h.listener
        self._stop_process(h)
        if was_listener:
            self._start_listener(h)
        elif "sshd_stopped" not in h.faults:
            self._start_sshd(h)
        h.faults.add("host_key_changed")
        self._save_record()

    def restore(self, host: str) -> None:
        """Undo every host fault: link up, original key, sshd running."""
        h = self._hosts[host]
        if "link_down" in h.faults:
            _run("ip", "neigh", "del", h.address, "dev", self.bridge, check=False)
            _run("ip", "-n", h.namespace, "link", "set", "eth0", "up")
        key = h.directory / "ssh_host_ed25519_key"
        if "host_key_changed" in h.faults:
            shutil.copy(h.directory / "ssh_host_ed25519_key.orig", key)
            shutil.copy(h.directory / "ssh_host_ed25519_key.orig.pub", key.with_suffix(".pub"))
            self._stop_process(h)
        if h.listener:
            self._stop_process(h)
        if h.pid is None or not _pid_alive(h.pid):
            h.pid = None
            self._start_sshd(h)
        h.faults.clear()
        with self._state() as state:
            state["down_hosts"].pop(host, None)
        self._save_record()

    def faults(self, host: str) -> set[str]:
        """Active host faults (link_down, banner_hang, sshd_stopped, host_key_changed)."""
        return set(self._hosts[host].faults)

    def reset(self) -> None:
        """Healthy state, no faults, no invocations, every host restored, lab dirs emptied."""
        for name, h in self._hosts.items():
            if h.faults or h.pid is None:
                self.restore(name)
        with self._state() as state:
            state.clear()
            state.update(self._initial_state())
        self.clear_invocations()
        for h in self._hosts.values():
            for sub in (*HOST_DIRECTORIES, "export"):
                base = h.directory / sub
                if base.is_dir():
                    for child in base.iterdir():  # keep the dir itself: it is bind-mounted
                        if child.is_dir() and not child.is_symlink():
                            shutil.rmtree(child)
                        else:
                            child.unlink()
            self._make_hook_directories(h.directory)

    @staticmethod
    def _make_hook_directories(directory: Path) -> None:
        for sub in REAR_HOOK_DIRECTORIES:
            (directory / "usr-share-rear" / sub).mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------- ssh / files

    def ssh_argv(
        self, host: str, command: str, *, connect_timeout: float = 5, user: str = "root"
    ) -> list[str]:
        """An ``ssh`` argv that logs into ``host`` strictly with the lab's key and known_hosts."""
        return [
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            str(self.client_key_path),
            "-o",
            f"UserKnownHostsFile={self.known_hosts_path}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "LogLevel=ERROR",
            "-o",
            f"ConnectTimeout={int(max(1, connect_timeout))}",
            f"{user}@{self.address(host)}",
            command,
        ]

    def ssh(
        self,
        host: str,
        command: str,
        *,
        input: str | None = None,
        timeout: float = 30,
        connect_timeout: float = 5,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on ``host`` over real ssh; returns the completed process."""
        return subprocess.run(
            self.ssh_argv(host, command, connect_timeout=connect_timeout),
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def write_inventory(self, path: Path | None = None, stack: str = "overcloud") -> Path:
        """Write the TripleO static inventory (tripleo.md §6 format) and return its path."""
        target = path or self.inventory_path
        target.write_text(yaml.safe_dump(self.inventory(stack), sort_keys=False))
        return target

    def inventory(self, stack: str = "overcloud") -> dict[str, Any]:
        """The inventory as a dict (top-level groups, no ``all:``)."""
        inv: dict[str, Any] = {}
        uc = [s for s in self.specs if s.role == "undercloud"]
        if uc:
            inv["Undercloud"] = {
                "hosts": {uc[0].name: {}},
                "vars": {
                    "ansible_connection": "local",
                    "ansible_host": "localhost",
                    "ansible_remote_tmp": "/tmp/ansible-${USER}",
                    "plan": stack,
                    "plans": [stack],
                    "username": "admin",
                    "project_name": "admin",
                },
            }
        roles: dict[str, list[HostSpec]] = {}
        for spec in self.specs:
            if spec.role in ("undercloud", "backup") or not spec.groups:
                continue
            roles.setdefault(spec.groups[0], []).append(spec)
        for role, members in roles.items():
            inv[role] = {"children": {f"{stack}_{role}": {}}}
            inv[f"{stack}_{role}"] = {
                "hosts": {
                    s.name: {
                        "ansible_host": self.address(s.name),
                        "ctlplane_ip": self.address(s.name),
                        "ctlplane_hostname": f"{s.name}.ctlplane.lab.example",
                        "canonical_hostname": f"{s.name}.lab.example",
                        "deploy_server_id": _server_id(self.lab_id, s.name),
                    }
                    for s in members
                },
                "vars": {
                    "ansible_ssh_user": "root",
                    "bootstrap_server_id": _server_id(self.lab_id, members[0].name),
                    "serial": "1",
                    "tripleo_role_name": role,
                    "tripleo_role_networks": ["ctlplane"],
                },
            }
        inv["allovercloud"] = {"children": {f"{stack}_allovercloud": {}}}
        inv[f"{stack}_allovercloud"] = {
            "children": {f"{stack}_{r}": {} for r in roles},
            "vars": {"container_cli": "podman", "ctlplane_vip": self.root_address},
        }
        inv[stack] = {"children": {f"{stack}_allovercloud": {}}}
        for service, attribute in (
            ("pacemaker", "pacemaker"),
            ("mysql", "galera"),
            ("ceph_mon", "ceph_mon"),
        ):
            with_service = [r for r, m in roles.items() if any(getattr(s, attribute) for s in m)]
            if not with_service:
                continue
            inv[service] = {"children": {f"{stack}_{service}": {}}}
            inv[f"{stack}_{service}"] = {
                "children": {f"{stack}_{r}": {} for r in with_service},
                "vars": {"ansible_ssh_user": "root"},
            }
        backup = self.backup_host
        if backup is not None:
            inv["BackupNode"] = {
                "hosts": {backup: {"ansible_host": self.address(backup), "ansible_user": "root"}}
            }
        return inv

    def policy(self, **overrides: Any) -> dict[str, Any]:
        """A valid barctl policy for this lab (dict), ``overrides`` deep-merged."""
        roles = []
        for spec in self.specs:
            if spec.role == "controller" and spec.groups and spec.groups[0] not in roles:
                roles.append(spec.groups[0])
        base: dict[str, Any] = {
            "inventory": {"path": str(self.inventory_path)},
            "ssh": {
                "user": "root",
                "private_key": str(self.client_key_path),
                "known_hosts": str(self.known_hosts_path),
                "connect_timeout_seconds": 5,
            },
            "backup_target": {
                "nfs": {
                    "server": self.address(self.backup_host) if self.backup_host else "",
                    "export": EXPORT_PATH,
                },
                "min_free_bytes": LAB_MIN_FREE_BYTES,
            },
            "plans": {
                "undercloud": {"schedule": "30 1 * * *"},
                "controlplane": {"schedule": "30 2 * * sun", "groups": roles or ["Controller"]},
            },
            "state_directory": str(self.directory / "barctl-state"),
            "runtime_directory": str(self.directory / "barctl-run"),
            "metrics": {"listen": f"{self.root_address}:17643"},
            "log": {"format": "console"},
        }
        if self.backup_host:
            base["backup_target"]["node"] = self.backup_host
        uc = [s for s in self.specs if s.role == "undercloud"]
        if uc:
            base["undercloud"] = {"address": self.address(uc[0].name)}
        return _deep_merge(base, overrides)

    def write_policy(self, path: Path | None = None, **overrides: Any) -> Path:
        """Write :meth:`policy` as YAML (default ``<lab>/policy.yaml``) and return the path."""
        target = path or self.directory / "policy.yaml"
        target.write_text(yaml.safe_dump(self.policy(**overrides), sort_keys=False))
        return target


def _server_id(lab_id: str, name: str) -> str:
    digest = hashlib.sha256(f"{lab_id}:{name}".encode()).hexdigest()[:12]
    return f"0b7c1d9e-0000-4000-8000-{digest}"


def health_problems(state: Mapping[str, Any]) -> list[str]:
    """Health check of a state dict (see :meth:`Lab.cluster_health`)."""
    problems: list[str] = []
    nodes: Mapping[str, Any] = state["nodes"]
    members = [n for n, v in nodes.items() if v["pacemaker_member"]]
    online = [n for n in members if nodes[n]["pacemaker"] == "online"]
    for name in members:
        if name not in online:
            problems.append(f"{name}: pacemaker {nodes[name]['pacemaker']}")
    # Quorum counts votes: standby and maintenance nodes still run corosync.
    running = [n for n in members if nodes[n]["pacemaker"] in standin.RUNNING_STATES]
    if members and not len(running) * 2 > len(members):
        problems.append(f"cluster without quorum ({len(running)}/{len(members)} running)")
    for name, node in nodes.items():
        for container, status in sorted(node["containers"].items()):
            if status == "paused":
                problems.append(f"{name}: container {container} paused")
        if node["galera"]:
            if node["wsrep_desync"] != "OFF":
                problems.append(f"{name}: wsrep_desync {node['wsrep_desync']}")
            if node["wsrep_state"] != "Synced":
                problems.append(f"{name}: galera {node['wsrep_state'] or 'not running'}")
        for unit, status in sorted(node["ceph_units"].items()):
            if status != "active":
                problems.append(f"{name}: {unit} {status}")
    return problems


# --------------------------------------------------------------------------- teardown helpers


def _link_exists(name: str) -> bool:
    return _run("ip", "link", "show", name, check=False).returncode == 0


def _remove_namespace(namespace: str, veth: str) -> list[str]:
    errors: list[str] = []
    if namespace in _run("ip", "netns", "list").stdout.split():
        for _ in range(3):
            pids = [
                int(p) for p in _run("ip", "netns", "pids", namespace, check=False).stdout.split()
            ]
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            for pid in pids:
                deadline = time.monotonic() + 2
                while _pid_alive(pid) and time.monotonic() < deadline:
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, os.WNOHANG)
                    time.sleep(0.01)
        result = _run("ip", "netns", "del", namespace, check=False)
        if result.returncode != 0:
            errors.append(f"ip netns del {namespace}: {result.stderr.strip()}")
    if _link_exists(veth):
        _run("ip", "link", "del", veth, check=False)
    return errors


def _release_registry(lab_id: str) -> None:
    """Drop this lab from the registry; the last lab out removes empty mount points."""
    with _global_lock():
        (REGISTRY / "active" / lab_id).unlink(missing_ok=True)
        for entry in (REGISTRY / "active").iterdir():
            with contextlib.suppress(OSError, ValueError):
                bridge = json.loads(entry.read_text())["bridge"]
                if not _link_exists(bridge):
                    entry.unlink()
        if any((REGISTRY / "active").iterdir()):
            return
        created_file = REGISTRY / "created-mount-points"
        if not created_file.exists():
            return
        for line in created_file.read_text().splitlines():
            path = Path(line.strip())
            if path in MOUNT_POINTS and path.is_dir() and not any(path.iterdir()):
                with contextlib.suppress(OSError):
                    path.rmdir()
        created_file.unlink()


def down_from_record(directory: Path) -> None:
    """Tear down a lab from ``<directory>/lab.json`` (the CLI's ``down``)."""
    record_path = Path(directory).resolve() / "lab.json"
    data = json.loads(record_path.read_text())
    lab_dir = data["directory"]
    for host in data["hosts"].values():
        pid = host.get("pid")
        if pid and lab_dir in _pid_cmdline(int(pid)):
            _kill_and_wait(int(pid))
    for host in data["hosts"].values():
        _remove_namespace(host["namespace"], host["veth"])
    if _link_exists(data["bridge"]):
        _run("ip", "link", "del", data["bridge"], check=False)
    _release_registry(data["id"])
    data["down"] = True
    record_path.write_text(json.dumps(data, indent=1))
