"""Credential files (SSH key, known_hosts): the one reader, and the checks at load.

`load_policy` stays pure (it reads only the policy file); `check_site` looks at the machine: the
SSH private key and the known_hosts file (or the systemd credential that replaces the key).
Before it existed, a missing credential file passed `validate`, crashed `plan` and
`run` with a traceback, and made every scheduled run of the daemon vanish (issue 8 finding 5).
Each problem is located at the policy key that names the file, with the operating system's reason.

`read_credential_file` is also what a run uses to read them again (a daemon runs for weeks and a
file can change meanwhile), so load and run accept and refuse exactly the same files.
Files are opened with O_NONBLOCK and checked with fstat, so a FIFO or a device never blocks.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from barctl.config.local_files import UnreadableFile, read_regular_file
from barctl.config.policy import ProblemLocator
from barctl.config.site import Site
from barctl.errors import SourceProblem

MAX_CREDENTIAL_BYTES = 1024 * 1024


class UnusableCredential(Exception):
    """Why a credential file cannot be used; `strerror` when the system refused to read it."""

    def __init__(self, reason: str, strerror: str | None = None) -> None:
        super().__init__(reason)
        self.strerror = strerror


def check_site(site: Site, locator: ProblemLocator) -> list[SourceProblem]:
    """Every credential file the policy names that is missing, unreadable, empty or malformed."""
    # accept-new exists to start from an empty known_hosts (new keys go to barctl's own file);
    # in strict mode an empty one would refuse every node.
    empty_known_hosts = site.accept_new_hosts_file is not None
    checks: list[tuple[tuple[str, ...], Path, str, bool]] = [
        (("ssh", "private_key"), site.private_key, "ssh_key", False),
        (("ssh", "known_hosts"), site.known_hosts, "", empty_known_hosts),
    ]
    problems = []
    for key_path, path, credential, may_be_empty in checks:
        try:
            read_credential_file(path, may_be_empty=may_be_empty)
        except UnusableCredential as reason:
            systemd = credential and site.systemd_credentials
            origin = f"systemd credential {credential} " if systemd else ""
            problems.append(locator.problem(key_path, f"{origin}{path}: {reason}"))
    return problems


def read_credential_file(path: Path, *, may_be_empty: bool = False) -> str:
    """The stripped UTF-8 text of a credential file; UnusableCredential saying why not."""
    try:
        text = _read(path).decode("utf-8").strip()
    except UnicodeDecodeError:
        raise UnusableCredential("is not UTF-8 text") from None
    if not text and not may_be_empty:
        raise UnusableCredential("is empty")
    return text


def _read(path: Path) -> bytes:
    try:
        return read_regular_file(path, MAX_CREDENTIAL_BYTES)
    except UnreadableFile as error:
        if error.kind:
            # Said as open(2) would for a directory, so a run's reason stays "Is a directory".
            strerror = os.strerror(errno.EISDIR) if error.kind == "a directory" else None
            raise UnusableCredential(f"is not a regular file ({error.kind})", strerror) from None
        if error.kind == "":
            raise UnusableCredential("is not a regular file") from None
        if error.strerror is not None:
            message = f"cannot be read: {error.strerror}"
            raise UnusableCredential(message, error.strerror) from None
        raise UnusableCredential(f"is larger than {MAX_CREDENTIAL_BYTES // 1024} KiB") from None
