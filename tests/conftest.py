"""Shared fixtures: the network-namespace lab (``lab``, ``lab_factory``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import HostSpec, Lab, standard_hosts, unavailable_reason


def _skip_unless_lab_possible() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"lab unavailable: {reason}")


@pytest.fixture(scope="module")
def _module_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One standard lab (undercloud, ctl-0..2, backup-0) per test module."""
    _skip_unless_lab_possible()
    with Lab.running(tmp_path_factory.mktemp("lab"), standard_hosts()) as lab:
        yield lab


@pytest.fixture
def lab(_module_lab: Lab) -> Iterator[Lab]:
    """The module's standard lab, reset (healthy, no faults, no invocations) for this test."""
    _module_lab.reset()
    yield _module_lab


LabFactory = Callable[..., Lab]


@pytest.fixture
def lab_factory(tmp_path: Path) -> Iterator[LabFactory]:
    """Start labs with custom hosts: ``lab_factory(hosts)`` or ``lab_factory(composable=True)``.

    Every lab started is torn down when the test ends, whatever its outcome.
    """
    _skip_unless_lab_possible()
    started: list[Lab] = []

    def make(hosts: list[HostSpec] | None = None, **standard: Any) -> Lab:
        lab = Lab(tmp_path / f"lab{len(started)}", hosts or standard_hosts(**standard))
        started.append(lab)
        lab.up()
        return lab

    yield make
    for lab in started:
        lab.down()
