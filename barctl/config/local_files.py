"""Reading a local file named by the operator without ever blocking or reading without bound.

The policy, the inventory and the credential files they name are read the same way (issue 8,
finding 6): `stat` first (opening a socket fails, opening a FIFO may block), then open with
O_NONBLOCK and `fstat` the descriptor (the path may name another file by now), then read at most
`limit` + 1 bytes. Callers word the reason in their own place (a YAML file, a policy key).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class UnreadableFile(Exception):
    """Why a file was not read: `kind` (not a regular file), `strerror` (the system refused)
    or `too_large`; `kind` is "" when only fstat saw the file was not regular."""

    def __init__(
        self, *, kind: str | None = None, strerror: str | None = None, too_large: bool = False
    ) -> None:
        super().__init__(kind or strerror or "too large")
        self.kind, self.strerror, self.too_large = kind, strerror, too_large


def read_regular_file(path: str | Path, limit: int) -> bytes:
    """The bytes of regular file `path`; UnreadableFile when it is not one, unreadable or big."""
    try:
        kind = FILE_KINDS.get(stat.S_IFMT(os.stat(path).st_mode))
        if kind is not None:
            raise UnreadableFile(kind=kind)
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        with os.fdopen(os.open(path, flags), "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise UnreadableFile(kind="")
            content = handle.read(limit + 1)
    except OSError as error:
        raise UnreadableFile(strerror=error.strerror) from None
    if len(content) > limit:
        raise UnreadableFile(too_large=True)
    return content
