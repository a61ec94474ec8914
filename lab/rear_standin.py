"""The lab's `rear` command: `rear -V` and `rear [-c DIR] [-C NAMES] mkbackup` (stdlib only).

It reads the configuration as ReaR does (lab/rear_shell.py), then writes what ReaR writes, where
ReaR writes it (each step names the ReaR script it copies):

- the archive `$BACKUP_PROG_ARCHIVE$BACKUP_PROG_SUFFIX$BACKUP_PROG_COMPRESS_SUFFIX` and its tar
  log `$BACKUP_PROG_ARCHIVE.log` in `<BACKUP_URL path>/$NETFS_PREFIX/`, made with `mkdir -p`
  (prep/NETFS/default/070_set_backup_archive.sh, backup/NETFS/default/200_make_prefix_dir.sh,
  500_make_backup.sh); with `BACKUP_URL=iso:///PATH` inside the image instead;
- the image `$ISO_DIR/$ISO_PREFIX.iso` on the node (output/ISO/Linux-i386/820_create_iso_image.sh)
  and, for an `nfs://` OUTPUT_URL, a copy with VERSION, README and the log in
  `<OUTPUT_URL path>/$OUTPUT_PREFIX/` (output/default/200_make_prefix_dir.sh,
  950_copy_result_files.sh, `output_path`); OUTPUT_URL defaults to BACKUP_URL
  (prep/default/020_translate_url.sh);
- for `sftp://`, lftp uploads the same files into the URL's path itself, no `$OUTPUT_PREFIX`
  (950_copy_result_files.sh): see `upload`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lab import rear_iso, rear_shell, rear_tar
from lab.rear_iso import LabTarget, RearError


class Output(Protocol):
    """Where the stand-in prints (standin.Ctx)."""

    host: str

    def out(self, text: str) -> None: ...
    def err(self, text: str) -> None: ...


@dataclass(frozen=True)
class SftpServer:
    """The backup node as an SFTP server: who may log in, and whether ssh checks its key."""

    accounts: dict[str, dict[str, object]] | None  # None: any password or any key logs in
    check_host_key: bool


@dataclass(frozen=True)
class RearHost:
    """One node's ReaR as the lab configures it."""

    version: str
    archive_size: int | None  # simulated archive size (ISO_FILE_SIZE_LIMIT); None: real size
    target: LabTarget
    sftp: SftpServer
    home: Path  # root's home on the node (~/.netrc, ~/.ssh)
    var_lib_rear: Path  # /var/lib/rear on the node
    # A broken result (lab.set_rear(corrupt=...)): one of ARCHIVE_FAULTS or rear_iso's faults.
    fault: str = ""


# What a lab fault does to the archive ReaR writes: cut the file, spoil gzip's CRC-32 trailer
# (RFC 1952 2.3.1: `gzip -t` reports "crc error"), or compress a tar cut in half (gzip is
# intact, `tar -t` reports "Unexpected EOF in archive").
TRUNCATED_ARCHIVE = "truncated_archive"
CORRUPT_GZIP = "corrupt_gzip"
TRUNCATED_TAR = "truncated_tar"
ARCHIVE_FAULTS = (TRUNCATED_ARCHIVE, CORRUPT_GZIP, TRUNCATED_TAR)
FAULTS = (*ARCHIVE_FAULTS, rear_iso.NO_BOOT_RECORD, rear_iso.NO_ARCHIVE_IN_ISO)


def version_line(version: str) -> str:
    """What `rear -V` prints (usr/sbin/rear: "$PRODUCT $VERSION / $RELEASE_DATE")."""
    return f"Relax-and-Recover {version} / {rear_shell.RELEASE_DATES.get(version, 'Git')}"


