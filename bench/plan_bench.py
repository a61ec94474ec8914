"""Orchestration overhead per node of rolling and offline plans on 3/10/30 lab controllers.

Run by hand as root: `.venv/bin/python -m bench.plan_bench [--sizes 3 10 30]`.
Prints ratios, asserts nothing. Overhead = barctl's wall time minus the stand-ins' own time,
where the stand-ins' time is (number of stand-in calls) x (mean time of one local stand-in call,
measured here) plus ReaR's simulated 0.1 s per node.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab import Lab, standard_hosts

REAR_SIMULATED_SECONDS = 0.1


def standin_seconds(lab: Lab, samples: int = 10) -> float:
    """Mean wall time of one stand-in call run locally (Python start-up dominates)."""
    started = time.monotonic()
    for _ in range(samples):
        subprocess.run(
            [str(lab.bin_directory / "hiera"), "-c", "x", "nothing"],
            capture_output=True,
            check=False,
            env={"BARCTL_LAB_DIR": str(lab.directory), "BARCTL_LAB_HOST": "ctl-0"},
        )
    return (time.monotonic() - started) / samples


def measure(size: int, mode: str) -> str:
    """One run of `mode` on `size` controllers; a line of figures."""
    with (
        tempfile.TemporaryDirectory() as directory,
        Lab.running(Path(directory), standard_hosts(size, ceph=True)) as lab,
    ):
        policy = lab.write_policy(plans={"controlplane": {"mode": mode}}, ssh={"max_parallel": 8})
        # A run refuses nodes whose local.conf is not barctl's (issue 10): set them up once,
        # as an operator does, outside the measured run.
        subprocess.run(
            [sys.executable, "-m", "barctl", "-c", str(policy), "setup", "controlplane"],
            capture_output=True,
            check=True,
        )
        per_call = standin_seconds(lab)
        lab.clear_invocations()
        started = time.monotonic()
        completed = subprocess.run(
            [sys.executable, "-m", "barctl", "-c", str(policy), "run", "controlplane"],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.monotonic() - started
        calls = len(lab.invocations())
        own = calls * per_call + size * REAR_SIMULATED_SECONDS
        overhead = max(0.0, wall - own)
        return (
            f"{mode:<8} {size:>3} nodes: exit {completed.returncode}, wall {wall:6.1f}s, "
            f"{calls:4d} stand-in calls x {per_call * 1000:.0f} ms, overhead {overhead:6.1f}s "
            f"= {overhead / size:.2f} s/node, wall/node {wall / size:.2f} s"
        )


def main() -> None:
    """Measure each size in each mode."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 10, 30])
    arguments = parser.parse_args()
    for mode in ("rolling", "offline"):
        for size in arguments.sizes:
            print(measure(size, mode), flush=True)


if __name__ == "__main__":
    main()
