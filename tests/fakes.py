"""Small fakes of the world for unit tests: a scripted runner that records every call."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Union

from barctl.model import CommandResult, Node
from barctl.reasons import Reason
from barctl.run import probe_script
from barctl.run.commands import RemoteCommand, bounded, render
from barctl.run.commands_services import VIEW_MARKER
from barctl.run.runner import LineCallback

# typing.Union: a module-level alias is evaluated at import, and `|` on types needs 3.10.
Answer = Union[CommandResult, Callable[[Node, RemoteCommand], CommandResult]]


def ok(stdout: str = "") -> CommandResult:
    """A command that exited 0 with `stdout`."""
    return CommandResult(0, stdout, "", 0.01)


def failed(exit_code: int = 1, stderr: str = "failed") -> CommandResult:
    """A command that ran and exited non-zero."""
    return CommandResult(exit_code, "", stderr, 0.01)


def unreachable(reason: Reason = Reason.CONNECT_TIMEOUT) -> CommandResult:
    """No session to the node: what `SessionPool.run` returns for a connect error."""
    return CommandResult(None, "", f"{reason.words}: scripted", 0.01, reason)


def lost(detail: str = "Socket is closed") -> CommandResult:
    """The session died under the command."""
    return CommandResult(None, "", f"connection lost: {detail}", 0.01, Reason.CONNECTION_LOST)


def _base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass(frozen=True)
class Call:
    """One command the code under test ran."""

    node: str
    name: str
    argv: tuple[str, ...]
    stdin: str | None


@dataclass
class FakeRunner:
    """Answers by (node, command name), then by command name, then `default`; records calls.

    An answer may be a callable of (node, command), for answers that change over time.
    """

    script: Mapping[tuple[str, str] | str, Answer] = field(default_factory=dict)
    default: CommandResult = field(default_factory=ok)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(
        self,
        node: Node,
        command: RemoteCommand,
        on_line: LineCallback | None = None,
        abort: threading.Event | None = None,
    ) -> CommandResult:
        """The scripted answer; its stdout lines go to `on_line`."""
        if command.name in (probe_script.PROBE_NAME, probe_script.DATABASE_PROBE_NAME):
            return self._probe_script(node, command)
        with self.lock:
            self.calls.append(Call(node.name, command.name, command.argv, command.stdin))
        answer = self.script.get((node.name, command.name), self.script.get(command.name))
        result = self.default if answer is None else answer
        if callable(result):
            result = result(node, command)
        if on_line is not None:
            for line in result.stdout.splitlines():
                on_line("stdout", line)
        return result

    def pipe(
        self, source: Node, read: RemoteCommand, destination: Node, write: RemoteCommand
    ) -> tuple[CommandResult, CommandResult]:
        """Each side answered as `run` answers it (nothing flows between them)."""
        return self.run(source, read), self.run(destination, write)

    def _probe_script(self, node: Node, command: RemoteCommand) -> CommandResult:
        """What probe_script.PROBE_SCRIPT prints: each probe answered (and recorded) as if run
        alone, `?` probes only after an exit 0; a connection failure ends the whole exec."""
        words = list(command.argv[5:])
        lines: list[str] = []
        last = 0
        bounding = len(bounded((), 0))  # each probe's own argv follows its `timeout` words
        while len(words) >= 2:
            name, count = words[0], int(words[1])
            argv, words = tuple(words[2 + bounding : 2 + count]), words[2 + count :]
            if name.startswith("?") and last != 0:
                lines.append(f"S {name[1:]} skipped")
                continue
            probe = RemoteCommand(name.removeprefix("?"), argv, 5, stdin=command.stdin)
            result = self.run(node, probe)
            if result.reason is not None or result.exit_code is None:
                return result
            last = result.exit_code
            out, err = (_base64(text) for text in (result.stdout, result.stderr))
            lines.append(f"S {probe.name} {out} {last} {err}")
        return ok("".join(f"{line}\n" for line in lines))

    def ran(self, node: str | None = None) -> list[str]:
        """Command names run (on `node`, or anywhere), in order."""
        return [call.name for call in self.calls if node is None or call.node == node]

    def ran_on(self) -> list[tuple[str, str]]:
        """(node, command name) of every call, in order."""
        return [(call.node, call.name) for call in self.calls]


@dataclass
class LocalRunner:
    """Runs each command on this machine as the runner would on a node logged in as root (the
    real find, head, rm, dd; `commands.render`'s timeout wrapper and pipelines, no SSH, no
    sudo), as if every node were this one; records calls like FakeRunner. For pure logic over
    what real tools print, e.g. a target directory under tmp_path."""

    calls: list[Call] = field(default_factory=list)

    def run(
        self,
        node: Node,
        command: RemoteCommand,
        on_line: LineCallback | None = None,
        abort: threading.Event | None = None,
    ) -> CommandResult:
        """The command's real exit code, stdout and stderr."""
        self.calls.append(Call(node.name, command.name, command.argv, command.stdin))
        done = subprocess.run(
            ["sh", "-c", render(command, "root")],
            input=command.stdin,
            capture_output=True,
            text=True,
            timeout=command.timeout_seconds,
            check=False,
        )
        return CommandResult(done.returncode, done.stdout, done.stderr, 0.01)

    def pipe(
        self, source: Node, read: RemoteCommand, destination: Node, write: RemoteCommand
    ) -> tuple[CommandResult, CommandResult]:
        """`read`'s stdout handed to `write` as its stdin, both run here."""
        first = self.run(source, read)
        return first, self.run(destination, replace(write, stdin=first.stdout))


