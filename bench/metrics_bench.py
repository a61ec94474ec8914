"""/metrics latency with a long history: p50/p99 at 50 requests/s, idle and during writes.

Run: `.venv/bin/python bench/metrics_bench.py [--runs 10000] [--seconds 10] [--quick]`.
Prints figures and ratios against the target (issue 12: p99 <= 25 ms at 50 req/s with 10,000
runs in the history DB, during a run as well as idle); asserts nothing. No root needed.

It seeds a history DB through the real `Store` (every run with three controller rows, a refusal
every 20th run, a miss every 50th), starts the real listener (`start_metrics_server`) in this
process, as the daemon does, and drives it from a separate client process at a fixed rate
(open loop: a request's latency counts from when it was due, so a server that falls behind shows
it). "During writes" adds a writer thread in the server's process recording one run (start, three
nodes, end) every 100 ms with `synchronous=FULL`, as the engine does during a run.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

import yaml

from barctl.config.inventory import load_inventory
from barctl.config.policy import load_policy
from barctl.history.records import Artifact, moment
from barctl.history.store import Store, history_path
from barctl.observe.metrics import MetricsSource, render, start_metrics_server
from barctl.outcome import NodeOutcome, RunOutcome, Trigger
from barctl.reasons import Reason

TARGET_P99_SECONDS = 0.025
RATE_PER_SECOND = 50
CONTROLLERS = ("ctl-0", "ctl-1", "ctl-2")
START = moment(1577836800.0)  # 2020-01-01T00:00:00Z


def write_world(directory: Path) -> MetricsSource:
    """A two-plan policy and a three-controller inventory under `directory`."""
    inventory_path = directory / "inventory.yaml"
    hosts = {name: {"ansible_host": f"192.0.2.{10 + i}"} for i, name in enumerate(CONTROLLERS)}
    inventory_path.write_text(
        yaml.safe_dump(
            {
                "Undercloud": {
                    "hosts": {"undercloud": {}},
                    "vars": {"ansible_connection": "local"},
                },
                "Controller": {"hosts": hosts},
                "BackupNode": {"hosts": {"backup-0": {"ansible_host": "192.0.2.50"}}},
            }
        )
    )
    policy_path = directory / "policy.yaml"
    policy_path.write_text(
        yaml.safe_dump(
            {
                "inventory": {"path": str(inventory_path)},
                "undercloud": {"address": "192.0.2.1"},
                "backup_target": {"nfs": {"server": "192.0.2.50", "export": "/backups"}},
                "plans": {
                    "undercloud": {"schedule": "30 1 * * *"},
                    "controlplane": {"schedule": "30 2 * * *"},
                },
                "state_directory": str(directory / "state"),
            }
        )
    )
    policy = load_policy(policy_path)
    inventory = load_inventory(str(inventory_path))
    policy.state_directory.mkdir(parents=True, exist_ok=True)
    return MetricsSource(
        policy=lambda: policy,
        inventory=lambda: inventory,
        state_directory=policy.state_directory,
        clock=lambda: moment(time.time()) or START,
    )


def record_run(store: Store, number: int, started: datetime, plan: str) -> None:
    """One ended run of `plan` with its node rows, as the engine and the gate record them."""
    run_id = f"run-{number:07d}-{plan}"
    store.start_run(run_id, plan, Trigger.SCHEDULED, started, pid=os.getpid())
    ended = started + timedelta(seconds=600 + number % 3600)
    nodes = CONTROLLERS if plan == "controlplane" else ("undercloud",)
    refused = number % 20 == 0
    for node in nodes:
        if refused:
            store.record_node(
                run_id,
                node,
                NodeOutcome.REFUSED,
                [],
                "unreachable: connect timeout",
                now=ended,
                reason_class=Reason.CONNECT_TIMEOUT,
            )
        else:
            artifact = Artifact(f"/backups/{node}/{run_id}/backup.tar.gz", 10**9 + number)
            store.record_node(run_id, node, NodeOutcome.SUCCESS, [artifact], "", now=ended)
    outcome = RunOutcome.REFUSED if refused else RunOutcome.SUCCESS
    store.finish_run(run_id, outcome, ended, summary=outcome.value)
    if number % 50 == 0:
        store.record_miss(plan, started - timedelta(hours=1), ended)


def seed(path: Path, runs: int, first: int = 0) -> float:
    """Runs `first`..`runs`-1 over two plans, twelve hours apart; returns the seconds it took."""
    began = time.monotonic()
    with Store.open(path) as store:
        # Seeding only: one fsync per transaction would make 50,000 writes take minutes.
        store._connection.execute("PRAGMA synchronous = OFF")
        for number in range(first, runs):
            plan = "controlplane" if number % 2 else "undercloud"
            record_run(store, number, START + timedelta(hours=12 * number), plan)
    return time.monotonic() - began


def client(port: int, seconds: float, rate: int, results: Connection) -> None:
    """Open-loop client: one GET /metrics every 1/rate s; sends back each latency (None: error)."""
    interval = 1.0 / rate
    began = time.monotonic() + 0.2

    def one(due: float) -> float | None:
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            response.read()
            connection.close()
        except OSError:
            return None
        return time.monotonic() - due if response.status == 200 else None

    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(one, began + i * interval) for i in range(int(seconds * rate))]
        results.send([future.result() for future in futures])


def writer(path: Path, stop: threading.Event, counter: list[int]) -> None:
    """Record one run every 100 ms (synchronous=FULL, as the engine writes) until `stop`."""
    with Store.open(path) as store:
        number = 10**6
        while not stop.is_set():
            record_run(store, number, START + timedelta(days=20000, seconds=number), "controlplane")
            counter[0] += 1
            number += 1
            stop.wait(0.1)


def drive(port: int, seconds: float) -> list[float | None]:
    """Run the client process for `seconds` and collect its latencies."""
    receiving, sending = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.Process(target=client, args=(port, seconds, RATE_PER_SECOND, sending))
    process.start()
    latencies: list[float | None] = receiving.recv()
    process.join()
    return latencies


def summary(label: str, latencies: list[float | None], extra: str = "") -> str:
    """One line: p50, p99 and the ratio of p99 to the target."""
    done = sorted(value for value in latencies if value is not None)
    errors = len(latencies) - len(done)
    if not done:
        return f"{label}: every request failed"
    p50 = statistics.median(done)
    p99 = done[min(len(done) - 1, int(len(done) * 0.99))]
    return (
        f"{label}: {len(latencies)} requests at {RATE_PER_SECOND}/s, p50 {p50 * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms = {p99 / TARGET_P99_SECONDS:.2f}x the 25 ms target"
        f"{', ' + str(errors) + ' errors' if errors else ''}{extra}"
    )


def scrape_cpu(source: MetricsSource, count: int = 50) -> float:
    """CPU seconds of one scrape's rendering in this process, averaged over `count`."""
    render(source)
    began = time.process_time()
    for _ in range(count):
        render(source)
    return (time.process_time() - began) / count


