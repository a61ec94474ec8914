"""Every benchmark in one sitting, each figure with its ratio, and the machine's load.

Run from the repository root: `.venv/bin/python -m bench.run_all [--quick]` (as root for the
lab benchmarks; without the lab they are skipped with the reason). `--quick` is the CI smoke:
small sizes, a few seconds each. Prints `uptime` before and after each benchmark, since on a
shared machine the load moves the wall times (CPU figures move much less); asserts nothing and
exits 1 only when a benchmark crashed. docs/performance.md records a full run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from lab import unavailable_reason

REPOSITORY = Path(__file__).resolve().parent.parent

# (module, needs the lab, full arguments, quick arguments)
BENCHMARKS: tuple[tuple[str, bool, tuple[str, ...], tuple[str, ...]], ...] = (
    ("bench.startup_bench", False, (), ("--quick",)),
    ("bench.metrics_bench", False, (), ("--quick",)),
    ("bench.daemon_bench", False, (), ("--quick",)),
    ("bench.inventory_bench", False, (), ("--sizes", "1000")),
    ("bench.exec_bench", True, (), ("--quick",)),
    ("bench.gate_bench", True, (), ("--quick",)),
    # The full sitting installs ansible-core into bench/.venv-ansible (PyPI) when it is not there;
    # the quick one never touches the network: SKIPPED (one line, exit 0) without that venv.
    ("bench.ansible_gate_bench", True, ("--install",), ("--quick",)),
    ("bench.rolling_bench", True, (), ("--sizes", "3")),
)


def uptime() -> str:
    """The load averages, as `uptime` prints them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(module: str, arguments: tuple[str, ...], timeout: float) -> tuple[bool, list[str]]:
    """One benchmark as a child process: whether it ended well, and its output lines."""
    began = time.monotonic()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", module, *arguments],
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, [f"{module}: gave up after {timeout:.0f} s"]
    lines = completed.stdout.splitlines()
    if completed.returncode != 0:
        lines += [f"{module}: exit {completed.returncode}", *completed.stderr.splitlines()[-5:]]
    lines.append(f"{module}: {time.monotonic() - began:.1f} s in all")
    return completed.returncode == 0, lines


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark (or the quick set) and print each figure line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke)")
    parser.add_argument("--only", nargs="*", help="module names to run, e.g. bench.exec_bench")
    arguments = parser.parse_args(argv)
    lab_problem = unavailable_reason()
    crashed = False
    print(f"load average (1, 5, 15 min) at start: {uptime()}", flush=True)
    for module, needs_lab, full, quick in BENCHMARKS:
        if arguments.only and module not in arguments.only:
            continue
        if needs_lab and lab_problem is not None:
            print(f"== {module}: skipped, no lab: {lab_problem}", flush=True)
            continue
        print(f"== {module} (load {uptime()})", flush=True)
        chosen, limit = (quick, 600) if arguments.quick else (full, 3600)
        ok, lines = run(module, chosen, limit)
        crashed = crashed or not ok
        for line in lines:
            print(f"   {line}", flush=True)
    print(f"load average at end: {uptime()}", flush=True)
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
