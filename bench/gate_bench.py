"""Gate on a large lab with black-holed hosts: wall time against the connect timeout.

Run by hand as root: `.venv/bin/python bench/gate_bench.py [--hosts 50] [--down 5]
[--sweep 4,8,16]`. Prints ratios, asserts nothing. With bounded parallelism P, H hosts and D
black-holed, the gate should take about ceil(D / P) connect timeouts, not D of them.
Issue 12 item 1: exec channels per host (counted at the runner), and the healthy gate's wall
against the floor: one exec of `uname -n` per host over the same paramiko sessions and
parallelism. `--sweep` times the healthy gate at each `max_parallel` given.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from barctl.config.inventory import load_inventory
from barctl.config.policy import load_policy
from barctl.config.site import Site
from barctl.model import CommandResult, Node
from barctl.run import backup, commands_probe, gate, preflight, remote
from barctl.run.commands import RemoteCommand
from barctl.run.resolution import Resolved
from barctl.run.runner import LineCallback
from lab import Lab, standard_hosts


class CountingRunner:
    """The real SSH runner, counting exec channels per node."""

    def __init__(self, inner: remote.SessionPool) -> None:
        self.inner = inner
        self.execs: Counter[str] = Counter()
        self.lock = threading.Lock()

    def run(
        self,
        node: Node,
        command: RemoteCommand,
        on_line: LineCallback | None = None,
        abort: threading.Event | None = None,
    ) -> CommandResult:
        """One exec, counted."""
        with self.lock:
            self.execs[node.name] += 1
        return self.inner.run(node, command, on_line, abort)


def gate_once(
    resolved: Resolved, settings: remote.SshSettings, parallel: int
) -> tuple[float, gate.GateResult, Counter[str]]:
    """`preflight.precheck` with a counting runner: wall seconds, verdict, execs per node."""
    started = time.monotonic()
    with remote.SessionPool(remote.session_opener(settings)) as pool:
        runner = CountingRunner(pool)
        verdict = gate.check(
            resolved.nodes,
            resolved.target.node,
            resolved.target.directory,
            runner,
            pacemaker=resolved.name == "controlplane",
            timeout=resolved.timeouts.command,
            max_parallel=parallel,
            settings=resolved.target.settings_for,
            min_free_bytes=resolved.target.min_free_bytes,
            rear_target=resolved.target.rear,
        )
    return time.monotonic() - started, verdict, runner.execs


def floor_once(resolved: Resolved, settings: remote.SshSettings, parallel: int) -> float:
    """The floor script: one trivial exec per host over the same sessions, same parallelism."""
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


def main() -> None:
    """Bring up the lab, black-hole some controllers, time the gate."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--down", type=int, default=5)
    parser.add_argument("--timeout", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--sweep", default="", help="max_parallel values to time, e.g. 4,8,16")
    arguments = parser.parse_args()
    controllers = arguments.hosts - 2  # plus the undercloud and the backup node
    with (
        tempfile.TemporaryDirectory() as directory,
        Lab.running(Path(directory), standard_hosts(controllers, ceph=False)) as lab,
    ):
        overrides = {
            "ssh": {
                "connect_timeout_seconds": arguments.timeout,
                "max_parallel": arguments.parallel,
            }
        }
        policy_path = lab.write_policy(**overrides)
        # Once per site, as an operator does: the gate refuses nodes without barctl's local.conf.
        setup = [sys.executable, "-m", "barctl", "-c", str(policy_path), "setup", "controlplane"]
        subprocess.run(setup, capture_output=True, check=True)
        policy = load_policy(policy_path)
        inventory = load_inventory(str(policy.inventory.path))
        site = Site.from_policy(policy, {})
        resolved = backup.resolve(policy, inventory, "controlplane")
        settings = preflight.ssh_settings(policy, site)

        def timed() -> tuple[float, gate.GateResult]:
            started = time.monotonic()
            verdict = preflight.precheck(resolved, settings, arguments.parallel)
            return time.monotonic() - started, verdict

        hosts = len(resolved.nodes) + 1
        cpu = time.process_time()
        healthy_seconds, healthy, execs = gate_once(resolved, settings, arguments.parallel)
        cpu = time.process_time() - cpu
        floor_seconds = floor_once(resolved, settings, arguments.parallel)
        print(
            f"exec channels per host: max {max(execs.values())}, mean"
            f" {sum(execs.values()) / hosts:.2f} (target <= 2)"
        )
        print(
            f"floor (one exec per host): {floor_seconds:.2f}s; gate / floor"
            f" {healthy_seconds / floor_seconds:.2f}x (target <= 1.25x)"
        )
        for parallel in (int(word) for word in arguments.sweep.split(",") if word):
            seconds, verdict, _ = gate_once(resolved, settings, parallel)
            floor = floor_once(resolved, settings, parallel)
            print(
                f"max_parallel {parallel}: gate {seconds:.2f}s (passed={verdict.passed}),"
                f" floor {floor:.2f}s, {seconds / floor:.2f}x"
            )
        for index in range(arguments.down):
            lab.link_down(f"ctl-{index * (controllers // max(1, arguments.down))}")
        seconds, verdict = timed()
        expected = math.ceil(arguments.down / arguments.parallel) * arguments.timeout
        print(
            f"hosts probed: {len(resolved.nodes) + 1}, parallel {arguments.parallel}, "
            f"connect timeout {arguments.timeout}s"
        )
        print(
            f"healthy gate: {healthy_seconds:.2f}s (passed={healthy.passed}), "
            f"{healthy_seconds / hosts * 1000:.0f} ms per host, client CPU"
            f" {cpu / hosts * 1000:.0f} ms per host (target 40 ms: {cpu / hosts / 0.040:.2f}x)"
        )
        print(
            f"{arguments.down} black-holed: {seconds:.2f}s, refused={not verdict.passed}, "
            f"problems={len(verdict.problems)}"
        )
        print(
            f"ratio wall / connect timeout: {seconds / arguments.timeout:.2f} "
            f"(ideal ceil(down/parallel) = {expected / arguments.timeout:.0f})"
        )


if __name__ == "__main__":
    main()
