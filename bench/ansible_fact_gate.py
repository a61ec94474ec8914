"""The pure half of bench/ansible_gate_bench.py: Ansible's inventory, environment and argv,
the timing of a process tree, the figures' lines. Imports neither the lab nor barctl.
"""

from __future__ import annotations

import ctypes
import ipaddress
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venv-ansible"
# 2.18's controller runs on Python 3.11-3.13 and its modules on 3.8-3.13: this machine's
# python3 (3.11) drives it, and the lab nodes are namespaces of this machine, whose
# /usr/bin/python3 (3.11) runs the setup module (ansible-core 2.18 porting guide / support matrix).
ANSIBLE_CORE = "ansible-core==2.18.19"
NODE_PYTHON = "/usr/bin/python3"
FACT_GATE = ("-m", "setup", "-a", "gather_subset=!all,min")
LAB_NETWORK = ipaddress.ip_network("198.18.0.0/15")
# `display.vvv("SSH: EXEC ...", host=...)` in ansible's ssh connection plugin prints
# `<ADDRESS> SSH: EXEC ssh ...` (or `sftp`/`scp` for a file transfer): one channel each.
EXEC_LINE = re.compile(r"^<([^>]+)> SSH: EXEC (\S+)", re.MULTILINE)
PR_SET_CHILD_SUBREAPER = 36  # prctl(2)


@dataclass(frozen=True)
class Measure:
    """One timed gate: tool, parallelism, wall seconds, client CPU seconds (the process and all it
    started), the lab nodes' CPU seconds (every command the gate ran on them), whether it passed."""

    tool: str
    parallel: int
    wall: float
    cpu: float
    node_cpu: float
    ok: bool


def ansible_executable(venv: Path) -> Path | None:
    """The `ansible` of the bench's own venv, or None when ansible-core is not installed there."""
    candidate = venv / "bin" / "ansible"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def skip_line(venv: Path) -> str:
    """What the bench prints when there is no Ansible to compare with."""
    return (
        f"ansible gate bench: SKIPPED, ansible-core is not installed in {venv}"
        f" (run with --install to pip-install {ANSIBLE_CORE} there; needs PyPI)"
    )


def install(venv: Path) -> Path:
    """Create `venv` and pip-install ansible-core into it (idempotent); its `ansible`."""
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", ANSIBLE_CORE]
    subprocess.run(pip, check=True)
    found = ansible_executable(venv)
    if found is None:
        raise SystemExit(f"pip installed {ANSIBLE_CORE} but {venv}/bin/ansible is missing")
    return found


def inventory(
    hosts: Sequence[tuple[str, str, int]], user: str, key: Path, known_hosts: Path
) -> dict[str, object]:
    """A YAML/JSON inventory of `hosts` (name, address, port): addresses only, strict host keys.

    Refuses an address outside the lab's 198.18.0.0/15, so no real host is ever contacted.
    """
    for name, address, _port in hosts:
        if ipaddress.ip_address(address) not in LAB_NETWORK:
            raise ValueError(f"{name}: {address} is not a lab address (198.18.0.0/15)")
    ssh_options = (
        f"-F /dev/null -o UserKnownHostsFile={known_hosts} -o GlobalKnownHostsFile=/dev/null"
        " -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes"
    )
    return {
        "all": {
            "hosts": {
                name: {"ansible_host": address, "ansible_port": port}
                for name, address, port in hosts
            },
            "vars": {
                "ansible_user": user,
                "ansible_ssh_private_key_file": str(key),
                "ansible_python_interpreter": NODE_PYTHON,
                "ansible_ssh_common_args": ssh_options,
            },
        }
    }


def write_inventory(
    path: Path, hosts: Sequence[tuple[str, str, int]], user: str, key: Path, known_hosts: Path
) -> Path:
    """Write :func:`inventory` as JSON (which Ansible's yaml inventory plugin reads)."""
    path.write_text(json.dumps(inventory(hosts, user, key, known_hosts), indent=1))
    return path


# tripleo-common's write_default_ansible_cfg (tripleo_common/utils/ansible.py, wallaby): the
# ansible.cfg an undercloud's playbooks run with. Its host key settings are left out: checking
# stays on here.
TRIPLEO_CONFIG = {
    "ANSIBLE_PIPELINING": "True",
    "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=30m -o ServerAliveInterval=5"
    " -o ServerAliveCountMax=5 -o PreferredAuthentications=publickey",
    "ANSIBLE_INTERNAL_POLL_INTERVAL": "0.01",
    "ANSIBLE_INJECT_FACT_VARS": "False",
}


