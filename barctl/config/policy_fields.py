"""What each kind of policy value can legally be; pydantic annotated types built on plain checks.

The policy is part of the trust boundary (issue 8): its users, addresses and paths end up in SSH
connections, ReaR configuration lines, URLs and file names. Each is checked here against its
grammar, so no later code has to quote or second-guess it:
- users: POSIX login names, lowercase (shadow-utils' default NAME_REGEX), `.` allowed inside
  (directory-service accounts like first.last), at most 32 characters;
- hosts: an IPv4/IPv6 literal without a zone index (`%eth0` is free text), or an RFC 1123
  name whose last label is not all digits (`1.2.3` would be read as an address by inet_aton);
- remote paths (NFS export, SFTP directory): absolute, normalized, no `..`, only characters that
  need no quoting in a URL or a shell word;
- local paths: no NUL or other control character;
- names (inventory stacks and groups): letters, digits, `_`, `.`, `-`; no leading `-` or `.`;
- durations: integer seconds within a documented range (see the DURATION_* constants).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from barctl.config import names

_REMOTE_PATH = re.compile(r"/[A-Za-z0-9._/+@,=-]*")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# The largest byte count a policy may give: ReaR compares sizes in bash's 64-bit arithmetic,
# and no target or ISO is a pebibyte.
MAXIMUM_BYTES = 1 << 50


def check_no_control(value: str) -> str:
    """Refuse NUL, newline, DEL and the other C0/C1 control characters in a text value."""
    if _CONTROL.search(value):
        raise ValueError(f"must not contain control characters (NUL, newline...), got {value!r}")
    return value


MINUTE, HOUR, DAY = 60, 3600, 86400


def _check_pattern(value: str, pattern: re.Pattern[str], rule: str) -> str:
    """Accept a non-empty `value` matching `pattern`; ValueError "'value' {rule}" otherwise."""
    if not value:
        raise ValueError("must not be empty")
    if not pattern.fullmatch(value):
        raise ValueError(f"{value!r} {rule}")
    return value


def check_user(value: str) -> str:
    """Accept a POSIX login name; raise ValueError naming the rule otherwise."""
    rule = (
        "is not a login name: lowercase letters, digits, '_', '.', '-', starting with a letter"
        " or '_', at most 32 characters"
    )
    return _check_pattern(value, names.LOGIN_NAME, rule)


def check_host(value: str) -> str:
    """Accept an IP address or a DNS name (the inventory's rules, barctl.config.names); raise
    ValueError otherwise. A trailing dot (fully qualified) is accepted."""
    name = value.removesuffix(".") if value.endswith(".") and value != "." else value
    if names.address_problem(name) is not None:
        raise ValueError(
            f"{value!r} is not an IP address or host name (RFC 1123: letters, digits and '-'"
            " in dot-separated labels)"
        )
    return value


def check_remote_path(value: str) -> str:
    """Accept an absolute, normalized path made only of URL- and shell-safe characters."""
    if not posixpath.isabs(value):
        raise ValueError(f"must be an absolute path, got {value!r}")
    if not _REMOTE_PATH.fullmatch(value):
        raise ValueError(
            f"{value!r} has a character that is not allowed (it goes into ReaR's OUTPUT_URL):"
            " use letters, digits and . _ - + @ , = /"
        )
    parts = value.split("/")
    if (
        ".." in parts
        or "." in parts
        or posixpath.normpath(value) != value.rstrip("/")
        or any(part.startswith("-") for part in parts)
    ):
        raise ValueError(
            f"must be a normalized path (no '.', '..', '//' or components starting with '-'),"
            f" got {value!r}"
        )
    return value


def check_local_text(value: object) -> object:
    """Refuse NUL, newline and other control characters in a path before it becomes a Path."""
    return Path(check_no_control(value)) if isinstance(value, str) else value


def check_absolute(value: Path) -> Path:
    """Accept an absolute local path."""
    if not value.is_absolute():
        raise ValueError(f"must be an absolute path, got {str(value)!r}")
    return value


def check_name(value: str) -> str:
    """Accept an inventory stack or group name."""
    rule = "is not a valid name: letters, digits, '_', '.', '-', not starting with '-' or '.'"
    return _check_pattern(value, _NAME, rule)


def _list_to_tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


User = Annotated[str, AfterValidator(check_user)]
Host = Annotated[str, AfterValidator(check_host)]
RemotePath = Annotated[str, AfterValidator(check_remote_path)]
LocalPath = Annotated[Path, BeforeValidator(check_local_text), AfterValidator(check_absolute)]
AnyLocalPath = Annotated[Path, BeforeValidator(check_local_text)]
Name = Annotated[str, AfterValidator(check_name)]
Names = Annotated[tuple[Name, ...], BeforeValidator(_list_to_tuple)]
Groups = Annotated[tuple[Name, ...], BeforeValidator(_list_to_tuple), Field(min_length=1)]

# Ranges of every duration (docs/design.md "Policy file"): large enough for any real cloud, small
# enough that no timer, sleep or datetime overflows (jitter_seconds: 1e20 crashed the daemon).
ConnectTimeout = Annotated[int, Field(ge=1, le=5 * MINUTE)]
CommandSeconds = Annotated[int, Field(ge=1, le=DAY)]
LongStepSeconds = Annotated[int, Field(ge=1, le=7 * DAY)]
RejoinSeconds = Annotated[int, Field(ge=1, le=DAY)]
RunSeconds = Annotated[int, Field(ge=1, le=30 * DAY)]
IntervalSeconds = Annotated[int, Field(ge=1, le=366 * DAY)]
JitterSeconds = Annotated[int, Field(ge=0, le=DAY)]
MisfireGraceSeconds = Annotated[int, Field(ge=1, le=7 * DAY)]
CatchUpWindowSeconds = Annotated[int, Field(ge=0, le=7 * DAY)]
# Days, not seconds: 100 years is far beyond any history worth keeping, and keeps the cutoff
# (now - keep_days) a valid datetime.
HistoryKeepDays = Annotated[int, Field(ge=0, le=36500)]
