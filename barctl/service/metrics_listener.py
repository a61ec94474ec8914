"""The metrics listener the daemon starts before READY=1 (barctl.observe.metrics exposes).

The daemon owns what the collector reads: the current policy and inventory (swapped on a good
SIGHUP), whether the latest reload succeeded, and each plan's next fire time.
"""

from __future__ import annotations

import socket
import time
from datetime import datetime, timezone

from barctl.config.policy import split_listen
from barctl.errors import BarctlError
from barctl.observe.metrics import MetricsServer, MetricsSource, start_metrics_server
from barctl.service.scheduled import Runtime


def start(runtime: Runtime) -> MetricsServer:
    """Serve /metrics on the policy's metrics.listen, reading the daemon's runtime."""
    policy, _ = runtime.current
    source = MetricsSource(
        policy=lambda: runtime.current[0],
        inventory=lambda: runtime.current[1],
        state_directory=runtime.site.state_directory,
        clock=_utc_now,
        reload_success=lambda: runtime.status.reload_success,
        next_runs=lambda: runtime.status.snapshot()[0],
    )
    return start_metrics_server(policy.metrics.listen, source)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def wait_accepting(listen: str, timeout: float = 10.0) -> None:
    """Return once a TCP connection to `listen` succeeds; BarctlError after `timeout` s."""
    host, port = split_listen(listen)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError as error:
            if time.monotonic() > deadline:
                message = f"metrics listener {listen} accepts no connection: {error}"
                raise BarctlError(message) from None
            time.sleep(0.05)