def ansible_environment(scratch: Path, tripleo: bool) -> dict[str, str]:
    """`ansible`'s environment: config by ANSIBLE_* variables, every local write in scratch."""
    home = scratch / "home"
    for directory in (home, scratch / "tmp", scratch / "cp"):
        directory.mkdir(parents=True, exist_ok=True)
    config = scratch / "ansible.cfg"
    config.write_text("")  # never ./ansible.cfg, ~/.ansible.cfg or /etc/ansible/ansible.cfg
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    environment.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: bytecode read, not compiled
    environment.update(
        HOME=str(home),
        ANSIBLE_CONFIG=str(config),
        ANSIBLE_HOME=str(home / ".ansible"),
        ANSIBLE_LOCAL_TEMP=str(scratch / "tmp"),
        ANSIBLE_SSH_CONTROL_PATH_DIR=str(scratch / "cp"),
        ANSIBLE_HOST_KEY_CHECKING="True",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_NOCOLOR="1",
    )
    # Otherwise Ansible's defaults: ssh_args `-C -o ControlMaster=auto -o ControlPersist=60s`,
    # no pipelining (a temporary directory, an sftp upload and a chmod per module run).
    environment.update(TRIPLEO_CONFIG if tripleo else {"ANSIBLE_PIPELINING": "False"})
    return environment


def ansible_argv(executable: Path, inventory_path: Path, forks: int, verbose: bool) -> list[str]:
    """The fact gate as the wallaby guard runs it, at `forks`."""
    argv = [str(executable), "all", "-i", str(inventory_path), *FACT_GATE, "-f", str(forks)]
    return [*argv, "-vvv"] if verbose else argv


def barctl_argv(policy: Path) -> list[str]:
    """barctl's gate alone, as an operator runs it."""
    return [sys.executable, "-m", "barctl", "-c", str(policy), "precheck", "controlplane"]


def count_exec_channels(verbose_output: str) -> Counter[str]:
    """Ansible's exec channels per host address, from its `-vvv` output."""
    return Counter(match.group(1) for match in EXEC_LINE.finditer(verbose_output))


def format_measure(measure: Measure, hosts: int) -> str:
    """One timed run as a line."""
    return (
        f"{measure.tool} at {measure.parallel}: {measure.wall:.2f}s wall,"
        f" {measure.cpu * 1000 / hosts:.0f} ms client CPU per host,"
        f" {measure.node_cpu * 1000 / hosts:.0f} ms node CPU per host"
        f" ({'passed' if measure.ok else 'FAILED'})"
    )


def median_measure(measures: Sequence[Measure]) -> Measure:
    """The median of each figure of `measures` (one tool, one parallelism); ok if all were."""
    first = measures[0]
    return Measure(
        first.tool,
        first.parallel,
        statistics.median(m.wall for m in measures),
        statistics.median(m.cpu for m in measures),
        statistics.median(m.node_cpu for m in measures),
        all(m.ok for m in measures),
    )


def summary_lines(measures: Sequence[Measure], hosts: int) -> list[str]:
    """Medians per tool and parallelism, and the ratios ansible / barctl at each parallelism."""
    lines = []
    for parallel in sorted({measure.parallel for measure in measures}):
        medians: dict[str, Measure] = {}
        for tool in ("barctl", "ansible"):
            chosen = [m for m in measures if m.tool == tool and m.parallel == parallel]
            if chosen:
                medians[tool] = median_measure(chosen)
                lines.append(f"median of {len(chosen)}: {format_measure(medians[tool], hosts)}")
        if len(medians) == 2:
            ansible, barctl = medians["ansible"], medians["barctl"]
            ratio = ansible.wall / barctl.wall
            lines.append(
                f"ratio ansible / barctl at {parallel}: {ratio:.2f}x wall"
                f" (target >= 3x: {'met' if ratio >= 3 else 'not met'}),"
                f" {ansible.cpu / barctl.cpu:.2f}x client CPU,"
                f" {ansible.node_cpu / barctl.node_cpu:.2f}x node CPU"
            )
    return lines


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def children() -> set[int]:
    """The PIDs whose parent is this process (any thread of it)."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            found.update(int(word) for word in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def reap_adopted(known: set[int]) -> int:
    """End and reap the ssh masters this process adopted from a run (PIDs it did not know)."""
    reaped = 0
    for pid in sorted(children() - known):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if name not in ("ssh", "sftp"):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            time.sleep(0.01)
        reaped += 1
    return reaped


def children_cpu() -> float:
    """User + system seconds of every reaped descendant so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Timed:
    """A finished process: wall and CPU seconds (it and all it started), output, exit status,
    and how many detached ssh masters it left that were reaped (their CPU is in `cpu`)."""

    wall: float
    cpu: float
    output: str
    status: int
    adopted: int


def timed(argv: Sequence[str], environment: dict[str, str]) -> Timed:
    """Run `argv` and measure it, detached descendants included."""
    known = children()
    cpu = children_cpu()
    started = time.monotonic()
    completed = subprocess.run(
        list(argv), env=environment, capture_output=True, text=True, check=False, timeout=1800
    )
    wall = time.monotonic() - started
    adopted = reap_adopted(known)
    output = completed.stdout + completed.stderr
    return Timed(wall, children_cpu() - cpu, output, completed.returncode, adopted)


def become_subreaper() -> None:
    """Adopt orphaned descendants (ansible's detached ssh masters) so their CPU is counted."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


@contextmanager
def terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the lab's context manager tears it down."""

    def stop(_signal: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
