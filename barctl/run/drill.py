"""The restore drill (`barctl run drill`, the daemon's `drill` job): prove the newest verified run
of every node restorable, on the backup target, changing nothing on any node.

The imperative shell around `drill_checks`. It takes the same `backup.Request` and returns the
same `backup.Result` as a backup run, and records itself like one (a `runs` row of plan `drill`
and one row per node), so history, exit codes (0, 1, 4) and the metrics read it as they read a
backup. Only read-only commands run, all on the target node: the listing and manifests
(`target_listing`, as `barctl backups`), `sha256sum`, `tar -t` and the ISO's configuration.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime

import structlog

from barctl.config.inventory import Inventory
from barctl.config.policy import DRILL_PLAN, Policy
from barctl.errors import BarctlError
from barctl.history.records import Artifact, new_run_id
from barctl.history.store import Store, open_history
from barctl.model import Node
from barctl.observe import logs
from barctl.outcome import NodeOutcome, RunOutcome
from barctl.run import (
    backup,
    commands_target,
    drill_checks,
    drill_iso,
    locks,
    preflight,
    rear_config,
    remote,
    target_listing,
)
from barctl.run.manifest import Manifest
from barctl.run.plan import BackupTarget
from barctl.run.resolution import check_credentials, resolve
from barctl.run.retention import RunState
from barctl.run.runner import Runner

log = structlog.get_logger("barctl.drill")


@dataclass(frozen=True)
class NodeVerdict:
    """One node's drill: the run drilled (if any), its files, and why it failed."""

    node: str
    run_id: str
    artifacts: tuple[Artifact, ...]
    reason: str
    passed: bool


@dataclass(frozen=True)
class Scope:
    """The nodes a drill covers, the target they were written to, and its limits."""

    nodes: tuple[Node, ...]
    target: BackupTarget
    command_seconds: int
    check_seconds: int


def scope(policy: Policy, inventory: Inventory) -> Scope:
    """Every node of the backup plans the drill covers (present in the policy), once each."""
    covers = policy.plans.drill.covers
    found: dict[str, Node] = {}
    target = None
    for name, _ in policy.plans.items():
        if name not in covers:
            continue
        resolved = resolve(policy, inventory, name)
        target = resolved.target
        found.update((node.name, node) for node in resolved.nodes)
    if target is None:
        raise backup.ResolveError(f"the drill covers {', '.join(covers)}: none is in the policy")
    limits = policy.plans.drill.timeouts
    return Scope(tuple(found.values()), target, limits.command_seconds, limits.check_seconds)


def check_run(runner: Runner, drill: Scope, found: Manifest) -> tuple[drill_checks.Problem, ...]:
    """The three proofs on the target for one verified run; the problems found."""
    target = drill.target
    directory = f"{target.directory.rstrip('/')}/{found.node}/{found.run_id}"
    paths = tuple(f"{directory}/{item.path}" for item in found.files)
    answer = runner.run(target.node, commands_target.checksums(paths, drill.check_seconds))
    problems = list(drill_checks.checksum_problems(found, directory, answer.stdout))
    archives = found.files_of("archive")
    archive = f"{directory}/{archives[0].path}" if archives else None
    if archive is not None:
        problems += _nfs_listing(runner, drill, archive, archives[0].path)
    isos = found.files_of("iso")
    if isos:
        iso = f"{directory}/{isos[0].path}"
        if archive is None:
            problems += _iso_listing(runner, drill, found, iso)
        problems += _resolution(runner, drill, found, iso, archive)
    return tuple(problems)


def _nfs_listing(
    runner: Runner, drill: Scope, archive: str, name: str
) -> list[drill_checks.Problem]:
    """The archive lists fully on the target (only its member count comes back)."""
    listing = commands_target.archive_listing(
        archive, rear_config.compression_of(name), drill.check_seconds
    )
    result = runner.run(drill.target.node, listing)
    problem = drill_checks.listing_problem(name, result.exit_code, result.stdout, result.stderr)
    return [problem] if problem is not None else []


def _iso_listing(
    runner: Runner, drill: Scope, found: Manifest, iso: str
) -> list[drill_checks.Problem]:
    """SFTP: the archive inside the ISO (`BACKUP_URL=iso:///backup`) lists fully."""
    settings = drill.target.settings_for(found.node)
    inside = ("backup", settings.archive_name, settings.compress)
    timeout = drill.check_seconds
    problem = drill_iso.archive_listing(runner, drill.target.node, iso, inside, timeout)
    name = found.files_of("iso")[0].path
    return [drill_checks.Problem(name, problem)] if problem else []


