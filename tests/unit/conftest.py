"""Shared fixtures of the unit tests: the wheel, built once per session for the packaging tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.packaging import build_wheel


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """barctl's wheel as `pip wheel --no-deps` builds it from this checkout."""
    return build_wheel(tmp_path_factory.mktemp("build"))