def payload(seed: str, size: int) -> bytes:
    """Deterministic bytes: the same run gives the same archive."""
    block = hashlib.sha256(seed.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def _add_member(tar: tarfile.TarFile, name: str, data: bytes | None, mode: int) -> None:
    """One member with a fixed time; None: a directory."""
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = mode, 1700000000
    if data is None:
        info.type = tarfile.DIRTYPE
    else:
        info.size = len(data)
    tar.addfile(info, None if data is None else io.BytesIO(data))


def archive_bytes(
    host: str,
    seed: str,
    fault: str = "",
    node_members: tuple[tuple[str, bytes | None], ...] = (),
) -> bytes:
    """A small real `tar --gzip` archive of the node (500_make_backup.sh), deterministic: the
    same run gives the same bytes (tar and gzip times fixed), spoiled as `fault` says.
    `node_members` are the node's own files tar took (rear_tar: /var/lib/barctl minus the
    excludes); None marks a directory."""
    buffer = io.BytesIO()
    fixed = (("etc/hostname", f"{host}\n".encode()), ("var/lib/lab/payload", payload(seed, 4096)))
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in fixed:
            _add_member(tar, name, data, 0o644)
        for name, node_data in node_members:
            _add_member(tar, name, node_data, 0o700 if node_data is None else 0o600)
    content = buffer.getvalue()
    if fault == TRUNCATED_TAR:
        content = content[: len(content) // 2]
    compressed = gzip.compress(content, mtime=0)
    if fault == TRUNCATED_ARCHIVE:
        return compressed[: len(compressed) // 2]
    if fault == CORRUPT_GZIP:
        crc = bytes(byte ^ 0xFF for byte in compressed[-8:-4])
        return compressed[:-8] + crc + compressed[-4:]
    return compressed


def _options(args: list[str]) -> tuple[str, str, list[str]]:
    """(-c DIR, -C NAMES, words) as usr/sbin/rear's getopt loop (a later -C replaces one before)."""
    config_dir, append, words = "/etc/rear", "", []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("-c", "-C", "--config") and index + 1 < len(args):
            if arg == "-c":
                config_dir = args[index + 1]
            else:
                append = args[index + 1]
            index += 2
            continue
        if not arg.startswith("-"):
            words.append(arg)
        index += 1
    return config_dir, append, words


def main(ctx: Output, args: list[str], host: RearHost) -> int:
    """`rear ARGS` on one lab node."""
    if "-V" in args or "--version" in args:
        ctx.out(version_line(host.version))
        return 0
    config_dir, append, words = _options(args)
    if words[:1] not in (["mkbackup"], ["mkrescue"]):
        ctx.err(f"ERROR: lab rear does not simulate: rear {' '.join(args)}")
        return 1
    workflow = words[0]
    config = rear_shell.read_config(
        host=ctx.host,
        version=host.version,
        workflow=workflow,
        config_dir=Path(config_dir),
        append=append,
    )
    if config.messages:
        ctx.err(config.messages.rstrip("\n"))
    ctx.out(version_line(host.version))
    ctx.out(f"Running rear {workflow} (PID {os.getpid()})")
    ctx.out(f"Using log file: {config.get('LOGFILE')}")
    try:
        if config.error:
            raise RearError(config.error)
        _mkbackup(ctx, config, Path(config_dir), host, workflow)
    except RearError as error:
        ctx.err(f"ERROR: {error}")
        ctx.err(f"Aborting due to an error, check {config.get('LOGFILE')} for details")
        return 1
    ctx.out(f"Exiting rear {workflow} (PID {os.getpid()})")
    return 0


def _mkbackup(
    ctx: Output, config: rear_shell.RearConfig, config_dir: Path, host: RearHost, workflow: str
) -> None:
    backup, output = config.get("BACKUP"), config.get("OUTPUT")
    if output != "ISO":
        raise RearError(f"lab rear simulates OUTPUT=ISO only, not OUTPUT={output}")
    backup_url = config.get("BACKUP_URL")
    output_url = config.get("OUTPUT_URL") or backup_url  # prep/default/020_translate_url.sh
    name = rear_iso.archive_name(config)
    seed = f"{ctx.host}:{config.get('NETFS_PREFIX')}:{name}"
    excludes = config.arrays.get("BACKUP_PROG_EXCLUDE", [])
    data = archive_bytes(ctx.host, seed, host.fault, tuple(rear_tar.node_members(excludes)))
    in_iso: tuple[str, bytes] | None = None
    if backup == "NETFS" and workflow == "mkbackup":
        in_iso = _write_archive(ctx, config, host, name, data)
    elif backup != "NETFS":
        ctx.out(f"Using backup method {backup}: no archive is made")
    iso_name = f"{config.get('ISO_PREFIX')}.iso"
    iso_dir = Path(config.get("ISO_DIR"))
    if not iso_dir.is_relative_to("/var/lib/rear"):
        raise RearError(f"lab rear writes ISO_DIR under /var/lib/rear only, not {iso_dir}")
    iso = host.var_lib_rear / iso_dir.relative_to("/var/lib/rear") / iso_name
    rear_iso.build_iso(
        iso,
        host=ctx.host,
        version=host.version,
        config=config,
        config_dir=config_dir,
        archive=in_iso,
        fault=host.fault,
    )
    ctx.out(f"Making ISO image\nWrote ISO image: {config.get('ISO_DIR')}/{iso_name}")
    _copy_results(ctx, config, host, output_url, iso)


def _write_archive(
    ctx: Output, config: rear_shell.RearConfig, host: RearHost, name: str, data: bytes
) -> tuple[str, bytes] | None:
    """Write the archive where 070_set_backup_archive.sh puts it; iso:// returns it for the ISO."""
    url = config.get("BACKUP_URL")
    scheme, _authority, path = rear_iso.split_url(url)
    if scheme == "iso":
        _check_iso_file_size(config, host, name, len(data))
        ctx.out(f"Creating tar archive '{rear_iso.BUILD_DIR}/tmp/isofs{path}/{name}'")
        return (f"{path.strip('/')}/{name}", data)
    if not url:  # prep/NETFS/default/050_check_NETFS_requirements.sh
        raise RearError(
            "You must specify either BACKUP_URL or BACKUP_MOUNTCMD and BACKUP_UMOUNTCMD !"
        )
    if scheme != "nfs":
        # verify/NETFS/default/050_check_NETFS_requirements.sh (lab: nfs and iso only)
        raise RearError(
            f"Invalid scheme '{scheme}' in BACKUP_URL '{url}' valid schemes: "
            "nfs cifs usb tape file iso sshfs ftpfs"
        )
    prefix = config.get("NETFS_PREFIX")
    directory = rear_iso.nfs_directory(url, host.target) / prefix
    directory.mkdir(mode=0o750, parents=True, exist_ok=True)  # 200_make_prefix_dir.sh: mkdir -p
    ctx.out(f"Creating tar archive '{rear_iso.BUILD_DIR}/outputfs/{prefix}/{name}'")
    (directory / name).write_bytes(data)
    log = f"{config.get('BACKUP_PROG_ARCHIVE')}.log"
    (directory / log).write_text(f"lab tar log for {ctx.host}\n")  # 500_make_backup.sh
    return None


def _check_iso_file_size(
    config: rear_shell.RearConfig, host: RearHost, name: str, size: int
) -> None:
    # 2.7+: assert_ISO_FILE_SIZE_LIMIT (lib/output-functions.sh), called by
    # output/ISO/Linux-i386/820_create_iso_image.sh for every file of the ISO; 0 or unset: off.
    limit = config.get("ISO_FILE_SIZE_LIMIT")
    if not rear_shell.version_at_least(host.version, "2.7") or not limit.isdigit():
        return
    size = host.archive_size if host.archive_size is not None else size
    if int(limit) > 0 and size >= int(limit):
        raise RearError(
            f"File for ISO {name} size {size} greater or equal ISO_FILE_SIZE_LIMIT={limit}"
        )


def _result_files(config: rear_shell.RearConfig, iso: Path) -> list[tuple[str, bytes]]:
    """RESULT_FILES of 950_copy_result_files.sh: the ISO, VERSION, README, the log."""
    log = Path(config.get("LOGFILE")).name
    return [
        (iso.name, iso.read_bytes()),
        ("VERSION", b"Relax-and-Recover (lab)\n"),
        ("README", b"This is a Relax-and-Recover rescue image (lab).\n"),
        (log, b"lab rear log\n"),
    ]


def _copy_results(
    ctx: Output, config: rear_shell.RearConfig, host: RearHost, url: str, iso: Path
) -> None:
    scheme, _authority, _path = rear_iso.split_url(url)
    if not url or scheme in ("null", "iso"):
        return
    files = _result_files(config, iso)
    if scheme == "nfs":
        prefix = config.get("OUTPUT_PREFIX")
        directory = rear_iso.nfs_directory(url, host.target) / prefix
        directory.mkdir(
            mode=0o750, parents=True, exist_ok=True
        )  # output/default/200_make_prefix_dir.sh
        ctx.out(f"Copying resulting files to nfs location ({prefix})")
        for name, data in files:
            (directory / name).write_bytes(data)
        return
    if scheme == "sftp":
        upload(ctx, config, host, url, files)
        return
    raise RearError(f"Invalid scheme '{scheme}' in '{url}'.")


# --------------------------------------------------------------------------- lftp


@dataclass(frozen=True)
class LftpLogin:
    """Who lftp logs in as, and with what."""

    user: str
    password: str
    key: Path | None
    known_hosts: Path


def _netrc(home: Path, server: str) -> tuple[str, str] | None:
    """lftp reads ~/.netrc for a host's login and password when the URL has none."""
    path = home / ".netrc"
    if not path.is_file():
        return None
    words = path.read_text().split()
    for index, word in enumerate(words):
        if word == "machine" and index + 1 < len(words) and words[index + 1] == server:
            entry = dict(zip(words[index + 2 :: 2], words[index + 3 :: 2]))
            return entry.get("login", ""), entry.get("password", "")
    return None


def _lftp_options(config: rear_shell.RearConfig, version: str) -> str:
    # 2.4 has no OUTPUT_LFTP_OPTIONS; 2.6/2.7 run lftp -c "$OUTPUT_LFTP_OPTIONS; open ..." (the
    # first element of an array); 2.8 feeds every element of the array to lftp, one per line.
    if not rear_shell.version_at_least(version, "2.6"):
        return ""
    if rear_shell.version_at_least(version, "2.8"):
        return "\n".join(
            config.arrays.get("OUTPUT_LFTP_OPTIONS", [config.get("OUTPUT_LFTP_OPTIONS")])
        )
    return config.get("OUTPUT_LFTP_OPTIONS")


def lftp_login(config: rear_shell.RearConfig, host: RearHost, url: str) -> LftpLogin:
    """The login lftp uses for `url` on this ReaR version (950_copy_result_files.sh)."""
    _scheme, authority, _path = rear_iso.split_url(url)
    server = authority.rsplit("@", 1)[-1].split(":")[0]
    credentials = authority.rsplit("@", 1)[0] if "@" in authority else ""
    user, _, password = credentials.partition(":")
    # 2.8+ (commit 498915c9): `lftp -u "$OUTPUT_LFTP_USERNAME,$OUTPUT_LFTP_PASSWORD"` when the
    # user name has a visible character; earlier versions never read these variables.
    if (
        rear_shell.version_at_least(host.version, "2.8")
        and config.get("OUTPUT_LFTP_USERNAME").strip()
    ):
        user, password = config.get("OUTPUT_LFTP_USERNAME"), config.get("OUTPUT_LFTP_PASSWORD")
    netrc = _netrc(host.home, server)
    if not user and netrc:
        user, password = netrc
    elif netrc and netrc[0] == user and not password:
        password = netrc[1]
    options = _lftp_options(config, host.version)
    key_option = re.search(r"-i\s+['\"]?([^\s'\"]+)", options)
    keys = (
        [Path(key_option.group(1))]
        if key_option
        else [
            host.home / ".ssh" / "id_ed25519",
            host.home / ".ssh" / "id_rsa",
            host.home / ".ssh" / "id_ecdsa",
        ]
    )
    key = next((k for k in keys if k.is_file()), None)
    known = re.search(r"UserKnownHostsFile=['\"]?([^\s'\"]+)", options)
    known_hosts = Path(known.group(1)) if known else host.home / ".ssh" / "known_hosts"
    # No user anywhere: ssh logs in as the local user, root.
    return LftpLogin(user or "root", password, key, known_hosts)


def _public_key(key: Path) -> str:
    shown = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True, check=False
    )
    parts = shown.stdout.split()
    return parts[1] if len(parts) > 1 else ""


def _login_problem(login: LftpLogin, server: str, sftp: SftpServer) -> str | None:
    if sftp.check_host_key and not _knows(login.known_hosts, server):
        return "Host key verification failed."  # ssh under lftp cannot ask (vendor BZ 1955495)
    if sftp.accounts is None:
        return None if (login.password or login.key) else "Login failed: no password, no key"
    account = sftp.accounts.get(login.user)
    if account is None:
        return f"Login failed: no account {login.user}"
    if login.password and login.password == account.get("password"):
        return None
    keys = account.get("keys") or []
    if login.key is not None and isinstance(keys, list) and _public_key(login.key) in keys:
        return None
    return f"Login failed: {login.user}: Permission denied"


def _knows(known_hosts: Path, server: str) -> bool:
    if not known_hosts.is_file():
        return False
    for line in known_hosts.read_text().splitlines():
        names = line.split()[0].split(",") if line.split() else []
        if server in names or f"[{server}]:22" in names:
            return True
    return False


def upload(
    ctx: Output,
    config: rear_shell.RearConfig,
    host: RearHost,
    url: str,
    files: list[tuple[str, bytes]],
) -> None:
    """lftp's `open $OUTPUT_URL; [mkdir -fp PATH;] mput FILES` against the lab's backup node."""
    _scheme, authority, path = rear_iso.split_url(url)
    server = authority.rsplit("@", 1)[-1].split(":")[0]
    login = lftp_login(config, host, url)
    names = " ".join(name for name, _ in files)
    if rear_shell.version_at_least(host.version, "2.6"):
        failure = f"lftp failed to transfer '{names}' to '{url}' (lftp exit code: 1)"
    else:
        failure = f"Problem transferring result files to {url}"  # 2.4
    target = host.target
    if server != target.address or target.down:
        raise RearError(f"{failure}\n  lftp: {server}: Connection timed out")
    problem = _login_problem(login, server, host.sftp)
    if problem:
        raise RearError(f"{failure}\n  lftp: {problem}")
    relative = rear_iso.under_export(path, target.export_path)
    if relative is None:
        raise RearError(f"{failure}\n  lftp: mput: Access failed: No such file ({path})")
    directory = target.export_directory / relative
    if rear_shell.version_at_least(host.version, "2.6"):
        directory.mkdir(parents=True, exist_ok=True)  # lftp -c "...; mkdir -fp ${path}"
    else:
        # 2.4 has no mkdir: lftp puts the files into the last directory of the path that exists
        # (the comment above lftp in 2.8's 950_copy_result_files.sh).
        while not directory.is_dir():
            directory = directory.parent
    ctx.out(f"Copying result files '{names}' to sftp location")
    for name, data in files:
        (directory / name).write_bytes(data)