def _resolution(
    runner: Runner, drill: Scope, found: Manifest, iso: str, archive: str | None
) -> tuple[drill_checks.Problem, ...]:
    """Whether the ISO's own configuration makes `rear recover` open this run's archive."""
    target = drill.target
    read = drill_iso.rescue_configuration(runner, target.node, iso, drill.check_seconds)
    name = found.files_of("iso")[0].path
    if isinstance(read, str):
        return (drill_checks.Problem(name, f"configuration unreadable: {read}"),)
    return drill_checks.resolution_problems(found, target.rear, archive, *read)


def drill_node(
    runner: Runner, drill: Scope, listing: target_listing.Listing, node: str
) -> NodeVerdict:
    """The drill of one node's newest verified run."""
    runs = [run for run in listing.runs if run.directory.node == node]
    verified = [run for run in runs if run.state is RunState.VERIFIED and run.manifest is not None]
    if not verified or verified[0].manifest is None:
        return NodeVerdict(node, "", (), "no verified run on the target", False)
    found = verified[0].manifest
    directory = f"{drill.target.directory.rstrip('/')}/{node}/{found.run_id}"
    artifacts = tuple(Artifact(f"{directory}/{item.path}", item.size_bytes) for item in found.files)
    problems = check_run(runner, drill, found)
    if problems:
        reason = f"run {found.run_id}: " + "; ".join(map(str, problems))
        return NodeVerdict(node, found.run_id, artifacts, reason, False)
    return NodeVerdict(node, found.run_id, artifacts, f"run {found.run_id} restorable", True)


def drill_all(runner: Runner, drill: Scope) -> tuple[NodeVerdict, ...]:
    """Every node's verdict; a target that cannot be listed fails every node with the cause."""
    names = tuple(node.name for node in drill.nodes)
    try:
        listing = target_listing.read_target(
            runner, drill.target.node, drill.target.directory, names, drill.command_seconds
        )
    except target_listing.TargetUnreadable as error:
        return tuple(NodeVerdict(name, "", (), str(error), False) for name in names)
    return tuple(drill_node(runner, drill, listing, name) for name in names)


def record(
    store: Store, run_id: str, verdicts: tuple[NodeVerdict, ...], now: datetime
) -> tuple[RunOutcome, str]:
    """Each node's row and the run's outcome and summary, as a backup run records them."""
    for verdict in verdicts:
        outcome = NodeOutcome.SUCCESS if verdict.passed else NodeOutcome.FAILED
        store.record_node(run_id, verdict.node, outcome, verdict.artifacts, verdict.reason, now=now)
        level = logging.INFO if verdict.passed else logging.ERROR
        log.log(level, "Node drilled", node=verdict.node, drilled_run_id=verdict.run_id,
                passed=verdict.passed, reason=verdict.reason)  # fmt: skip
    failed = [verdict for verdict in verdicts if not verdict.passed]
    summary = "; ".join(f"{each.node}: {each.reason}" for each in failed)
    if not failed:
        return RunOutcome.SUCCESS, f"{len(verdicts)} nodes restorable"
    return RunOutcome.FAILED, summary


def run_plan(request: backup.Request) -> backup.Result:
    """Run `request.plan`: the drill, or a backup plan (`backup.perform`)."""
    return perform(request) if request.plan == DRILL_PLAN else backup.perform(request)


def perform(request: backup.Request) -> backup.Result:
    """One drill, recorded as a run of plan `drill`; LockBusyError when one is already going.
    A drill that cannot start is recorded `failed` with the reason, as a backup run is."""
    if request.dry_run:
        raise BarctlError("a drill changes nothing on any node: run it without --dry-run")
    try:
        return _perform(request)
    except locks.LockBusyError:
        raise
    except Exception as error:
        return backup.record_unstarted(request, error)


def _perform(request: backup.Request) -> backup.Result:
    site = backup.site_of(request)
    drill = scope(request.policy, request.inventory)
    check_credentials(site)
    settings = preflight.ssh_settings(request.policy, site)
    site.state_directory.mkdir(parents=True, exist_ok=True)
    with locks.run_locks(site.runtime_directory, DRILL_PLAN, ()), open_history(site) as store:
        run_id = new_run_id(DRILL_PLAN, request.clock(), secrets.token_hex(2))
        store.start_run(run_id, DRILL_PLAN, request.trigger, request.clock(), os.getpid())
        with logs.bind_run(run_id, DRILL_PLAN):
            with remote.SessionPool(remote.session_opener(settings)) as runner:
                verdicts = drill_all(runner, drill)
            outcome, summary = record(store, run_id, verdicts, request.clock())
            store.finish_run(run_id, outcome, request.clock(), summary)
    return backup.Result(run_id, outcome, summary)
