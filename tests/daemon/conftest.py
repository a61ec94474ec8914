"""Fixtures of the daemon tests (helpers in tests/daemon/helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.helpers import DaemonRunner


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[DaemonRunner]:
    """Start real daemon processes; every one is SIGKILLed by PID at the end if still alive."""
    runner = DaemonRunner(tmp_path, [], [])
    try:
        yield runner
    finally:
        for daemon in runner.started:
            daemon.kill()
        for notify in runner.sockets:
            notify.close()
