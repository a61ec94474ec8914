"""Rolling control-plane cost per controller, out-of-cluster window, offline mode at 3 vs 30.

Run by hand as root: `.venv/bin/python -m bench.rolling_bench [--quick] [--sizes 3 10 30]
[--before DIR]` (DIR: another checkout's barctl package, measured alternately in the same
sitting, e.g. `git archive OLD barctl | tar -x -C DIR`).
Prints figures and ratios against issue 12's targets; asserts nothing.

- Overhead per controller = (wall time of `barctl run controlplane` - the sum of ReaR's own
  step times from the run's history) / N: everything barctl adds around ReaR (start-up, gate,
  checks, dumps, stop/start, verification). Target <= 1.5 s at every N, flat in N.
- Out-of-cluster window of a node = the lab's recorded `pcs cluster stop` -> `pcs cluster start`
  on it, minus that node's ReaR step. Target <= 0.5 s beyond ReaR.
- Offline mode: wall time at the largest N over the wall time at 3. Target <= 2.
The lab's ReaR stand-in is not instant (it evaluates the configuration in bash and writes an
archive and an ISO); its measured time is subtracted, which is what "instant rear" means here.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import node_costs, rolling_breakdown
from bench.node_costs import node_cpu_seconds
from lab import Lab, standard_hosts

OVERHEAD_TARGET_SECONDS = 1.5
WINDOW_TARGET_SECONDS = 0.5
OFFLINE_RATIO_TARGET = 2.0
# Issue 12's measurements of the engine before this change (same lab, 2 cores).
BEFORE = {3: 4.2, 10: 5.4, 30: 10.6}
CORES = os.cpu_count() or 1
REPOSITORY = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Figures:
    """One run of one mode on one lab size."""

    mode: str
    size: int
    exit_code: int
    wall: float
    rear: dict[str, float]
    windows: dict[str, float]
    barctl_cpu: float
    node_cpu: float
    calls: int
    # Rolling: where the middle controller's time went (rolling_breakdown), as printed lines.
    breakdown: tuple[str, ...] = ()

    @property
    def overhead_per_controller(self) -> float:
        """Wall minus every ReaR step, per controller."""
        return (self.wall - sum(self.rear.values())) / self.size

    @property
    def worst_window_beyond_rear(self) -> float:
        """The longest out-of-cluster window beyond that node's own ReaR."""
        return max((self.windows[n] - self.rear.get(n, 0.0) for n in self.windows), default=0.0)


def rear_seconds(lab: Lab) -> dict[str, float]:
    """Each node's `rear_mkbackup` step duration, from the run's history."""
    database = lab.directory / "barctl-state" / "history.db"
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT node, duration_seconds FROM steps WHERE step = 'rear_mkbackup'"
        ).fetchall()
    return {node: float(seconds or 0.0) for node, seconds in rows}


def windows(lab: Lab) -> dict[str, float]:
    """Per node, seconds from its `pcs cluster stop` to its `pcs cluster start` (stand-in log)."""
    stops: dict[str, float] = {}
    found: dict[str, float] = {}
    for call in lab.invocations():
        words = [word for word in call.argv if not word.startswith("-")]
        if words[:3] == ["pcs", "cluster", "stop"] and "--all" not in call.argv:
            stops[call.host] = call.time
        elif words[:3] == ["pcs", "cluster", "start"] and call.host in stops:
            found[call.host] = call.time - stops.pop(call.host)
    return found


