"""Stand-in journald: bind the native socket, run a command, write every entry it sent as JSON.

Run inside a private mount namespace with a tmpfs on /run/systemd (ecosystem.md §4.3), e.g.

    unshare --mount --propagation private sh -c \\
        'mount -t tmpfs tmpfs /run/systemd && exec python journal_capture.py OUT -- barctl ...'

The command's stderr goes to OUT.stderr and `JOURNAL_STREAM` is set to that file's
"<st_dev>:<st_ino>", exactly as systemd does for a unit whose stderr is the journal. OUT gets
`{"returncode": …, "entries": [{FIELD: value, …}, …], "stderr": …}`.
"""

from __future__ import annotations

import array
import json
import os
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

SOCKET = Path("/run/systemd/journal/socket")
MAX_DATAGRAM = 8 * 1024 * 1024


def decode(data: bytes) -> dict[str, str]:
    """Fields of one native-protocol entry: `NAME=value\\n`, or `NAME\\n` + u64 LE length + bytes.

    A repeated field name keeps its last value (barctl sends each name once).
    """
    fields: dict[str, str] = {}
    position = 0
    while position < len(data):
        end = data.index(b"\n", position)
        line = data[position:end]
        if b"=" in line:
            name, _, value = line.partition(b"=")
            position = end + 1
        else:
            name = line
            (length,) = struct.unpack_from("<Q", data, end + 1)
            start = end + 1 + 8
            value = data[start : start + length]
            if data[start + length : start + length + 1] != b"\n":
                raise ValueError(f"binary field {name!r} not terminated by a newline")
            position = start + length + 1
        fields[name.decode()] = value.decode("utf-8", errors="replace")
    return fields


def _receive(server: socket.socket) -> bytes | None:
    """One datagram; a large entry arrives as a memfd passed with SCM_RIGHTS instead."""
    fds = array.array("i")
    try:
        data, ancillary, _, _ = server.recvmsg(MAX_DATAGRAM, socket.CMSG_SPACE(fds.itemsize))
    except TimeoutError:
        return None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    for fd in fds:
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
    return data


def main(argv: list[str]) -> int:
    """`journal_capture.py OUT -- COMMAND...`: exit with the command's exit code."""
    out = Path(argv[0])
    command = argv[argv.index("--") + 1 :]
    SOCKET.parent.mkdir(parents=True, exist_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    server.bind(str(SOCKET))
    server.settimeout(0.2)
    datagrams: list[bytes] = []
    done = threading.Event()

    def collect() -> None:
        while True:
            data = _receive(server)
            if data is not None:
                datagrams.append(data)
            elif done.is_set():
                return

    collector = threading.Thread(target=collect)
    collector.start()
    stderr_path = out.with_name(out.name + ".stderr")
    with open(stderr_path, "wb") as stderr:
        status = os.fstat(stderr.fileno())
        environ = {**os.environ, "JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}
        result = subprocess.run(command, stderr=stderr, env=environ, check=False)
    done.set()
    collector.join()
    entries = [decode(data) for data in datagrams]
    stderr_text = stderr_path.read_text(encoding="utf-8", errors="replace")
    document = {"returncode": result.returncode, "entries": entries, "stderr": stderr_text}
    out.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
