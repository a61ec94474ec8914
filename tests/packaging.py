"""Building barctl's wheel the way docs/install.md does, for the packaging tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "*_cache", "__pycache__", ".lab")


def build_wheel(scratch: Path) -> Path:
    """`pip wheel --no-deps` of a copy of this checkout; the path of the wheel, in `scratch`."""
    # Built from a copy: setuptools leaves build/ in the tree it builds, and a stale build/lib
    # would put modules deleted since into the next wheel.
    source = scratch / "source"
    shutil.copytree(REPOSITORY, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    output = scratch / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(output), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = output.glob("barctl-*-py3-none-any.whl")
    return wheel
