"""`barctl setup PLAN [--check] [--no-packages]`: the command's wiring and its text.

Exit 0: nothing differs (`--check`), or every difference was applied; 1: `--check` found drift,
or a node could not be probed or repaired (each named with the reason).
"""

from __future__ import annotations

from collections.abc import Sequence

from barctl.errors import BarctlError
from barctl.run import preflight, remote
from barctl.run import setup as setting_up
from barctl.run.resolution import Resolved, check_credentials, resolve
from barctl.service.loading import Loaded

EXIT_CLEAN = 0
EXIT_DRIFT = 1


def every_address(loaded: Loaded) -> tuple[str, ...]:
    """Addresses of every node of every plan: the one export file serves them all, so setting
    up one plan never drops another plan's nodes from the export."""
    addresses: list[str] = []
    for name, _ in loaded.policy.plans.items():
        addresses += [node.address for node in resolve(loaded.policy, loaded.inventory, name).nodes]
    return tuple(dict.fromkeys(addresses))


def request(
    loaded: Loaded, resolved: Resolved, *, check: bool, packages: bool
) -> setting_up.Request:
    """What to set up; SFTP needs the server's key in barctl's own known_hosts, which is what
    root's known_hosts on each node is given (vendor BZ 1955495)."""
    target = resolved.target.rear
    keys: tuple[setting_up.KnownHost, ...] = ()
    if target.scheme == "sftp":
        site = loaded.site
        files = [
            site.known_hosts,
            *([site.accept_new_hosts_file] if site.accept_new_hosts_file else []),
        ]
        keys = setting_up.sftp_host_keys(files, target.host)
        if not keys:
            raise BarctlError(
                f"{site.known_hosts} has no host key for the SFTP server {target.host}: add it"
                " (ssh-keyscan, then check the fingerprint) so that root on each node can trust it"
            )
    return setting_up.Request(resolved, every_address(loaded), keys, packages, apply=not check)


def report_text(reports: Sequence[setting_up.NodeReport], *, check: bool) -> str:
    """One line per difference (`DRIFT` or `FIXED`), per failed node (`FAILED`), then a total."""
    lines: list[str] = []
    for item in reports:
        label = "FIXED " if item.applied else "DRIFT "
        lines += [f"{label} {difference.describe()}" for difference in item.differences]
        if item.problem:
            lines.append(f"FAILED {item.node}: {item.problem}")
    count = sum(len(item.differences) for item in reports)
    failed = [item.node for item in reports if item.problem]
    if failed:
        lines.append(f"setup failed on {', '.join(failed)}")
    elif count == 0:
        lines.append(f"no drift on {len(reports)} nodes")
    elif check:
        lines.append(f"{count} differences: run `barctl setup` to apply them")
    else:
        lines.append(f"{count} differences applied")
    return "\n".join(lines)


def run(loaded: Loaded, resolved: Resolved, *, check: bool, packages: bool) -> tuple[str, int]:
    """Probe (and unless checking, repair) every node over SSH: the report and the exit code."""
    wanted = request(loaded, resolved, check=check, packages=packages)
    check_credentials(loaded.site)
    # accept-new records new host keys there, as a run does (backup.perform).
    loaded.site.state_directory.mkdir(parents=True, exist_ok=True)
    settings = preflight.ssh_settings(loaded.policy, loaded.site)
    max_parallel = loaded.policy.ssh.max_parallel
    # The plan's locks: a run between its gate and ReaR never sees local.conf change.
    with (
        preflight.run_locks(loaded.site.runtime_directory, resolved),
        remote.SessionPool(remote.session_opener(settings)) as runner,
    ):
        reports = setting_up.set_up(wanted, runner, max_parallel)
    drift = any(item.differences for item in reports) and check
    failed = any(item.problem for item in reports)
    return report_text(reports, check=check), EXIT_DRIFT if drift or failed else EXIT_CLEAN
