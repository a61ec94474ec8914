"""Checks at load of the files the policy names: an unusable credential is a config error.

`load_policy` stays pure (it reads only the policy file); `check_site` looks at the machine: the
SSH private key, the known_hosts file and the SFTP password file (or the systemd credentials that
replace them). Before it existed, a missing password file passed `validate`, crashed `plan` and
`run` with a traceback, and made every scheduled run of the daemon vanish (issue 8 finding 5).
Each problem is located at the policy key that names the file, with the operating system's reason.

Files are opened with O_NONBLOCK and checked with fstat, so a FIFO or a device never blocks.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from barctl.errors import SourceProblem
from barctl.policy import (
    Policy,
    ProblemLocator,
    effective_private_key,
    effective_sftp_password_file,
)

MAX_CREDENTIAL_BYTES = 1024 * 1024
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class _Unusable(Exception):
    """Why a credential file cannot be used."""


def check_site(
    policy: Policy, locator: ProblemLocator, environ: Mapping[str, str]
) -> list[SourceProblem]:
    """Every credential file the policy names that is missing, unreadable, empty or malformed."""
    credentials = bool(environ.get("CREDENTIALS_DIRECTORY", "").split(":")[0])
    # accept-new exists to start from an empty known_hosts (new keys go to barctl's own file);
    # in strict mode an empty one would refuse every node.
    empty_known_hosts = policy.ssh.host_key_policy == "accept-new"
    checks: list[tuple[tuple[str, ...], Path, str, bool, bool]] = [
        (("ssh", "private_key"), effective_private_key(policy, environ), "ssh_key", False, False),
        (("ssh", "known_hosts"), policy.ssh.known_hosts, "", False, empty_known_hosts),
    ]
    password_file = effective_sftp_password_file(policy, environ)
    if password_file is not None:
        key = ("backup_target", "sftp", "password_file")
        checks.append((key, password_file, "sftp_password", True, False))
    problems = []
    for key_path, path, credential, one_line, may_be_empty in checks:
        try:
            _check_file(path, one_line=one_line, may_be_empty=may_be_empty)
        except _Unusable as reason:
            origin = f"systemd credential {credential} " if credential and credentials else ""
            problems.append(locator.problem(key_path, f"{origin}{path}: {reason}"))
    return problems


def _check_file(path: Path, *, one_line: bool, may_be_empty: bool = False) -> None:
    content = _read(path)
    if may_be_empty:
        return
    if not content.strip():
        raise _Unusable("is empty")
    if not one_line:
        return
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise _Unusable("is not UTF-8 text") from None
    if "\n" in text.strip() or "\r" in text.strip():
        raise _Unusable("has more than one line: the password is the whole first line")


def _read(path: Path) -> bytes:
    try:
        kind = _KINDS.get(stat.S_IFMT(os.stat(path).st_mode))
        if kind is not None:
            raise _Unusable(f"is not a regular file ({kind})")
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        with os.fdopen(os.open(path, flags), "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise _Unusable("is not a regular file")
            content = handle.read(MAX_CREDENTIAL_BYTES + 1)
    except OSError as error:
        raise _Unusable(f"cannot be read: {error.strerror}") from None
    if len(content) > MAX_CREDENTIAL_BYTES:
        raise _Unusable(f"is larger than {MAX_CREDENTIAL_BYTES // 1024} KiB")
    return content
