"""Gate on a large lab with black-holed hosts: wall time against the connect timeout.

Run by hand as root: `.venv/bin/python bench/gate_bench.py [--hosts 50] [--down 5]`.
Prints ratios, asserts nothing. With bounded parallelism P, H hosts and D black-holed, the gate
should take about ceil(D / P) connect timeouts, not D of them.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from barctl.config.inventory import load_inventory
from barctl.config.policy import load_policy
from barctl.config.site import Site
from barctl.run import backup, gate, preflight
from lab import Lab, standard_hosts


def main() -> None:
    """Bring up the lab, black-hole some controllers, time the gate."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--down", type=int, default=5)
    parser.add_argument("--timeout", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=8)
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
        policy = load_policy(lab.write_policy(**overrides))
        inventory = load_inventory(str(policy.inventory.path))
        site = Site.from_policy(policy, {})
        resolved = backup.resolve(policy, inventory, "controlplane")
        settings = preflight.ssh_settings(policy, site)

        def timed() -> tuple[float, gate.GateResult]:
            started = time.monotonic()
            verdict = preflight.precheck(resolved, settings, arguments.parallel)
            return time.monotonic() - started, verdict

        cpu = time.process_time()
        healthy_seconds, healthy = timed()
        cpu = time.process_time() - cpu
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
            f"{healthy_seconds / (len(resolved.nodes) + 1) * 1000:.0f} ms per host, client CPU"
            f" {cpu / (len(resolved.nodes) + 1) * 1000:.0f} ms per host (target 40 ms:"
            f" {cpu / (len(resolved.nodes) + 1) / 0.040:.2f}x)"
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
