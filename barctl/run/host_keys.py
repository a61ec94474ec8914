"""Known host keys, parsed once per process and file content (issue 12 item 1).

paramiko's `HostKeys.load` checks every line against every entry already loaded (`check` →
`lookup`, with an HMAC per hashed entry for each plain name): quadratic, 11 ms at 52 lines and
530 ms at 1000 (issue 12), and `SSHClient.load_system_host_keys` paid it on every connection. Here
each file is read in one pass, dropping only a name already listed with the same key (paramiko
drops a name whose key it can already find; a host listed both plain and hashed with one key
therefore stays twice, which verifies the same), and the result is shared by every connection
until a file changes (inode, size or mtime: the accept-new file grows during a run).

Connections only read the shared object: SSHClient checks the server's key against it and adds
nothing to it (RejectPolicy raises; barctl's accept-new policy appends to its own file).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import paramiko
from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

_Identity = tuple[str, int, int, int]

_cache: dict[tuple[str, ...], tuple[tuple[_Identity | None, ...], paramiko.HostKeys]] = {}
_lock = threading.Lock()


class LinearHostKeys(paramiko.HostKeys):
    """`paramiko.HostKeys` whose `load` reads a file in one pass (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[tuple[str, str, bytes]] = set()
        self._found: dict[str, Any] = {}

    def lookup(self, hostname: str) -> Any:
        """paramiko's lookup (an HMAC per hashed entry), remembered per name: the gate and the
        run connect to the same nodes, and the entries never change after loading."""
        if hostname not in self._found:
            self._found[hostname] = super().lookup(hostname)
        return self._found[hostname]

    def load(self, filename: Any) -> None:
        """Add the entries of an OpenSSH known_hosts file; lines that do not parse are skipped."""
        with open(filename, encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, 1):
                line = text.strip()
                if not line or line.startswith("#"):
                    continue
                try:
                    entry = HostKeyEntry.from_line(line, number)
                except (paramiko.SSHException, InvalidHostKey):
                    # OpenSSH skips a line it cannot parse (hostfile.c hostkeys_foreach);
                    # paramiko's load raises InvalidHostKey for bad base64 and failed the
                    # connection on one broken line.
                    continue
                if entry is not None and entry.key is not None:
                    self._add_new_names(entry)

    def _add_new_names(self, entry: HostKeyEntry) -> None:
        key = (entry.key.get_name(), entry.key.asbytes())
        fresh = [name for name in entry.hostnames if (name, *key) not in self._seen]
        if fresh:
            self._seen.update((name, *key) for name in fresh)
            entry.hostnames = fresh
            # paramiko's entry list (lookup reads it); its stubs leave it out.
            self._entries.append(entry)  # type: ignore[attr-defined]
            self._found.clear()


def _identity(path: str) -> _Identity | None:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return path, status.st_ino, status.st_size, status.st_mtime_ns


def known_host_keys(paths: Sequence[str]) -> paramiko.HostKeys:
    """The keys of every existing file in `paths` (in order), parsed again only when one of
    them changed since the last call. A missing file contributes nothing."""
    wanted = tuple(paths)
    identities = tuple(_identity(path) for path in wanted)
    with _lock:
        cached = _cache.get(wanted)
        if cached is not None and cached[0] == identities:
            return cached[1]
        keys = LinearHostKeys()
        for index, path in enumerate(wanted):
            if identities[index] is not None:
                keys.load(path)
        _cache[wanted] = (identities, keys)
        return keys


def forget() -> None:
    """Drop every parsed file (benchmarks measure a first parse)."""
    with _lock:
        _cache.clear()
