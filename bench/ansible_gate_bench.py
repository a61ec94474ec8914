"""barctl's gate against Ansible's fact gate, on the same lab hosts, alternated in one sitting.

Run by hand as root: `.venv/bin/python -m bench.ansible_gate_bench [--install] [--hosts 50]
[--rounds 3]`. Issue 12's target: `barctl precheck controlplane` >= 3x faster than
`ansible all -m setup -a 'gather_subset=!all,min' -f 8` (the fact gate the wallaby guard relies
on) on 50 hosts. Each round times, as processes and alternately, barctl at `max_parallel` 8 and
Ansible at `-f 8`, then both at 16: wall, and the CPU of the process and everything it started
(`RUSAGE_CHILDREN` deltas; Ansible's ControlPersist ssh masters detach from it, so this process
adopts them as a child subreaper and reaps them after each run, their CPU counted). It prints the
load average before each round, the ratios of the medians, client CPU per host and exec channels
per host (barctl's counted at its runner, Ansible's from its `-vvv` `SSH: EXEC` lines: one ssh or
sftp invocation is one channel on the multiplexed connection). Asserts nothing.

Ansible comes from `bench/.venv-ansible` (`--install` makes it: python3 -m venv, then pip
installs ANSIBLE_CORE from PyPI). Without it, and without `--install`, the bench prints a SKIPPED
line and exits 0, so CI needs no network. Ansible runs with its own defaults (ssh with
ControlPersist, no pipelining; `--tripleo-cfg`: the settings of the ansible.cfg tripleo-common
writes, pipelining on), host key checking ON against the lab's
known_hosts, the lab's key, addresses only in the inventory (no lab name reaches a resolver), and
every file it writes on this side (ANSIBLE_HOME, ANSIBLE_LOCAL_TEMP, control sockets) in a
temporary directory.
"""

from __future__ import annotations

import argparse
import compileall
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from barctl.config.inventory import load_inventory
from barctl.config.policy import load_policy
from barctl.config.site import Site
from barctl.run import backup, preflight
from barctl.run.resolution import Resolved
from bench.ansible_fact_gate import (
    ANSIBLE_CORE,
    VENV,
    Measure,
    ansible_argv,
    ansible_environment,
    ansible_executable,
    barctl_argv,
    become_subreaper,
    count_exec_channels,
    format_measure,
    install,
    load_average,
    skip_line,
    summary_lines,
    terminated_as_interrupt,
    timed,
    write_inventory,
)
from bench.gate_bench import gate_once
from bench.rolling_bench import node_cpu_seconds
from lab import Lab, standard_hosts, unavailable_reason

REPOSITORY = Path(__file__).resolve().parent.parent
SESSIONS_SETTLE_SECONDS = 1.0


def resolve(policy_path: Path) -> Resolved:
    """The control-plane plan as `barctl precheck controlplane` resolves it."""
    policy = load_policy(policy_path)
    inventory = load_inventory(str(policy.inventory.path))
    return backup.resolve(policy, inventory, "controlplane")


def count_channels(
    lab: Lab,
    policy_path: Path,
    scratch: Path,
    executable: Path,
    inventory_path: Path,
    *,
    tripleo: bool,
) -> None:
    """Exec channels and stand-in calls per host of each gate (untimed; warms both up)."""
    policy = load_policy(policy_path)
    resolved = resolve(policy_path)
    settings = preflight.ssh_settings(policy, Site.from_policy(policy, {}))
    lab.clear_invocations()
    recorded = gate_once(resolved, settings, 8)
    verdict, execs = recorded.verdict, recorded.runner.execs
    hosts = len(resolved.nodes) + 1
    print(
        f"barctl exec channels per host: mean {sum(execs.values()) / hosts:.2f},"
        f" max {max(execs.values())} (gate passed={verdict.passed}; target <= 2);"
        f" lab stand-in calls per host {len(lab.invocations()) / hosts:.1f}",
        flush=True,
    )
    lab.clear_invocations()
    environment = ansible_environment(scratch / "count", tripleo)
    run = timed(ansible_argv(executable, inventory_path, 8, True), environment)
    channels = count_exec_channels(run.output)
    print(
        f"ansible exec channels per host (-vvv, exit {run.status}): mean"
        f" {sum(channels.values()) / hosts:.2f}, max {max(channels.values(), default=0)}"
        f" over {len(channels)} hosts; {run.adopted} detached ssh masters reaped;"
        f" lab stand-in calls per host {len(lab.invocations()) / hosts:.1f}",
        flush=True,
    )


def one_run(
    lab: Lab, tool: str, parallel: int, argv: list[str], environment: dict[str, str]
) -> Measure:
    """Time one gate; a failure's last lines are printed, not raised."""
    nodes = node_cpu_seconds(lab)
    run = timed(argv, environment)
    # The nodes' sshd masters reap a session when its connection closes, just after the run.
    time.sleep(SESSIONS_SETTLE_SECONDS)
    if run.status != 0:
        print("\n".join(f"   | {line}" for line in run.output.splitlines()[-6:]), flush=True)
    return Measure(
        tool, parallel, run.wall, run.cpu, node_cpu_seconds(lab) - nodes, run.status == 0
    )


