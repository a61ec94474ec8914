"""The metrics HTTP listener the daemon starts before READY=1.

`barctl.metrics.start_metrics_server(listen, source)` (the observability work) is used when that
module exists; until then a plain prometheus_client listener serves the default registry, so
the start-up order (READY only once the port accepts connections) holds either way.
"""

from __future__ import annotations

import importlib
import socket
import time
from typing import Any, Protocol

from prometheus_client import start_http_server

from barctl.errors import BarctlError
from barctl.policy import split_listen


class Listener(Protocol):
    """A running listener."""

    def close(self) -> None:
        """Stop serving and release the port."""


class _PlainListener:
    def __init__(self, listen: str) -> None:
        host, port = split_listen(listen)
        self.server, self.thread = start_http_server(port, addr=host)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start(listen: str, source: Any) -> Listener:
    """Start serving /metrics on `listen` ("host:port"); `source` is the daemon's status."""
    try:
        module = importlib.import_module("barctl.metrics")
    except ModuleNotFoundError as error:
        if error.name != "barctl.metrics":
            raise
        return _PlainListener(listen)
    server: Listener = module.start_metrics_server(listen, source)
    return server


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
