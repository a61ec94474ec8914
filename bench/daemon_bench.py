"""Idle cost of the daemon: resident memory and CPU of `barctl daemon` between runs.

Run as root: `.venv/bin/python -m bench.daemon_bench [--seconds 60] [--quick]`. Prints the
daemon's RSS against issue 12's target (<= 80 MB) and its CPU over an idle window (target ~0);
asserts nothing.

The daemon reads the shipped example policy (site paths pointed at this machine, as
bench/startup_bench.py does: inventory tests/data/inventory/wallaby_single.yaml), with its
metrics listener on, so it loads everything a production daemon loads. It runs in a network
namespace of its own with only loopback up (`unshare --net`): the example inventory's addresses
are not the lab's, and a run that came due could not send a packet anywhere. The window starts
once the daemon has logged "Daemon ready" and settled; RSS is VmRSS from /proc, CPU the
utime + stime ticks the kernel counted for the daemon's PID across the window.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.startup_bench import site_policy

RSS_TARGET_MEGABYTES = 80.0
SETTLE_SECONDS = 3.0
TICKS = os.sysconf("SC_CLK_TCK")


def unavailable_reason() -> str | None:
    """Why the bench cannot run here (it needs root for its network namespace), or None."""
    if os.geteuid() != 0:
        return "needs root (the daemon runs in its own network namespace)"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare(1) and ip(8)"
    return None


def resident_megabytes(pid: int) -> float:
    """VmRSS of `pid` in MB (from /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for PID {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the kernel counted for `pid` so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def quiet_policy(directory: Path) -> Path:
    """The example policy with catch-up off, so nothing comes due in the idle window."""
    policy = site_policy(directory)
    text = policy.read_text().replace(
        "catch_up_window_seconds: 86400", "catch_up_window_seconds: 0"
    )
    policy.write_text(text)
    return policy


def wait_for(path: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until the daemon's log at `path` contains `text` (or fail if it exits first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise RuntimeError(f"daemon exited {process.returncode}: {path.read_text()[-2000:]}")
        time.sleep(0.1)
    raise RuntimeError(f"daemon did not log {text!r} within {timeout:.0f} s")


def measure(seconds: float) -> list[str]:
    """Start the daemon, let it settle, measure RSS and CPU over `seconds`; stop it by PID."""
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        policy = quiet_policy(directory)
        log = directory / "daemon.log"
        daemon = [sys.executable, "-m", "barctl", "-c", str(policy), "daemon"]
        # `exec` keeps the PID: the measured process is the daemon, not a shell.
        script = 'ip link set lo up && exec "$@"'
        environment = {**os.environ, "BARCTL_LOG_FORMAT": "json"}
        with log.open("wb") as output:
            process = subprocess.Popen(
                ["unshare", "--net", "sh", "-c", script, "daemon", *daemon],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=environment,
            )
        try:
            wait_for(log, "Daemon ready", process, timeout=60)
            time.sleep(SETTLE_SECONDS)
            cpu_before, began = cpu_seconds(process.pid), time.monotonic()
            time.sleep(seconds)
            cpu = cpu_seconds(process.pid) - cpu_before
            elapsed = time.monotonic() - began
            rss = resident_megabytes(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return [
        f"daemon idle: RSS {rss:.1f} MB = {rss / RSS_TARGET_MEGABYTES:.2f}x the"
        f" {RSS_TARGET_MEGABYTES:.0f} MB target",
        f"daemon idle: CPU {cpu * 1000:.0f} ms over {elapsed:.0f} s"
        f" = {cpu / elapsed * 100:.2f} % of a CPU (target ~0)",
    ]


def main(argv: list[str] | None = None) -> list[str]:
    """Measure and print the daemon's idle figures (or why they cannot be measured here)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="idle window")
    parser.add_argument("--quick", action="store_true", help="a 5 s window (CI smoke)")
    arguments = parser.parse_args(argv)
    reason = unavailable_reason()
    lines = [f"daemon idle: skipped: {reason}"] if reason else []
    if not reason:
        lines = measure(5.0 if arguments.quick else arguments.seconds)
    for line in lines:
        print(line, flush=True)
    return lines


if __name__ == "__main__":
    main()
