"""Retention's imperative shell: list the target, apply the rule, delete, record, log.

`barctl prune PLAN [--dry-run]` and the daemon (after each run of the plan) call `perform`. The
rule is barctl.run.retention's; what the target holds is read from its manifests
(barctl.run.target_listing). A deletion cannot be undone, so each one is written to the history
as `deleting` before its `rm`, and settled after: a crash in between leaves a row saying so.
A real prune holds the plan's and its nodes' run locks, so it never overlaps a run of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from barctl.config.inventory import Inventory
from barctl.config.policy import Policy
from barctl.config.site import Site
from barctl.errors import BarctlError
from barctl.history.store import Store, open_history
from barctl.observe import logs
from barctl.run import backup, commands_target, preflight, remote
from barctl.run.resolution import Resolved, check_credentials, resolve
from barctl.run.retention import Rules, Verdict, decide, deletions
from barctl.run.runner import Runner
from barctl.run.target_listing import Listing, read_target, run_path

log = structlog.get_logger("barctl.prune")
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class PruneResult:
    """Every verdict of the plan's runs, and the deletions that failed (verdict, detail)."""

    plan: str
    directory: str
    verdicts: tuple[Verdict, ...]
    failures: tuple[tuple[Verdict, str], ...] = ()
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """True when every deletion decided was made (or, dry, would be tried)."""
        return not self.failures

    def path(self, verdict: Verdict) -> str:
        """The run directory a verdict is about, on the target."""
        return run_path(self.directory, verdict.run.node, verdict.run.run_id)


def rules_for(policy: Policy, plan: str) -> Rules:
    """The plan's retention section; a directory without a manifest may belong to a run still
    going for as long as the plan's whole-run limit."""
    section = dict(policy.plans.items())[plan]
    incomplete_after = timedelta(seconds=section.timeouts.run_seconds)
    return Rules(section.retention.keep_last, section.retention.keep_days, incomplete_after)


def judge_listing(listing: Listing, plan: str, rules: Rules, now: datetime) -> tuple[Verdict, ...]:
    """The verdicts on the runs of `plan` only (a run id names its plan); others are not ours."""
    runs = [run.target_run() for run in listing.runs if run.directory.plan == plan]
    return decide(runs, rules, now)


def prune(
    resolved: Resolved,
    rules: Rules,
    runner: Runner,
    store: Store | None,
    clock: Clock,
) -> PruneResult:
    """List, decide and (with a store) delete; without a store it is a dry run."""
    target = resolved.target
    timeout = resolved.timeouts.command
    names = [node.name for node in resolved.nodes]
    listing = read_target(runner, target.node, target.directory, names, timeout)
    verdicts = judge_listing(listing, resolved.name, rules, clock())
    result = PruneResult(resolved.name, target.directory, verdicts, dry_run=store is None)
    if store is None:
        return result
    sizes = {(run.directory.node, run.directory.run_id): run.size_bytes for run in listing.runs}
    failures = []
    for verdict in deletions(verdicts):
        size = sizes[verdict.run.node, verdict.run.run_id]
        detail = _delete(resolved, verdict, size, runner, store, clock)
        if detail is not None:
            failures.append((verdict, detail))
    return PruneResult(resolved.name, target.directory, verdicts, tuple(failures))


def _delete(  # noqa: PLR0917 - internal step of prune, arguments all distinct
    resolved: Resolved, verdict: Verdict, size: int, runner: Runner, store: Store, clock: Clock
) -> str | None:
    """Delete one run directory, recorded before and after; None, or why it failed."""
    run = verdict.run
    path = run_path(resolved.target.directory, run.node, run.run_id)
    fields = {"plan": resolved.name, "node": run.node, "run_id": run.run_id, "path": path}
    prune_id = store.start_prune(
        resolved.name,
        run.node,
        run.run_id,
        path,
        reason=verdict.reason,
        size_bytes=size,
        now=clock(),
    )
    command = commands_target.remove_run_directory(path, resolved.timeouts.command)
    result = runner.run(resolved.target.node, command)
    detail = "" if result.ok else _detail(result.stderr_tail(), result.exit_code)
    store.finish_prune(prune_id, result.ok, detail, clock())
    if result.ok:
        log.info(
            "Run pruned",
            size_bytes=size,
            reason=verdict.reason,
            message_id=logs.RUN_PRUNED,
            **fields,
        )
        return None
    log.error(
        "Prune failed", reason=verdict.reason, detail=detail, message_id=logs.PRUNE_FAILED, **fields
    )
    return detail


def _detail(stderr: str, exit_code: int | None) -> str:
    lines = stderr.splitlines()
    return lines[-1] if lines else f"exit {exit_code}"


def perform(
    policy: Policy,
    inventory: Inventory,
    site: Site,
    plan: str,
    *,
    dry_run: bool = False,
    clock: Clock = backup.utc_now,
) -> PruneResult:
    """Resolve the plan and prune its runs on the target; a dry run takes no lock and changes
    nothing. Raises LockBusyError while a run holds the plan or a node, TargetUnreadable when
    the target cannot be listed."""
    resolved = resolve(policy, inventory, plan)
    settings = preflight.ssh_settings(policy, site)
    check_credentials(site)
    opener = remote.session_opener(settings)
    with _locked_store(site, resolved, dry_run) as store, remote.SessionPool(opener) as runner:
        return prune(resolved, rules_for(policy, plan), runner, store, clock)


@contextlib.contextmanager
def _locked_store(site: Site, resolved: Resolved, dry_run: bool) -> Iterator[Store | None]:
    if dry_run:
        yield None
        return
    site.state_directory.mkdir(parents=True, exist_ok=True)
    with preflight.run_locks(site.runtime_directory, resolved), open_history(site) as store:
        yield store


def list_runs(
    policy: Policy, inventory: Inventory, site: Site, plans: Sequence[str], node: str | None = None
) -> Listing:
    """Every run on the target of `node`, or of the nodes of `plans` (all plans share the one
    target), from the manifests alone: `barctl backups`, read-only and lock-free."""
    resolved = [resolve(policy, inventory, plan) for plan in plans]
    names = list(dict.fromkeys(member.name for each in resolved for member in each.nodes))
    if node is not None and node not in names:
        raise BarctlError(
            f"no node {node!r} in plans {', '.join(plans)}; nodes: {', '.join(names)}"
        )
    settings = preflight.ssh_settings(policy, site)
    check_credentials(site)
    target = resolved[0].target
    with remote.SessionPool(remote.session_opener(settings)) as runner:
        timeout = resolved[0].timeouts.command
        chosen = [node] if node is not None else names
        return read_target(runner, target.node, target.directory, chosen, timeout)
