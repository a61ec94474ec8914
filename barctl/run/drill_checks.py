"""The restore drill's judgements, pure: what the target answered against what the manifest says.

Three proofs per node, on the newest verified run (issue 11 item 8):

- every file's sha256, computed again on the target, is the manifest's (a file changed or lost
  since verification is named);
- the archive lists fully (`tar -t`, streamed on the target; only the member count returns);
- the ISO's own ReaR configuration resolves this run's archive: `rear recover` in the rescue
  system reads `local.conf` then `rescue.conf` (skel/default/etc/scripts/system-setup runs it
  without -C) and opens `<BACKUP_URL>/$NETFS_PREFIX/$BACKUP_PROG_ARCHIVE.tar<suffix>`
  (prep/NETFS/default/070_set_backup_archive.sh), or the ISO's own `/backup/` for iso://.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from barctl.run import rear_config
from barctl.run.manifest import Manifest
from barctl.run.rear_config import RearTarget

# ReaR's conf/default.conf values that barctl's local.conf does not set.
REAR_DEFAULTS = {"BACKUP_PROG_SUFFIX": ".tar", "BACKUP_PROG_COMPRESS_SUFFIX": ".gz"}


@dataclass(frozen=True)
class Problem:
    """Why a node's drill failed: the file it is about (relative to the run) and what is wrong."""

    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}" if self.file else self.message


def checksum_problems(found: Manifest, directory: str, output: str) -> tuple[Problem, ...]:
    """Files whose sha256 on the target differs from the manifest's, or that sha256sum could
    not read (listed in its output without a sum)."""
    sums: dict[str, str] = {}
    for line in output.splitlines():
        digest, separator, path = line.partition("  ")
        if separator:
            sums[path] = digest
    problems = []
    for item in found.files:
        actual = sums.get(f"{directory}/{item.path}")
        if actual is None:
            problems.append(Problem(item.path, "unreadable or missing on the target"))
        elif actual != item.sha256:
            problems.append(
                Problem(item.path, f"sha256 {actual} on the target, {item.sha256} in the manifest")
            )
    return tuple(problems)


def assignments(text: str) -> dict[str, str]:
    """Top-level `NAME=value` lines of a ReaR config file, unquoted as bash would, later lines
    winning (arrays and lines that are not simple assignments are left out)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, equals, value = line.strip().partition("=")
        if not equals or not name.isidentifier() or value.startswith("("):
            continue
        try:
            words = shlex.split(value, comments=True)
        except ValueError:
            continue
        values[name] = words[0] if words else ""
    return values


def resolution_problems(
    found: Manifest, target: RearTarget, archive: str | None, local_conf: str, rescue_conf: str
) -> tuple[Problem, ...]:
    """Whether the ISO's local.conf and rescue.conf make `rear recover` open this run's archive
    (`archive`: its path on an NFS target; None with SFTP, where it is inside the ISO)."""
    files = {"local.conf": local_conf, "rescue.conf": rescue_conf}
    missing = [name for name, text in files.items() if not text.strip()]
    iso = next((item.path for item in found.files if item.kind == "iso"), "ISO")
    if missing:
        return (Problem(iso, f"no {' or '.join(missing)} in the rescue system"),)
    values = {**REAR_DEFAULTS, **assignments(files["local.conf"])}
    values.update(assignments(files["rescue.conf"]))
    problems = []
    url = values.get("BACKUP_URL", "")
    if url != target.backup_url:
        problems.append(Problem(iso, f"BACKUP_URL is {url!r}, the target is {target.backup_url}"))
    prefix = values.get("NETFS_PREFIX", "")
    expected_prefix = rear_config.run_prefix(found.node, found.run_id)
    if prefix != expected_prefix:
        problems.append(Problem(iso, f"NETFS_PREFIX is {prefix!r}, not {expected_prefix}"))
    name = values.get("BACKUP_PROG_ARCHIVE", "")
    name += values["BACKUP_PROG_SUFFIX"] + values["BACKUP_PROG_COMPRESS_SUFFIX"]
    if archive is not None and f"{target.path}/{prefix}/{name}" != archive:
        resolved = f"{target.path}/{prefix}/{name}"
        problems.append(Problem(iso, f"recover would open {resolved}, not {archive}"))
    return tuple(problems)


def listing_problem(
    archive: str, exit_code: int | None, output: str, stderr: str
) -> Problem | None:
    """A listing that failed or found no member; None when tar listed the whole archive."""
    if exit_code != 0:
        lines = stderr.strip().splitlines()
        return Problem(archive, f"tar -t failed: {lines[-1] if lines else f'exit {exit_code}'}")
    count = output.strip()
    if not count.isdigit() or int(count) == 0:
        return Problem(archive, "the archive lists no member")
    return None
