"""Helpers for daemon tests: a real `barctl daemon` process, its notify socket, its logs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"


def wait_until(condition: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    """Poll `condition` every `step` seconds until it returns something truthy; fail naming
    `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Message:
    """One sd_notify datagram: when it arrived (monotonic and wall) and its fields."""

    monotonic: float
    wall: float
    fields: dict[str, str]


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET; collects every message."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(self.path)
        self.socket.settimeout(0.1)
        self.messages: list[Message] = []
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self) -> None:
        while not self.closed.is_set():
            try:
                data = self.socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
            with self.lock:
                self.messages.append(Message(time.monotonic(), time.time(), fields))

    def snapshot(self) -> list[Message]:
        """Messages so far, oldest first."""
        with self.lock:
            return list(self.messages)

    def with_field(self, key: str, value: str | None = None) -> list[Message]:
        """Messages carrying `key` (equal to `value` when given)."""
        return [
            message
            for message in self.snapshot()
            if key in message.fields and (value is None or message.fields[key] == value)
        ]

    def wait(self, key: str, value: str | None = None, *, count: int = 1, timeout: float = 20):
        """The `count`-th message carrying `key`(=`value`), waiting up to `timeout` s."""

        def found() -> Message | None:
            matching = self.with_field(key, value)
            return matching[count - 1] if len(matching) >= count else None

        return wait_until(found, timeout, f"sd_notify {key}={value} #{count}")

    def close(self) -> None:
        """Stop receiving and remove the socket file."""
        self.closed.set()
        self.thread.join(2)
        self.socket.close()
        Path(self.path).unlink(missing_ok=True)


class Daemon:
    """A `python -m barctl -c POLICY daemon` child; killed by its PID when the test ends."""

    def __init__(self, policy: Path, log_path: Path, environ: dict[str, str]) -> None:
        self.log_path = log_path
        self.started = time.time()
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "barctl", "-c", str(policy), "daemon"],
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=REPO,
            )
        self.pid = self.process.pid

    def signal(self, number: int) -> None:
        """Send a signal to this daemon (by PID)."""
        os.kill(self.pid, number)

    def wait_exit(self, timeout: float) -> int:
        """The exit status, waiting up to `timeout` s."""
        return self.process.wait(timeout)

    def text(self) -> str:
        """Everything the daemon wrote to stdout/stderr so far."""
        return self.log_path.read_text(errors="replace")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """JSON log records (of event `name`), in order."""
        records = []
        for line in self.text().splitlines():
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if name is None or record.get("event") == name:
                    records.append(record)
        return records

    def wait_event(self, name: str, *, count: int = 1, timeout: float = 20) -> dict[str, Any]:
        """The `count`-th log record of event `name`."""

        def found() -> dict[str, Any] | None:
            if self.process.poll() is not None and len(self.events(name)) < count:
                raise AssertionError(f"daemon exited {self.process.returncode}:\n{self.text()}")
            records = self.events(name)
            return records[count - 1] if len(records) >= count else None

        record: dict[str, Any] = wait_until(found, timeout, f"log event {name!r} #{count}")
        return record

    def kill(self) -> None:
        """SIGKILL this daemon (by PID) if still running, and reap it."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(10)


@dataclass
class DaemonRunner:
    """Starts daemons for one test (each with its own notify socket) and kills them all."""

    directory: Path
    started: list[Daemon]
    sockets: list[NotifySocket]

    def start(
        self, policy: Path, *, watchdog_usec: int | None = None, **extra: str
    ) -> tuple[Daemon, NotifySocket]:
        """Start a daemon on `policy` with a fresh NOTIFY_SOCKET (and WATCHDOG_USEC)."""
        index = len(self.started)
        notify = NotifySocket(self.directory / f"notify-{index}.sock")
        self.sockets.append(notify)
        environ = {
            key: value
            for key, value in os.environ.items()
            if key not in {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"}
        }
        environ |= {
            "NOTIFY_SOCKET": notify.path,
            "BARCTL_LOG_FORMAT": "json",
            "PYTHONPATH": str(REPO),
            **extra,
        }
        if watchdog_usec is not None:
            environ["WATCHDOG_USEC"] = str(watchdog_usec)
        daemon = Daemon(policy, self.directory / f"daemon-{index}.log", environ)
        self.started.append(daemon)
        return daemon, notify


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    """Dump `data` as YAML to `path`."""
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def offline_policy(directory: Path, **plans: dict[str, Any]) -> dict[str, Any]:
    """A valid policy on a static test inventory; nodes are unreachable (no lab needed).

    Its SSH key and known_hosts are placeholder files in `directory`: `validate` (and so the
    daemon's start) refuses credential files that cannot be read.
    """
    directory.mkdir(parents=True, exist_ok=True)
    credentials = {
        "private_key": directory / "id_ed25519",
        "known_hosts": directory / "known_hosts",
    }
    for path in credentials.values():
        path.write_text("placeholder, never used: no node is reachable\n")
        path.chmod(0o600)
    return {
        "inventory": {"path": str(DATA / "inventory" / "wallaby_single.yaml")},
        "undercloud": {"address": "192.0.2.1"},
        "ssh": {
            "connect_timeout_seconds": 1,
            **{key: str(path) for key, path in credentials.items()},
        },
        "backup_target": {"nfs": {"server": "192.0.2.250", "export": "/ctl_plane_backups"}},
        "plans": plans
        or {"undercloud": {"interval_seconds": 3600}, "controlplane": {"schedule": "30 2 * * sun"}},
        "state_directory": str(directory / "state"),
        "runtime_directory": str(directory / "run"),
        "metrics": {"listen": f"127.0.0.1:{free_port()}"},
        "log": {"format": "json"},
    }


def parse_time(text: str) -> datetime:
    """An ISO timestamp from a log record or STATUS= line, as aware UTC."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