def main(argv: list[str] | None = None) -> list[str]:
    """Seed, serve, drive idle then during writes; print and return the figure lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="1000 runs, 2 s per phase (CI)")
    arguments = parser.parse_args(argv)
    runs, seconds = (1000, 2.0) if arguments.quick else (arguments.runs, arguments.seconds)
    lines = []
    with tempfile.TemporaryDirectory() as directory:
        source = write_world(Path(directory))
        path = history_path(source.state_directory)
        small = min(100, runs)
        seeded = seed(path, small)
        few = scrape_cpu(source)
        seeded += seed(path, runs, first=small)
        many = scrape_cpu(source)
        lines.append(f"metrics: seeded {runs} runs in {seeded:.1f} s")
        lines.append(
            f"metrics: one scrape costs {few * 1000:.2f} ms of CPU at {small} runs,"
            f" {many * 1000:.2f} ms at {runs} = {many / few:.2f}x"
        )
        with start_metrics_server("127.0.0.1:0", source) as server:
            lines.append(summary(f"metrics idle, {runs} runs", drive(server.port, seconds)))
            stop, counter = threading.Event(), [0]
            thread = threading.Thread(target=writer, args=(path, stop, counter), daemon=True)
            thread.start()
            try:
                latencies = drive(server.port, seconds)
            finally:
                stop.set()
                thread.join()
            extra = f", {counter[0]} runs written meanwhile"
            lines.append(summary(f"metrics during writes, {runs} runs", latencies, extra))
    for line in lines:
        print(line, flush=True)
    return lines


if __name__ == "__main__":
    main()
