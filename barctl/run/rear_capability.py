"""What a node's ReaR set-up must be before barctl runs it: pure judgements of the gate's probes.

- `/etc/cron.d/rear`: RHEL's rear RPM installs `30 1 * * * rear checklayout || rear mkrescue`,
  the same minute as the example undercloud schedule; a second rear exits "rear is already
  running" (issue 10), so barctl's run would fail with the node already out of the cluster.
- The version: `rear_config` is checked against ReaR 2.4, 2.6, 2.7 and 2.8, so anything older
  cannot be trusted to read it the same way; `ISO_FILE_SIZE_LIMIT` exists only from 2.7
  (`assert_ISO_FILE_SIZE_LIMIT` in lib/output-functions.sh), so a policy setting it needs 2.7.
- Free space on the target: below the policy's floor, or below the plan's nodes' last verified
  sizes plus a margin (the next run would not fit), ReaR fails after a full tar, with the node
  already out of the cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from barctl.run.rear_config import RearSettings

CRON_FILE = "/etc/cron.d/rear"
OLDEST_VERSION = (2, 4)
SIZE_LIMIT_VERSION = (2, 7)
# `rear -V` prints "Relax-and-Recover 2.4 / 2018-06-21" (usr/sbin/rear: "$PRODUCT $VERSION /
# $RELEASE_DATE"); Debian's 2.7 says "Relax-and-Recover 2.7 / Git".
_VERSION = re.compile(r"^Relax-and-Recover (\d+)\.(\d+)\b", re.MULTILINE)
_UNITS = (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


def parse_version(text: str) -> tuple[int, int] | None:
    """(major, minor) from `rear -V`'s output; None when it names no ReaR version."""
    found = _VERSION.search(text)
    return (int(found[1]), int(found[2])) if found else None


def _dotted(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def version_problems(text: str, settings: RearSettings) -> tuple[str, ...]:
    """Why this node's ReaR (`rear -V` output) cannot run barctl's configuration; () when it can."""
    version = parse_version(text)
    if version is None:
        line = text.strip().splitlines()[:1] or ["no output"]
        return (f"cannot tell the ReaR version from `rear -V`: {line[0]!r}",)
    if version < OLDEST_VERSION:
        oldest = _dotted(OLDEST_VERSION)
        return (f"ReaR {_dotted(version)} is older than {oldest}, the oldest barctl supports",)
    if settings.iso_file_size_limit_bytes is not None and version < SIZE_LIMIT_VERSION:
        return (
            f"ReaR {_dotted(version)} has no ISO_FILE_SIZE_LIMIT (from 2.7), which the policy "
            "sets (rear.iso_file_size_limit_bytes)",
        )
    return ()


def cron_problem(exit_code: int | None) -> str:
    """The judgement of `test ! -e /etc/cron.d/rear` (exit 0: absent; 1: present)."""
    if exit_code == 0:
        return ""
    if exit_code == 1:
        return (
            f"{CRON_FILE} exists (the rear package's nightly mkrescue collides with barctl's "
            "runs): remove it"
        )
    status = "no exit status" if exit_code is None else f"exit {exit_code}"
    return f"cannot tell whether {CRON_FILE} exists: {status}"


def parse_free_bytes(text: str) -> int | None:
    """Bytes available from `df -B1 --output=avail DIR`: a header line `Avail`, then the number
    (coreutils df.c, field `avail`, "Avail" header); None when the answer is not that."""
    lines = text.strip().splitlines()
    if len(lines) != 2 or not lines[1].strip().isdigit():
        return None
    return int(lines[1].strip())


def human_bytes(count: int) -> str:
    """`count` bytes in binary units with at most one decimal: 1.2 GiB, 10 GiB, 512 bytes."""
    for unit, size in _UNITS:
        if count >= size:
            text = f"{count / size:.1f}".removesuffix(".0")
            return f"{text} {unit}"
    return f"{count} bytes"


@dataclass(frozen=True)
class SpaceNeed:
    """What the next run will write: each node's last verified backup size, plus a margin."""

    sizes: tuple[tuple[str, int], ...]
    margin_percent: int

    @property
    def total(self) -> int:
        """The sizes together, before the margin."""
        return sum(size for _, size in self.sizes)

    @property
    def bytes(self) -> int:
        """The sizes plus the margin, rounded up."""
        return -(-self.total * (100 + self.margin_percent) // 100)

    def describe(self) -> str:
        """`ctl-0 1 GiB + ctl-1 1 GiB = 2 GiB, plus 20%`."""
        parts = " + ".join(f"{node} {human_bytes(size)}" for node, size in self.sizes)
        total = f" = {human_bytes(self.total)}" if len(self.sizes) > 1 else ""
        return f"{parts}{total}, plus {self.margin_percent}%"


def space_need(
    last_sizes: Mapping[str, int], nodes: Sequence[str], margin_percent: int
) -> SpaceNeed | None:
    """The next run's need from each node's last verified size; None when none has one yet."""
    sizes = tuple((node, last_sizes[node]) for node in nodes if last_sizes.get(node))
    return SpaceNeed(sizes, margin_percent) if sizes else None


def space_problem(text: str, directory: str, floor: int, need: SpaceNeed | None = None) -> str:
    """Why the target's free space under `directory` (df's answer `text`) is too little: below
    the policy's floor, or below what the next run needs (the plan's nodes' last verified
    sizes plus the margin: ReaR would fail after a full tar, with the node out of the cluster)."""
    available = parse_free_bytes(text)
    if available is None:
        return f"cannot tell the free space under {directory} from df: {text.strip()[:80]!r}"
    if available < floor:
        return (
            f"{human_bytes(available)} free under {directory}, below the floor of "
            f"{human_bytes(floor)} (backup_target.min_free_bytes)"
        )
    if need is not None and available < need.bytes:
        return (
            f"{human_bytes(available)} free under {directory}: the next run would not fit, it"
            f" needs about {human_bytes(need.bytes)} (last verified sizes {need.describe()},"
            " backup_target.space_margin_percent)"
        )
    return ""
