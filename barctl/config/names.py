"""What a host name, a group name, an SSH address, a login name and a port can legally be.

Each check returns None for a legal value, else the reason, written for a located problem line.
These values end up in lock file names, ReaR config lines and SSH arguments, so the rules are
the narrow standard ones, not whatever a shell or a file system would happen to accept (issue 8:
a host name carrying `$(...)` ran code as root on a node; one carrying `../` overwrote a file).

* Host names: RFC 1123 (section 2.1, on RFC 952): dot-separated labels of letters, digits and
  `-`, 1..63 characters each, neither starting nor ending with `-`, at most 253 characters.
  Underscores are refused: they are not legal in a host name, and TripleO never writes them.
* Group names: letters, digits, `_` and `-` (TripleO's ceph alias `grafana-server`), not
  starting with `-`, at most 255 characters. Ansible itself warns about `-` but accepts it.
* Addresses: an IPv4 or IPv6 literal without a zone index (`fe80::1%eth0` is refused: the zone
  is free text), or a host name as above.
* Login names: POSIX portable user names as shadow-utils' default NAME_REGEX takes them,
  `[a-z_][a-z0-9_.-]{0,31}`: lower case only (useradd refuses upper case by default, and IdM
  lower-cases), `.` allowed inside (first.last accounts), no trailing `$` (Samba machine accounts
  are not SSH users), never a leading `-` (it would read as an ssh option).
* Ports: an integer 1..65535, or a string of digits (Ansible converts `ansible_port: "22"`).
"""

from __future__ import annotations

import ipaddress
import re

HOST_NAME_MAXIMUM = 253
LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
GROUP_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,254}")
LOGIN_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
PORT_DIGITS = re.compile(r"[0-9]{1,5}")


def host_name_problem(name: str) -> str | None:
    """Why `name` is not an RFC 1123 host name, or None."""
    if not name:
        return "a host name cannot be empty"
    if len(name) > HOST_NAME_MAXIMUM:
        return f"a host name has at most {HOST_NAME_MAXIMUM} characters, found {len(name)}"
    for label in name.split("."):
        if not LABEL.fullmatch(label):
            return (
                f"not an RFC 1123 host name: label {_shown(label)} must be 1 to 63 letters,"
                " digits or '-', not starting or ending with '-'"
            )
    if name.rsplit(".", maxsplit=1)[-1].isdigit():
        # RFC 1123 §2.1: a top-level label is never all digits, so `1.2.3` is no host name.
        return f"the last label of {_shown(name)} is all digits: it is no host name"
    return None


def group_name_problem(name: str) -> str | None:
    """Why `name` is not a usable group name, or None."""
    if GROUP_NAME.fullmatch(name):
        return None
    return (
        f"group name {_shown(name)} must be 1 to 255 letters, digits, '_' or '-',"
        " not starting with '-'"
    )


def address_problem(value: str) -> str | None:
    """Why `value` is neither an IP literal nor an RFC 1123 host name, or None."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        problem = host_name_problem(value)
        if problem is None:
            return None
        return f"{_shown(value)} is neither an IP address nor a host name ({problem})"
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        return f"{_shown(value)}: an IPv6 zone index is not supported"
    return None


def login_name_problem(value: str) -> str | None:
    """Why `value` is not a POSIX login name, or None."""
    if LOGIN_NAME.fullmatch(value):
        return None
    return (
        f"{_shown(value)} is not a login name: 1 to 32 of a-z, 0-9, '_', '.', '-',"
        " starting with a letter or '_'"
    )


def port_problem(value: object) -> str | None:
    """Why `value` is not a TCP port, or None."""
    number = _port_number(value)
    if number is None or not 1 <= number <= 65535:
        return f"must be a port number 1..65535, found {_shown(value)}"
    return None


def port_number(value: object) -> int | None:
    """The port `value` names (after port_problem said it is legal), else None."""
    return _port_number(value)


def is_loopback(value: str) -> bool:
    """True for `localhost`, `localhost.localdomain` and every loopback IP literal."""
    if value.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(value).is_loopback
    except ValueError:
        return False


def _port_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and PORT_DIGITS.fullmatch(value):
        return int(value)
    return None


def _shown(value: object) -> str:
    """A value quoted for a problem line; control characters escaped, long values cut."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
