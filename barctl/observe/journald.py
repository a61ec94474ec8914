"""The journald sink: detection, event dict → native journal fields, and the sending handler.

Field rules from sd_journal_print(3): names are upper case letters, digits and underscores, do not
start with an underscore or a digit, at most 64 characters. journald silently ignores other names,
so they are dropped here instead of being sent (ecosystem.md §4.2).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

SOCKET = Path("/run/systemd/journal/socket")
IDENTIFIER = "barctl"

PRIORITY_BY_LEVEL = {
    "critical": 2,
    "fatal": 2,
    "error": 3,
    "exception": 3,
    "warning": 4,
    "warn": 4,
    "info": 6,
    "debug": 7,
    "notset": 7,
}

_FIELD_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
# Keys of the event dict that become fixed fields (or are part of MESSAGE), never copied as-is.
_CONSUMED = frozenset({"event", "level", "logger", "timestamp", "exception", "stack"})
_FIXED = ("MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "LOGGER")

Sender = Callable[[dict[str, str]], None]


def stderr_is_journal(environ: Mapping[str, str] | None = None, fd: int = 2) -> bool:
    """True when `JOURNAL_STREAM` ("<st_dev>:<st_ino>") names the file open on `fd`.

    systemd sets it for a unit whose stdout/stderr is the journal; a child that inherits the
    variable but has its stderr redirected elsewhere no longer matches (systemd.exec(5)).
    """
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        status = os.fstat(fd)
    except OSError:
        return False
    return (int(device), int(inode)) == (status.st_dev, status.st_ino)


def priority(level: str) -> int:
    """The syslog priority of a structlog/stdlib level name (unknown names count as info)."""
    return PRIORITY_BY_LEVEL.get(level.lower(), 6)


def field_name(key: str) -> str | None:
    """`key` upper-cased when journald accepts it as a field name, else None."""
    name = key.upper()
    return name if _FIELD_NAME.fullmatch(name) else None


def field_value(value: Any) -> str | None:
    """Strings and numbers as text, booleans and other values JSON-encoded, None dropped."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, default=str, sort_keys=True)


def journal_fields(event_dict: Mapping[str, Any]) -> dict[str, str]:
    """Native journal fields of one event: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, LOGGER + keys.

    A rendered traceback (`exception`) or stack (`stack`) is appended to MESSAGE, which then
    travels in the protocol's binary-length form because it spans several lines.
    """
    fields: dict[str, str] = {}
    for key, value in event_dict.items():
        if key in _CONSUMED or key.startswith("_"):
            continue
        name = field_name(key)
        text = field_value(value)
        if name is None or text is None or name in _FIXED:
            continue
        fields[name] = text
    message = str(event_dict.get("event", ""))
    for extra in ("exception", "stack"):
        if event_dict.get(extra):
            message += "\n" + str(event_dict[extra])
    fields["MESSAGE"] = message
    fields["PRIORITY"] = str(priority(str(event_dict.get("level", "info"))))
    fields["SYSLOG_IDENTIFIER"] = IDENTIFIER
    if event_dict.get("logger"):
        fields["LOGGER"] = str(event_dict["logger"])
    return fields


def render_fields(_logger: Any, _method: str, event_dict: Mapping[str, Any]) -> str:
    """Last processor of the journald formatter: the fields as a JSON object.

    `ProcessorFormatter.format()` works on a shallow copy of the record, so attributes set there
    never reach the handler (ecosystem.md §4.1); the rendered string is what comes back.
    """
    return json.dumps(journal_fields(event_dict))


def sendv(fields: Mapping[str, str]) -> None:
    """Send one entry through libsystemd (`sd_journal_sendv`: datagram, memfd when large)."""
    import systemd.journal  # noqa: PLC0415 - C extension, only needed for this sink

    systemd.journal.sendv(*(f"{name}={value}" for name, value in fields.items()))


class JournaldHandler(logging.Handler):
    """Sends each record as a native journal entry; its formatter must end in `render_fields`."""

    def __init__(self, sender: Sender | None = None) -> None:
        super().__init__()
        self.sender: Sender = sender or sendv

    def emit(self, record: logging.LogRecord) -> None:
        """Format to fields, add the caller's CODE_* location, send."""
        try:
            fields = json.loads(self.format(record))
            fields.setdefault("CODE_FILE", record.pathname)
            fields.setdefault("CODE_LINE", str(record.lineno))
            fields.setdefault("CODE_FUNC", record.funcName)
            self.sender(fields)
        except Exception:  # logging must never raise into the caller
            self.handleError(record)
