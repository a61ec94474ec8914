"""Gate on a large lab: wall and client CPU against its floor, channels per host, black holes.

Run as root: `.venv/bin/python -m bench.gate_bench [--hosts 50] [--down 5] [--sweep 8,16]
[--rounds 2] [--quick]`. Prints figures, ratios and the load average; asserts nothing.

Issue 12 item 1: exec channels per host (counted at the runner, `lab.counting`), client CPU per
host, and the healthy gate's wall against the floor the issue defines: one exec channel per
host running every probe (`bench/gate_floor.py`: bare paramiko, the gate's own node-side work
replayed in one exec per host, same parallelism). The old floor, one `uname -n` exec per host
over barctl's sessions, is printed beside it, labelled. `--sweep` times gate and floors at each
`max_parallel`, alternated, `--rounds` times. With D of H hosts black-holed and parallelism P,
the gate should take about ceil(D / P) connect timeouts, not D of them. `--quick`: 8 hosts,
one black-holed, no sweep (CI smoke, well under a minute of lab time).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from barctl.config.inventory import load_inventory
from barctl.config.policy import load_policy
from barctl.config.site import Site
from barctl.run import backup, commands_probe, gate, preflight, remote
from barctl.run.resolution import Resolved
from bench.gate_floor import Credentials, FloorWork, floor_once, floor_work
from lab import Lab, standard_hosts
from lab.counting import CountingRunner


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass(frozen=True)
class GateRun:
    """One healthy gate: wall and client CPU seconds, verdict, and what it sent per node."""

    wall: float
    cpu: float
    verdict: gate.GateResult
    runner: CountingRunner


def gate_once(resolved: Resolved, settings: remote.SshSettings, parallel: int) -> GateRun:
    """`preflight.precheck`'s gate over fresh sessions, through a counting runner."""
    wall, cpu = time.monotonic(), time.process_time()
    with remote.SessionPool(remote.session_opener(settings)) as pool:
        runner = CountingRunner(pool)
        verdict = preflight.gate_of(resolved, runner, parallel)
    return GateRun(time.monotonic() - wall, time.process_time() - cpu, verdict, runner)


def uname_floor_once(resolved: Resolved, settings: remote.SshSettings, parallel: int) -> float:
    """The old floor: one `uname -n` exec per host over barctl's sessions, same parallelism."""
    started = time.monotonic()
    nodes = (*resolved.nodes, resolved.target.node)
    with (
        remote.SessionPool(remote.session_opener(settings)) as pool,
        ThreadPoolExecutor(max_workers=parallel) as workers,
    ):
        results = list(
            workers.map(lambda node: pool.run(node, commands_probe.node_name(10)), nodes)
        )
    assert all(result.ok for result in results), results
    return time.monotonic() - started


@dataclass(frozen=True)
class Sitting:
    """What one comparison needs: the plan, SSH settings, the floor's work and credentials."""

    resolved: Resolved
    settings: remote.SshSettings
    work: list[FloorWork]
    credentials: Credentials

    @property
    def hosts(self) -> int:
        """Plan nodes and the target."""
        return len(self.resolved.nodes) + 1


def compare(sitting: Sitting, parallel: int) -> str:
    """Gate, floor and uname floor at `parallel`, one after the other: one figure line."""
    hosts = sitting.hosts
    run = gate_once(sitting.resolved, sitting.settings, parallel)
    floor_wall, floor_cpu = floor_once(sitting.work, sitting.credentials, parallel)
    uname = uname_floor_once(sitting.resolved, sitting.settings, parallel)
    execs = run.runner.execs
    return (
        f"max_parallel {parallel}: gate {run.wall:.2f}s (passed={run.verdict.passed}),"
        f" floor {floor_wall:.2f}s, gate / floor {run.wall / floor_wall:.2f}x (target <= 1.25x);"
        f" uname floor {uname:.2f}s ({run.wall / uname:.1f}x); client CPU per host: gate"
        f" {run.cpu / hosts * 1000:.1f} ms, floor {floor_cpu / hosts * 1000:.1f} ms;"
        f" exec channels per host max {max(execs.values())} mean"
        f" {sum(execs.values()) / hosts:.2f}; load {load()}"
    )


