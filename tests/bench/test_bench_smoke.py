"""The benchmarks still run (`bench/run_all.py --quick`): a bench that rots prints no figure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lab import unavailable_reason

REPOSITORY = Path(__file__).resolve().parents[2]


def quick(*modules: str) -> str:
    """run_all --quick for `modules`; fails on a crashed benchmark."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.run_all", "--quick", "--only", *modules],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def test_metrics_and_startup_benchmarks_print_their_figures() -> None:
    """The /metrics, start-up and daemon benchmarks run in quick mode and print each ratio."""
    out = quick("bench.metrics_bench", "bench.startup_bench", "bench.daemon_bench")
    assert "metrics idle, 1000 runs:" in out and "the 25 ms target" in out
    assert "metrics during writes, 1000 runs:" in out
    assert "barctl --version: exit 0," in out and "the 150 ms target" in out
    assert "barctl validate: exit 0," in out and "the 400 ms target" in out
    assert "load average" in out
    assert "daemon idle: skipped: needs root" in out or "the 80 MB target" in out


@pytest.mark.lab
@pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
def test_lab_benchmarks_run_against_the_lab() -> None:
    """The SSH, gate, Ansible-gate and rolling benchmarks run in quick mode against a lab."""
    out = quick(
        "bench.exec_bench", "bench.gate_bench", "bench.ansible_gate_bench", "bench.rolling_bench"
    )
    assert "ansible gate bench: SKIPPED" in out or "ratio ansible / barctl at 8:" in out
    assert "x the floor's CPU" in out
    assert "healthy gate:" in out and "gate / floor" in out
    assert "exit 0" in out and "overhead/controller" in out
    assert "offline: wall time of the whole run" in out
