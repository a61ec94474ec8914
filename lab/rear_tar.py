"""What ReaR's tar takes from a lab node's own files: /var/lib/barctl, minus BACKUP_PROG_EXCLUDE.

ReaR writes BACKUP_PROG_EXCLUDE one pattern a line into backup-exclude.txt
(backup/NETFS/default/400_create_include_exclude_files.sh) and runs `tar
--no-wildcards-match-slash ... -X backup-exclude.txt -C / -c -f - <mount points>`
(backup/NETFS/default/500_make_backup.sh). GNU tar tests each name it meets against every
pattern (`*` and `?` do not match `/` with --no-wildcards-match-slash) and never descends into an
excluded directory. The lab archive carries the node's /var/lib/barctl this way (the rest of a
node is not simulated), so an archive shows which run directories a run's ReaR took.
"""

from __future__ import annotations

import re
from pathlib import Path

NODE_STATE = Path("/var/lib/barctl")


def _pattern(pattern: str) -> re.Pattern[str]:
    """A tar wildcard as a regular expression: `*`, `?` and `[...]` never match `/`."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        closing = pattern.find("]", index + 1)
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and closing > index:
            out.append(pattern[index : closing + 1])
            index = closing
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out))


def excluded(name: str, patterns: list[str]) -> bool:
    """Whether tar leaves out absolute `name` (itself or a directory above it matches)."""
    compiled = [_pattern(pattern.rstrip("/")) for pattern in patterns if pattern]
    parts = name.split("/")
    above = ["/".join(parts[:count]) for count in range(2, len(parts) + 1)]
    return any(regex.fullmatch(path) for regex in compiled for path in above)


def node_members(patterns: list[str], root: Path = NODE_STATE) -> list[tuple[str, bytes | None]]:
    """(member name without the leading `/`, content or None for a directory) of every entry
    under `root` tar would archive, in sorted order."""
    members: list[tuple[str, bytes | None]] = []
    if not root.is_dir() or excluded(str(root), patterns):
        return members
    for path in sorted(root.rglob("*")):
        if excluded(str(path), patterns) or path.is_symlink():
            continue
        name = str(path).lstrip("/")
        members.append((name, None if path.is_dir() else path.read_bytes()))
    return members
