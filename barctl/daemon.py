"""The scheduling daemon (`barctl daemon`); see docs/design.md."""

from __future__ import annotations

import argparse

from barctl.errors import BarctlError


def main(arguments: argparse.Namespace) -> int:
    """Run scheduled backups until stopped."""
    raise BarctlError("the daemon is not implemented yet")
