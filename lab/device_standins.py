"""Stand-ins for the config-drive image (guide 2.5 step 1): `blkid` and `dd` (stdlib only).

A lab host has no block devices of its own. `lab.set_config_drive(host, ...)` gives a host a
config-2 partition: a device name in the shared state and its content in
`hosts/<h>/devices/<name>`. `blkid` answers from that state as util-linux blkid does; `dd` is the
machine's real coreutils dd, with only the simulated device's path mapped to its file, so every
other operand (of=, bs=, conv=, status=), the output file's mode and the exit codes are dd's own.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

State = dict[str, Any]
Locked = Callable[[Path], contextlib.AbstractContextManager[State]]
# misc-utils/blkid.c: BLKID_EXIT_NOTFOUND (token not found, no device identified) and
# BLKID_EXIT_OTHER (bad usage).
BLKID_NOT_FOUND = 2
BLKID_OTHER = 4


class Ctx(Protocol):
    """One invocation (standin.Ctx)."""

    lab_dir: Path
    host: str

    def out(self, text: str) -> None:
        """Write a line to stdout."""

    def err(self, text: str) -> None:
        """Write a line to stderr."""


def device_file(lab_dir: Path, host: str, device: str) -> Path:
    """Where the lab keeps the content of `host`'s simulated `device`."""
    return lab_dir / "hosts" / host / "devices" / Path(device).name


def cmd_blkid(ctx: Ctx, args: list[str], locked: Locked) -> int:
    """`blkid -t LABEL=NAME -o device`: the device carrying that label, one per line, exit 0;
    none: no output, exit 2 (blkid(8) "RETURN CODE"). Only config-2 exists in the lab."""
    if len(args) != 4 or args[0] != "-t" or args[2:] != ["-o", "device"]:
        ctx.err(f"blkid: lab blkid does not simulate: blkid {' '.join(args)}")
        return BLKID_OTHER
    with locked(ctx.lab_dir) as state:
        device = state.get("config_drives", {}).get(ctx.host)
    if args[1] != "LABEL=config-2" or device is None:
        return BLKID_NOT_FOUND
    ctx.out(device)
    return 0


def cmd_dd(ctx: Ctx, args: list[str], locked: Locked) -> int:
    """The real dd, reading the host's simulated device file for `if=/dev/...`; a /dev input
    the host does not have fails as dd does on a missing file (src/dd.c: "failed to open")."""
    with locked(ctx.lab_dir) as state:
        device = state.get("config_drives", {}).get(ctx.host)
    words = []
    for word in args:
        source = word.removeprefix("if=") if word.startswith("if=/dev/") else ""
        if source and source != device:
            ctx.err(f"dd: failed to open '{source}': No such file or directory")
            return 1
        words.append(f"if={device_file(ctx.lab_dir, ctx.host, source)}" if source else word)
    real = next(p for p in ("/usr/bin/dd", "/bin/dd") if Path(p).exists())
    os.execv(real, [real, *words])  # noqa: S606
    return 127  # pragma: no cover
