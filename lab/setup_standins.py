"""Stand-ins for what `barctl setup` and the gate's reachability probes call (stdlib only).

`rpm -q`, `dnf install`, `exportfs -ra`, `showmount -e`, `findmnt -T` and `ssh` to the backup
node, each answering as the real tool does (the man page or source named at each), from the
lab's shared state (`standin.locked_state`, passed in as `locked`). Installed packages, the
backup node's active export table and each node's /var/lib/ceph mount live in that state.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from lab import rear_standin

State = dict[str, Any]
Locked = Callable[[Path], contextlib.AbstractContextManager[State]]

# Packages the lab's dnf can install (the names `barctl setup` asks for, guide 1.3/2.3).
AVAILABLE_PACKAGES = (
    "rear",
    "syslinux",
    "genisoimage",
    "nfs-utils",
    "lftp",
    "dosfstools",
    "efibootmgr",
)
EXPORTS_DIRECTORY = Path("/etc/exports.d")


class Ctx(Protocol):
    """One invocation (standin.Ctx)."""

    lab_dir: Path
    host: str

    def out(self, text: str) -> None: ...
    def err(self, text: str) -> None: ...


def cmd_rpm(ctx: Ctx, args: list[str], locked: Locked) -> int:
    """`rpm -q [--queryformat FMT] NAME...`: FMT with %{NAME} for an installed package, else
    "package NAME is not installed"; the exit status is the number not installed (rpm(8),
    lib/query.c `rpmcliQuery` counts failures). FMT's `\\n` is rpm's own escape."""
    if not args or args[0] != "-q":
        ctx.err("rpm: lab stand-in knows only -q")
        return 1
    names, form = args[1:], "%{NAME}-lab\n"
    if names[:1] == ["--queryformat"] and len(names) > 1:
        form, names = names[1].replace("\\n", "\n"), names[2:]
    with locked(ctx.lab_dir) as state:
        installed = set(state["packages"].get(ctx.host, []))
    missing = 0
    for name in names:
        if name in installed:
            ctx.out(form.replace("%{NAME}", name).rstrip("\n"))
        else:
            ctx.out(f"package {name} is not installed")
            missing += 1
    return missing


def cmd_dnf(ctx: Ctx, args: list[str], locked: Locked) -> int:
    """`dnf -y install NAME...`: "No match for argument" and exit 1 for an unknown name;
    without -y and without a terminal, dnf answers its prompt "Operation aborted." (dnf(8))."""
    assume_yes = "-y" in args or "--assumeyes" in args
    words = [word for word in args if not word.startswith("-")]
    if words[:1] != ["install"]:
        ctx.err("dnf: lab stand-in knows only install")
        return 1
    names = words[1:]
    unknown = [name for name in names if name not in AVAILABLE_PACKAGES]
    if unknown:
        for name in unknown:
            ctx.out(f"No match for argument: {name}")
        ctx.err(f"Error: Unable to find a match: {' '.join(unknown)}")
        return 1
    with locked(ctx.lab_dir) as state:
        installed = state["packages"].setdefault(ctx.host, [])
        new = [name for name in names if name not in installed]
        for name in names:
            if name not in new:
                ctx.out(f"Package {name}-lab is already installed.")
        if not new:
            ctx.out("Dependencies resolved.\nNothing to do.\nComplete!")
            return 0
        if not assume_yes:
            ctx.out("Is this ok [y/N]: Operation aborted.")
            return 1
        installed += new
    ctx.out("Installed:\n" + "".join(f"  {name}-lab\n" for name in new) + "\nComplete!")
    return 0


def _export_lines(text: str) -> Iterator[tuple[str, list[str]]]:
    """exports(5): `directory client(options) ...`, `#` comments, blank lines ignored."""
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            yield words[0], [re.sub(r"\(.*\)$", "", word) for word in words[1:]]


def cmd_exportfs(ctx: Ctx, args: list[str], locked: Locked) -> int:
    """`exportfs -ra`: the export table becomes what /etc/exports.d/*.exports say (exportfs(8);
    nfs-utils reads that directory's `.exports` files after /etc/exports, which in the lab is
    the machine's own file and is not read)."""
    if sorted("".join(word.lstrip("-") for word in args)) != ["a", "r"]:
        ctx.err("exportfs: lab stand-in knows only -ra")
        return 1
    table: list[list[Any]] = []
    if EXPORTS_DIRECTORY.is_dir():
        for path in sorted(EXPORTS_DIRECTORY.glob("*.exports")):
            table += [
                [directory, clients] for directory, clients in _export_lines(path.read_text())
            ]
    with locked(ctx.lab_dir) as state:
        state["exports"][ctx.host] = table
    return 0


def _host_at(state: State, address: str) -> str | None:
    return next((name for name, at in state["addresses"].items() if at == address), None)


def cmd_showmount(ctx: Ctx, args: list[str], locked: Locked) -> int:
    """`showmount -e SERVER`: "Export list for SERVER:", then each directory padded to the
    longest and its clients comma-separated, "(everyone)" for none (nfs-utils
    utils/showmount/showmount.c); an unreachable server is an RPC error, exit 1."""
    if len(args) != 2 or args[0] != "-e":
        ctx.err("showmount: lab stand-in knows only -e SERVER")
        return 1
    server = args[1]
    with locked(ctx.lab_dir) as state:
        host = _host_at(state, server)
        down = host is None or host in state["down_hosts"]
        table = state["exports"].get(host) if host else None
    if down or table is None:
        ctx.err(f"clnt_create: RPC: Unable to receive; errno = Connection refused ({server})")
        return 1
    ctx.out(f"Export list for {server}:")
    width = max((len(directory) for directory, _ in table), default=0)
    for directory, clients in table:
        ctx.out(f"{directory:<{width}} {','.join(clients) or '(everyone)'}")
    return 0


def cmd_findmnt(ctx: Ctx, args: list[str], locked: Locked) -> int:
    """`findmnt -r -n -o SOURCE,FSTYPE,TARGET -T /var/lib/ceph` answers the node's ceph mount
    (`lab.set_ceph_mount`) as findmnt's raw output does; anything else is the real findmnt."""
    with locked(ctx.lab_dir) as state:
        mount = state["ceph_mounts"].get(ctx.host)
    wanted = ["-r", "-n", "-o", "SOURCE,FSTYPE,TARGET", "-T", "/var/lib/ceph"]
    if mount is None or args != wanted:
        real = next(p for p in ("/usr/bin/findmnt", "/bin/findmnt") if Path(p).exists())
        os.execv(real, [real, *args])  # noqa: S606
    ctx.out(" ".join(mount))
    return 0


def _ssh_words(args: list[str]) -> tuple[dict[str, str], list[str]]:
    """ssh(1)'s options that take a value, and the words after them (host, command)."""
    values: dict[str, str] = {}
    index = 0
    while index < len(args) and args[index].startswith("-"):
        word = args[index]
        if word == "--":
            index += 1
            break
        if word in ("-o", "-l", "-i", "-p", "-F"):
            values[word] = values.get(word, "") + args[index + 1] + "\n"
            index += 2
        else:
            values[word] = ""
            index += 1
    return values, args[index:]


def cmd_ssh(ctx: Ctx, args: list[str], locked: Locked) -> int:
    """ssh to the backup node as lftp's connect program logs in (rear_standin's SFTP server:
    its accounts, root's keys and known_hosts, BZ 1955495); exit 255 on ssh's own failures
    (ssh(1) EXIT STATUS). Any other host is the real ssh."""
    values, rest = _ssh_words(args)
    with locked(ctx.lab_dir) as state:
        backup = state["backup_host"]
        address = state["addresses"].get(backup)
        down = backup in state["down_hosts"]
        sftp = rear_standin.SftpServer(
            state["rear"]["sftp_accounts"], bool(state["rear"]["sftp_check_host_key"])
        )
    server = rest[0].rsplit("@", 1)[-1] if rest else ""
    if server != address:
        os.execv("/usr/bin/ssh", ["/usr/bin/ssh", *args])  # noqa: S606
    user = rest[0].rsplit("@", 1)[0] if "@" in rest[0] else values.get("-l", "root\n").strip()
    if down:
        ctx.err(f"ssh: connect to host {server} port 22: Connection timed out")
        return 255
    home = Path(os.environ.get("HOME") or ctx.lab_dir / "hosts" / ctx.host / "home")
    keys = [home / ".ssh" / name for name in ("id_ed25519", "id_rsa", "id_ecdsa")]
    login = rear_standin.LftpLogin(
        user, "", next((k for k in keys if k.is_file()), None), home / ".ssh" / "known_hosts"
    )
    problem = rear_standin._login_problem(login, server, sftp)
    if problem is None:
        return 0
    if problem.startswith("Host key"):
        ctx.err(problem)
    else:
        ctx.err(f"{user}@{server}: Permission denied (publickey).")
    return 255