def cluster_view(crm_mon_xml: str, galera: str | None = None, crm_mon_exit: int = 0) -> str:
    """What `commands_services.cluster_view` prints: crm_mon's XML and its exit marker, then
    (when the node runs galera) mysql's status lines and theirs; `galera` None: mysql was not
    asked."""
    marker = VIEW_MARKER
    text = f"{crm_mon_xml.rstrip()}\n{marker} crm_mon {crm_mon_exit}\n"
    if galera is not None:
        text += f"{galera.rstrip()}\n{marker} mysql 0\n"
    return text


def galera_lines(state: str, size: int, addresses: list[str]) -> str:
    """mysql -N -B's answer to `commands_services.GALERA_STATUS_QUERY`."""
    return (
        f"wsrep_local_state_comment\t{state}\nwsrep_cluster_size\t{size}\n"
        f"wsrep_incoming_addresses\t{','.join(addresses)}\n"
    )


# ---- a healthy backup target, as the verifier's commands answer on it ---------------------------

ISO_DATA = Path(__file__).resolve().parent / "data" / "iso"
# `dd skip=N | od` on a ReaR-like ISO made by xorriso (tests/data/iso/README.md), by sector.
ISO_SECTORS = {16: "descriptors.od", 20: "root-directory.od", 22: "backup-directory.od"}


def _paths(command: RemoteCommand) -> list[str]:
    return [word for word in command.argv if word.startswith("/")]


def target_sizes(node: Node, command: RemoteCommand) -> CommandResult:
    """`stat -c '%s %n' PATHS`: every file is there, 100 bytes."""
    return ok("\n".join(f"100 {path}" for path in _paths(command)))


def target_checksums(node: Node, command: RemoteCommand) -> CommandResult:
    """`sha256sum PATHS`: coreutils' `<hex>  <path>` lines; the hex is the sha256 of the file's
    name, so a copy and its source (same name, other directory) agree."""
    digests = [(hashlib.sha256(path.rsplit("/", 1)[-1].encode()).hexdigest(), path)
               for path in _paths(command)]  # fmt: skip
    lines = [f"{digest}  {path}" for digest, path in digests]
    return ok("\n".join(lines))


def iso_sectors(
    node: Node, command: RemoteCommand, descriptors: str = "descriptors.od"
) -> CommandResult:
    """`dd if=ISO bs=2048 skip=N count=C | od -A n -v -t x1`: real sectors of a real ISO."""
    skip = int(next(word for word in command.argv if word.startswith("skip="))[5:])
    name = descriptors if skip == 16 else ISO_SECTORS[skip]
    return ok((ISO_DATA / name).read_text())


def healthy_target() -> dict[tuple[str, str] | str, Answer]:
    """Answers of a backup target on which every check of `verifier.verify` passes."""
    return {
        "file_sizes": target_sizes,
        "file_checksums": target_checksums,
        "iso_sectors": iso_sectors,
        "file_tail": ok("INSERT INTO `t` VALUES (1);\n-- Dump completed on 2026-11-30  2:31:07\n"),
    }