def arguments_of(argv: list[str] | None) -> argparse.Namespace:
    """The command line; `--quick` shrinks it to a CI smoke."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--down", type=int, default=5)
    parser.add_argument("--timeout", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--sweep", default="", help="max_parallel values to time, e.g. 8,16")
    parser.add_argument("--rounds", type=int, default=1, help="times to repeat the sweep")
    parser.add_argument("--quick", action="store_true", help="8 hosts, 1 down, no sweep")
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.hosts, arguments.down, arguments.timeout, arguments.sweep = 8, 1, 2, ""
    return arguments


def prepare(lab: Lab, arguments: argparse.Namespace) -> Sitting:
    """`barctl setup` once (the gate refuses nodes without barctl's local.conf), one gate run
    recorded, and the floor's work built from what that gate sent, all before any timing."""
    overrides = {"ssh": {"connect_timeout_seconds": arguments.timeout}}
    policy_path = lab.write_policy(**overrides)
    setup = [sys.executable, "-m", "barctl", "-c", str(policy_path), "setup", "controlplane"]
    subprocess.run(setup, capture_output=True, check=True)
    policy = load_policy(policy_path)
    inventory = load_inventory(str(policy.inventory.path))
    resolved = backup.resolve(policy, inventory, "controlplane")
    settings = preflight.ssh_settings(policy, Site.from_policy(policy, {}))
    recorded = gate_once(resolved, settings, arguments.parallel)
    assert recorded.verdict.passed, recorded.verdict.problems
    nodes = (*resolved.nodes, resolved.target.node)
    work = floor_work(nodes, recorded.runner.sent)
    credentials = Credentials.load(settings.private_key, settings.known_hosts)
    return Sitting(resolved, settings, work, credentials)


def black_holed(lab: Lab, sitting: Sitting, arguments: argparse.Namespace) -> list[str]:
    """Black-hole `--down` controllers and time the gate refusing them."""
    controllers = arguments.hosts - 2
    for index in range(arguments.down):
        lab.link_down(f"ctl-{index * (controllers // max(1, arguments.down))}")
    started = time.monotonic()
    verdict = preflight.precheck(sitting.resolved, sitting.settings, arguments.parallel)
    seconds = time.monotonic() - started
    expected = math.ceil(arguments.down / arguments.parallel)
    return [
        f"{arguments.down} black-holed: {seconds:.2f}s, refused={not verdict.passed},"
        f" problems={len(verdict.problems)}, connect timeout {arguments.timeout}s",
        f"ratio wall / connect timeout: {seconds / arguments.timeout:.2f}"
        f" (ideal ceil(down/parallel) = {expected})",
    ]


def main(argv: list[str] | None = None) -> None:
    """Bring up the lab, compare the gate with its floors, black-hole some controllers."""
    arguments = arguments_of(argv)
    controllers = arguments.hosts - 2  # plus the undercloud and the backup node
    with (
        tempfile.TemporaryDirectory() as directory,
        Lab.running(Path(directory), standard_hosts(controllers, ceph=False)) as lab,
    ):
        sitting = prepare(lab, arguments)
        hosts, parallel = sitting.hosts, arguments.parallel
        print(f"hosts probed: {hosts}, load average at start: {load()}", flush=True)
        run = gate_once(sitting.resolved, sitting.settings, parallel)
        floor_wall, floor_cpu = floor_once(sitting.work, sitting.credentials, parallel)
        execs = run.runner.execs
        print(
            f"exec channels per host: max {max(execs.values())}, mean"
            f" {sum(execs.values()) / hosts:.2f} (target <= 2)"
        )
        print(
            f"healthy gate: {run.wall:.2f}s (passed={run.verdict.passed}), max_parallel"
            f" {parallel}, client CPU {run.cpu / hosts * 1000:.1f} ms per host (target 40 ms:"
            f" {run.cpu / hosts / 0.040:.2f}x), load {load()}"
        )
        print(
            f"floor (one bare paramiko exec per host running the gate's node-side work):"
            f" {floor_wall:.2f}s, client CPU {floor_cpu / hosts * 1000:.1f} ms per host;"
            f" gate / floor {run.wall / floor_wall:.2f}x (target <= 1.25x)"
        )
        uname = uname_floor_once(sitting.resolved, sitting.settings, parallel)
        print(f"uname floor (one `uname -n` exec per host): {uname:.2f}s; gate / it"
              f" {run.wall / uname:.1f}x")  # fmt: skip
        sweep = [int(word) for word in arguments.sweep.split(",") if word]
        for round_number in range(arguments.rounds if sweep else 0):
            for value in sweep if round_number % 2 == 0 else sweep[::-1]:
                print(f"round {round_number + 1}: {compare(sitting, value)}", flush=True)
        for line in black_holed(lab, sitting, arguments):
            print(line, flush=True)
        print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