def children_cpu_seconds() -> float:
    """CPU time of this process's reaped children (barctl's run), user + system."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(size: int, mode: str, barctl_path: str | None = None) -> Figures:
    """One `barctl run controlplane` in `mode` on a fresh lab of `size` controllers; with
    `barctl_path`, the barctl package found there (another checkout) runs instead."""
    environment = dict(os.environ)
    if barctl_path:
        environment["PYTHONPATH"] = barctl_path
    with (
        tempfile.TemporaryDirectory() as directory,
        Lab.running(Path(directory), standard_hosts(size, ceph=True)) as lab,
    ):
        policy = lab.write_policy(plans={"controlplane": {"mode": mode}})
        # Once per site, as an operator does: a run refuses nodes without barctl's local.conf.
        command = [sys.executable, "-m", "barctl", "-c", str(policy), "setup", "controlplane"]
        subprocess.run(
            command, capture_output=True, check=True, env=environment, cwd=barctl_path or REPOSITORY
        )
        lab.clear_invocations()
        node_before, barctl_before = node_cpu_seconds(lab), children_cpu_seconds()
        started = time.monotonic()
        completed = subprocess.run(
            [sys.executable, "-m", "barctl", "-c", str(policy), "run", "controlplane"],
            capture_output=True,
            text=True,
            check=False,
            env=environment,
            # `-m` puts the working directory first on sys.path: run where the chosen barctl is.
            cwd=barctl_path or REPOSITORY,
        )
        wall = time.monotonic() - started
        node_cpu = node_cpu_seconds(lab) - node_before
        barctl_cpu = children_cpu_seconds() - barctl_before
        if completed.returncode != 0:
            print(completed.stdout[-2000:], completed.stderr[-2000:], file=sys.stderr)
        breakdown = one_controller(lab) if mode == "rolling" else ()
        return Figures(
            mode,
            size,
            completed.returncode,
            wall,
            rear_seconds(lab),
            windows(lab),
            barctl_cpu,
            node_cpu,
            len(lab.invocations()),
            breakdown,
        )


def one_controller(lab: Lab) -> tuple[str, ...]:
    """The per-step table of the middle controller (not the first: the gate precedes it)."""
    rows = rolling_breakdown.step_rows(lab.directory / "barctl-state" / "history.db")
    order = [row.node for row in rows if row.step == "rear_mkbackup"]
    if len(order) < 2:
        return ()
    index = max(1, len(order) // 2)
    previous, controller = order[index - 1], order[index]
    segments = rolling_breakdown.controller_segments(rows, lab.invocations(), previous, controller)
    return tuple(rolling_breakdown.render(controller, rolling_breakdown.table(segments)))


def verdict(met: bool) -> str:
    """`met` or `NOT met`."""
    return "met" if met else "NOT met"


def report_rolling(results: list[Figures]) -> None:
    """Per size: overhead per controller, window beyond ReaR, against the targets."""
    print("rolling: overhead per controller = (wall - sum of ReaR) / N")
    for item in results:
        before = BEFORE.get(item.size)
        ratio = (
            f", {item.overhead_per_controller / before:.2f}x the old {before} s" if before else ""
        )
        print(
            f"  N={item.size:<3} exit {item.exit_code}  wall {item.wall:6.1f} s  "
            f"ReaR {sum(item.rear.values()):6.1f} s  overhead/controller "
            f"{item.overhead_per_controller:5.2f} s (target <= {OVERHEAD_TARGET_SECONDS}: "
            f"{verdict(item.overhead_per_controller <= OVERHEAD_TARGET_SECONDS)}{ratio})  "
            f"window beyond ReaR, worst {item.worst_window_beyond_rear:5.2f} s "
            f"(target <= {WINDOW_TARGET_SECONDS}: "
            f"{verdict(item.worst_window_beyond_rear <= WINDOW_TARGET_SECONDS)})"
        )
        print(
            f"         CPU per controller: barctl {item.barctl_cpu / item.size:5.2f} s, "
            f"the lab's nodes {item.node_cpu / item.size:5.2f} s (ReaR included); "
            f"{item.calls / item.size:4.1f} stand-in calls per controller (gate included)"
        )
        for line in item.breakdown:
            print(line)
    smallest, largest = results[0], results[-1]
    if largest.size > smallest.size:
        growth = largest.overhead_per_controller / smallest.overhead_per_controller
        print(
            f"  flatness: overhead/controller at N={largest.size} / at N={smallest.size} = "
            f"{growth:.2f}"
        )


def report_offline(results: list[Figures]) -> None:
    """Wall at each size and the largest over the smallest, against the target."""
    print("offline: wall time of the whole run")
    for item in results:
        print(
            f"  N={item.size:<3} exit {item.exit_code}  wall {item.wall:6.1f} s  "
            f"(ReaR steps {sum(item.rear.values()):6.1f} s summed over parallel nodes)  "
            f"CPU: barctl {item.barctl_cpu:5.1f} s, the lab's nodes {item.node_cpu:5.1f} s "
            f"= at least {item.node_cpu / CORES:5.1f} s of wall on {CORES} cores"
        )
    smallest, largest = results[0], results[-1]
    if largest.size > smallest.size:
        ratio = largest.wall / smallest.wall
        print(
            f"  wall at N={largest.size} / at N={smallest.size} = {ratio:.2f} "
            f"(target <= {OFFLINE_RATIO_TARGET}: {verdict(ratio <= OFFLINE_RATIO_TARGET)})"
        )
        # On the lab every node's work runs on the same cores, so the nodes' CPU over the cores
        # is a floor no orchestration can go under; what is left is barctl's share of the wall.
        excess = [item.wall - item.node_cpu / CORES for item in (smallest, largest)]
        print(
            f"  wall beyond the nodes' CPU floor: {excess[0]:.1f} s at N={smallest.size},"
            f" {excess[1]:.1f} s at N={largest.size} = {excess[1] / max(excess[0], 0.1):.2f}x"
            " (what the lab's shared cores leave to orchestration; a figure, not the target)"
        )


def print_exec_costs() -> None:
    """Node CPU of one command by kind, on a small lab: the unit the lab's CPU is made of."""
    with (
        tempfile.TemporaryDirectory() as directory,
        Lab.running(Path(directory), standard_hosts(1, ceph=False)) as lab,
    ):
        print(node_costs.render(node_costs.exec_costs(lab, "ctl-0")), flush=True)


def main() -> None:
    """Measure rolling at each size, offline at the smallest and the largest."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="3 and 10 controllers only")
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument(
        "--before",
        metavar="DIR",
        help="also run the barctl package under DIR (e.g. `git archive OLD | tar -x -C DIR`), "
        "alternating with this one, for a before/after in one sitting",
    )
    arguments = parser.parse_args()
    sizes = sorted(arguments.sizes or ([3, 10] if arguments.quick else [3, 10, 30]))
    print(f"cpus {os.cpu_count()}, load average before {os.getloadavg()}", flush=True)
    print_exec_costs()
    offline_sizes = sorted({sizes[0], sizes[-1]})
    paths = [None, arguments.before] if arguments.before else [None]
    # Alternated, size by size, so both see the same machine load.
    rolling: dict[str | None, list[Figures]] = {path: [] for path in paths}
    offline: dict[str | None, list[Figures]] = {path: [] for path in paths}
    for size in sizes:
        for path in paths:
            rolling[path].append(measure(size, "rolling", path))
    for size in offline_sizes:
        for path in paths:
            offline[path].append(measure(size, "offline", path))
    for path in paths:
        print(f"== {'before: ' + path if path else 'this checkout'}", flush=True)
        report_rolling(rolling[path])
        report_offline(offline[path])
    print(f"load average after {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
