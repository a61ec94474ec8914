"""Run locks: one run per plan across processes, and no node shared by two running plans.

A lock is an flock on `<runtime>/<kind>-<name>.lock`. Its file name is built from a node or
plan name, which comes from the inventory or the policy: a host named
`x/../../../../tmp/victim` once truncated `/tmp/victim.lock` on the barctl host, and a
300-character name ended in a traceback (issue 8 finding 2). So, whatever validation ran at
load, the name is checked here again (a plain RFC 1123 host name, at most 253 characters), the
path must resolve inside the runtime directory, the file is opened with O_NOFOLLOW, and it is
truncated only once the lock is held (a second run must not wipe the holder's pid).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from barctl.config import names
from barctl.errors import BarctlError

# NAME_MAX of Linux file systems: a valid 253-character name plus `node-` and `.lock` exceeds it.
MAX_FILE_NAME_BYTES = 255
SHOWN_CHARACTERS = 64


class LockBusyError(BarctlError):
    """Another run holds the plan, or one of its nodes."""


class LockError(BarctlError):
    """A lock cannot be taken for another reason: a bad name, or the runtime directory."""


def _shown(name: str) -> str:
    """`name` safe to print: repr (no raw newlines) and cut to a readable length."""
    if len(name) > SHOWN_CHARACTERS:
        return f"{name[:SHOWN_CHARACTERS]!r}... ({len(name)} characters)"
    return repr(name)


def lock_path(directory: Path, kind: str, name: str) -> Path:
    """`<directory>/<kind>-<name>.lock`, refusing any name that is not a plain host name."""
    # Checked again here, whatever the inventory checked: a lock name becomes a file name.
    if names.host_name_problem(name) is not None:
        message = f"refusing to lock {kind} {_shown(name)}: not an RFC 1123 host name"
        raise LockError(message)
    file_name = f"{kind}-{name}.lock"
    if len(file_name.encode()) > MAX_FILE_NAME_BYTES:
        file_name = f"{kind}-{hashlib.sha256(name.encode()).hexdigest()}.lock"
    path = directory / file_name
    if path.resolve().parent != directory.resolve():
        raise LockError(f"refusing lock file {path}: it resolves outside {directory}")
    return path


def _open(path: Path) -> int:
    """The lock file's descriptor: created 0600, never through a symlink, never truncated."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        return os.open(path, flags, 0o600)
    except OSError as error:
        raise LockError(f"cannot open lock file {path}: {error.strerror}") from None


@contextmanager
def exclusive(directory: Path, kind: str, name: str) -> Iterator[None]:
    """Hold a non-blocking flock on `kind` `name`; LockBusyError naming it when taken."""
    descriptor = _open(lock_path(directory, kind, name))
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 200, 0).decode("ascii", "replace").strip()
            message = f"{kind} {name} is busy: held by {holder or 'another barctl process'}"
            raise LockBusyError(message) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"pid {os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)


def run_locks(runtime: Path, plan: str, nodes: Iterable[str]) -> ExitStack:
    """The plan's lock, then each node's (sorted, so two plans never deadlock)."""
    stack = ExitStack()
    try:
        stack.enter_context(exclusive(runtime, "plan", plan))
        for node in sorted(set(nodes)):
            stack.enter_context(exclusive(runtime, "node", node))
    except BaseException:
        stack.close()
        raise
    return stack