def rounds(
    *,
    lab: Lab,
    scratch: Path,
    executable: Path,
    inventory_path: Path,
    policies: dict[int, Path],
    arguments: argparse.Namespace,
    hosts: int,
) -> list[Measure]:
    """Alternate the two gates at each parallelism, `arguments.rounds` times."""
    barctl_environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    measures: list[Measure] = []
    for number in range(arguments.rounds):
        print(f"round {number + 1}: load average {load_average()}", flush=True)
        order = ("barctl", "ansible") if number % 2 == 0 else ("ansible", "barctl")
        for parallel in arguments.parallels:
            for tool in order:
                if tool == "barctl":
                    argv, environment = barctl_argv(policies[parallel]), barctl_environment
                else:
                    environment = ansible_environment(
                        scratch / f"run-{number}-{parallel}", arguments.tripleo_cfg
                    )
                    argv = ansible_argv(executable, inventory_path, parallel, False)
                measure = one_run(lab, tool, parallel, argv, environment)
                measures.append(measure)
                print(f"  {format_measure(measure, hosts)}", flush=True)
    return measures


def compare(scratch: Path, executable: Path, arguments: argparse.Namespace) -> None:
    """Bring up the lab (always torn down), set barctl up, count channels, time the rounds."""
    controllers = arguments.hosts - 2  # plus the undercloud and the backup node
    with Lab.running(scratch / "lab", standard_hosts(controllers, ceph=False)) as lab:
        policies = {
            parallel: lab.write_policy(
                scratch / f"policy-{parallel}.yaml", ssh={"max_parallel": parallel}
            )
            for parallel in sorted({8, *arguments.parallels})
        }
        setup = [sys.executable, "-m", "barctl", "-c", str(policies[8]), "setup", "controlplane"]
        subprocess.run(setup, capture_output=True, check=True)
        resolved = resolve(policies[8])
        nodes = (*resolved.nodes, resolved.target.node)
        inventory_path = write_inventory(
            scratch / "inventory.json",
            [(node.name, node.address, node.port) for node in nodes],
            nodes[0].user,
            lab.client_key_path,
            lab.known_hosts_path,
        )
        print(
            f"hosts gated: {len(nodes)} ({len(resolved.nodes)} controllers and the backup node);"
            f" ansible's configuration: {'TripleO' if arguments.tripleo_cfg else 'as shipped'}",
            flush=True,
        )
        become_subreaper()
        count_channels(
            lab, policies[8], scratch, executable, inventory_path, tripleo=arguments.tripleo_cfg
        )
        measures = rounds(
            lab=lab,
            scratch=scratch,
            executable=executable,
            inventory_path=inventory_path,
            policies=policies,
            arguments=arguments,
            hosts=len(nodes),
        )
        for line in summary_lines(measures, len(nodes)):
            print(line, flush=True)
        print(f"load average at end: {load_average()}", flush=True)


def compile_bytecode(venv: Path) -> None:
    """Bytecode for barctl and both venvs, as pip leaves an install (PYTHONDONTWRITEBYTECODE)."""
    compileall.compile_dir(REPOSITORY / "barctl", quiet=1)
    for root in (Path(sys.prefix), venv):
        for site_packages in root.glob("lib/python3*/site-packages"):
            compileall.compile_dir(site_packages, quiet=1)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """The bench's options; `--quick` is the CI smoke (6 hosts, one round, parallelism 8)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--install", action="store_true", help=f"pip-install {ANSIBLE_CORE}")
    parser.add_argument("--venv", type=Path, default=VENV, help="where ansible-core lives")
    parser.add_argument("--hosts", type=int, default=50, help="lab hosts (gate: all but one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", default="8,16", help="max_parallel / forks values")
    parser.add_argument("--tripleo-cfg", action="store_true", help="TripleO's ansible.cfg")
    parser.add_argument("--quick", action="store_true", help="6 hosts, one round, at 8")
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.hosts, arguments.rounds, arguments.parallel = 6, 1, "8"
    arguments.parallels = [int(word) for word in arguments.parallel.split(",") if word]
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    """Skip without Ansible; otherwise bring up the lab and compare the two gates."""
    arguments = parse_arguments(argv)
    venv = arguments.venv.resolve()
    executable = install(venv) if arguments.install else ansible_executable(venv)
    if executable is None:
        print(skip_line(venv), flush=True)
        return 0
    problem = unavailable_reason()
    if problem is not None:
        print(f"ansible gate bench: SKIPPED, no lab: {problem}", flush=True)
        return 0
    compile_bytecode(venv)
    with terminated_as_interrupt(), tempfile.TemporaryDirectory() as directory:
        compare(Path(directory), executable, arguments)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
