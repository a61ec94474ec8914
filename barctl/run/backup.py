"""One backup run end to end: locks, crash recovery, gate, plan, execution, history.

The imperative shell around the pure planner. Shared by `barctl run` and the daemon.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import structlog

from barctl import redaction
from barctl.config.inventory import Inventory
from barctl.config.policy import Policy
from barctl.config.site import Site
from barctl.errors import BarctlError
from barctl.history.records import new_run_id
from barctl.history.store import Store, StoreError, open_history
from barctl.model import Progress
from barctl.observe import logs
from barctl.outcome import NodeOutcome, RunOutcome, Trigger
from barctl.run import gate, gate_probe, preflight, remote
from barctl.run import plan as planning
from barctl.run.engine import Environment, Execution, RunReport
from barctl.run.locks import LockBusyError, LockError
from barctl.run.resolution import (
    CredentialError,
    Resolved,
    ResolveError,
    assumed_facts,
    build_plan,
    check_credentials,
    resolve,
)

# Resolution and locks live in their own modules; callers keep using them through backup
# (what comes before a run, sessions, locks, recovery and the gate, is `preflight`).
__all__ = [
    "CredentialError",
    "LockBusyError",
    "LockError",
    "Request",
    "ResolveError",
    "Resolved",
    "Result",
    "RunNotRecordedError",
    "assumed_facts",
    "build_plan",
    "perform",
    "record_unstarted",
    "resolve",
    "utc_now",
]

log = structlog.get_logger("barctl.backup")


class RunNotRecordedError(BarctlError):
    """A run could not start, and the history could not record it either."""


def utc_now() -> datetime:
    """The real clock; everything else takes `now` or a clock."""
    return datetime.now(timezone.utc)


def site_of(request: Request) -> Site:
    """The request's site, or one resolved from this process's environment."""
    return request.site or Site.from_policy(request.policy, os.environ)


@dataclass
class Request:
    """What to run and with which imperative parts."""

    policy: Policy
    inventory: Inventory
    plan: str
    trigger: Trigger = Trigger.MANUAL
    # Paths, credentials and environment, resolved once by the CLI or the daemon; when None,
    # resolved from this process's environment (tests, benchmarks).
    site: Site | None = None
    clock: preflight.Clock = utc_now
    abort: threading.Event = field(default_factory=threading.Event)
    progress: Progress | None = None
    dry_run: bool = False
    poll_seconds: float = 2.0


@dataclass
class Result:
    """What happened: the outcome, why, and the gate and plan it was based on."""

    run_id: str
    outcome: RunOutcome
    summary: str
    gate: gate.GateResult | None = None
    plan: planning.Plan | None = None

    def __post_init__(self) -> None:
        # `barctl run` prints the summary and the gate's reasons; a remote error message may
        # quote a registered secret (issue 8 finding 4), so they are redacted here, once.
        self.summary = redaction.SECRETS.redact(self.summary)
        if self.gate is not None:
            self.gate = _redacted_gate(self.gate)


def _redacted_gate(verdict: gate.GateResult) -> gate.GateResult:
    """`verdict` with registered secrets removed from every problem it would print."""

    def probe(item: gate_probe.Probe) -> gate_probe.Probe:
        return replace(item, problem=redaction.SECRETS.redact(item.problem))

    return replace(
        verdict,
        probes=tuple(map(probe, verdict.probes)),
        target=probe(verdict.target),
        problems=tuple(
            (node, redaction.SECRETS.redact(reason)) for node, reason in verdict.problems
        ),
    )


def perform(request: Request) -> Result:
    """Lock, recover, gate, plan and execute one run; every run of a known plan is recorded.

    A run that cannot start (the plan does not resolve, a credential file went unreadable after
    load, the runtime directory refuses its locks, anything unexpected) is recorded `failed`
    with the reason, so that history, metrics and BarctlBackupFailed see it; before, the daemon
    logged "Run crashed" and recorded nothing (issue 8 finding 5). Only an unknown plan name
    (ResolveError) and a busy plan or node (LockBusyError, a missed slot) raise.
    """
    plans = dict(request.policy.plans.items())
    if request.plan not in plans:
        raise ResolveError(f"no plan {request.plan!r} in the policy; plans: {', '.join(plans)}")
    try:
        return _perform(request)
    except LockBusyError:
        raise
    except Exception as error:
        return record_unstarted(request, error)


def _perform(request: Request) -> Result:
    policy = request.policy
    site = site_of(request)
    resolved = resolve(policy, request.inventory, request.plan)
    settings = preflight.ssh_settings(policy, site)
    check_credentials(site)
    site.state_directory.mkdir(parents=True, exist_ok=True)
    with preflight.run_locks(site.runtime_directory, resolved), open_history(site) as store:
        _recover_unless_dry(request, store, settings)
        run_id = new_run_id(request.plan, request.clock(), secrets.token_hex(2))
        with logs.bind_run(run_id, request.plan):
            started = request.clock()
            if not request.dry_run:
                store.start_run(run_id, request.plan, request.trigger, started, os.getpid())
            _log_run_started(request)
            try:
                result = _gated_run(request, resolved, settings, store, run_id)
            except BaseException as error:
                result = Result(run_id, RunOutcome.FAILED, f"internal error: {describe(error)}")
                if not request.dry_run:
                    _finish_crashed(store, run_id, request.clock(), result.summary)
                _log_run_finished(request, started, RunOutcome.FAILED, result.summary, True)
                if not isinstance(error, Exception):
                    raise  # KeyboardInterrupt, SystemExit: recorded, and still honoured
                return result
            _log_run_finished(request, started, result.outcome, result.summary)
            return result


def _recover_unless_dry(request: Request, store: Store, settings: remote.SshSettings) -> None:
    """Crash recovery before the run; a dry run changes nothing, so it only says what waits."""
    if not request.dry_run:
        preflight.recover(store, settings, request.clock)
        return
    pending = len(store.pending_undos())
    if pending:
        log.warning("Undos pending, not replayed by a dry run", undos_pending=pending)


def _dry_run_summary(store: Store) -> str:
    pending = len(store.pending_undos())
    if not pending:
        return "dry run: nothing changed"
    return (
        f"dry run: nothing changed; {pending} undos of an earlier run are pending and were"
        " not replayed (the next real run replays them first)"
    )


def _finish_crashed(store: Store, run_id: str, now: datetime, summary: str) -> None:
    """End a crashed run as failed, unless the crash came after it was already ended."""
    with contextlib.suppress(StoreError):
        store.finish_run(run_id, RunOutcome.FAILED, now, summary)


def describe(error: BaseException) -> str:
    """An operator's one-line reason for `error` (file and cause for OS errors)."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    if isinstance(error, BarctlError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def record_unstarted(request: Request, error: BaseException) -> Result:
    """Record a run of `request.plan` that could not start: outcome `failed`, with the reason.

    Raises RunNotRecordedError when even the history cannot take the row.
    """
    now = request.clock()
    run_id = new_run_id(request.plan, now, secrets.token_hex(2))
    result = Result(run_id, RunOutcome.FAILED, f"could not start: {describe(error)}")
    expected = isinstance(error, (BarctlError, OSError))
    with logs.bind_run(run_id, request.plan):
        if not request.dry_run:
            try:
                site = site_of(request)
                site.state_directory.mkdir(parents=True, exist_ok=True)
                with open_history(site) as store:
                    store.start_run(run_id, request.plan, request.trigger, now, os.getpid())
                    store.finish_run(run_id, RunOutcome.FAILED, request.clock(), result.summary)
            except Exception as store_error:
                message = f"{result.summary}; not recorded: {describe(store_error)}"
                raise RunNotRecordedError(redaction.SECRETS.redact(message)) from error
        _log_run_finished(request, now, RunOutcome.FAILED, result.summary, not expected)
    return result


def _log_run_started(request: Request) -> None:
    marker: dict[str, object] = (
        {"dry_run": True} if request.dry_run else {"message_id": logs.RUN_STARTED}
    )
    log.info("Run started", trigger=request.trigger.value, **marker)


def _log_run_finished(
    request: Request, started: datetime, outcome: RunOutcome, summary: str, crashed: bool = False
) -> None:
    """The canonical line of a run (dry runs, recorded nowhere, get no MESSAGE_ID)."""
    marker: dict[str, object] = (
        {"dry_run": True} if request.dry_run else {"message_id": logs.RUN_FINISHED[outcome]}
    )
    log.log(
        logs.outcome_level(outcome),
        "Run finished",
        trigger=request.trigger.value,
        outcome=outcome.value,
        duration_seconds=round((request.clock() - started).total_seconds(), 3),
        summary=summary,
        exc_info=crashed,
        **marker,
    )


def _gated_run(
    request: Request,
    resolved: Resolved,
    settings: remote.SshSettings,
    store: Store,
    run_id: str,
) -> Result:
    need = preflight.space_need(store, resolved)
    verdict = preflight.precheck(resolved, settings, request.policy.ssh.max_parallel, need)
    redaction.register_secret(verdict.password())  # before any refusal reason is logged
    free = verdict.target.free_bytes
    if free is not None and not request.dry_run:
        store.record_target_space(resolved.target.directory, free, request.clock())
    if not verdict.passed:
        summary = "refused by the gate: " + "; ".join(gate.describe_problems(verdict))
        if not request.dry_run:
            _record_refusal(store, run_id, resolved, verdict, request.clock())
        for node, problems in verdict.reasons().items():
            log.warning(
                "Node refused", node=node, reason="; ".join(problems), message_id=logs.NODE_REFUSED
            )
        return Result(run_id, RunOutcome.REFUSED, summary, verdict)
    password = verdict.password()
    plan = build_plan(resolved, verdict.facts(), run_id, password)
    if request.dry_run:
        return Result(run_id, RunOutcome.SUCCESS, _dry_run_summary(store), verdict, plan)
    report = _execute(request, resolved, plan, verdict, store, settings)
    store.finish_run(run_id, report.outcome, request.clock(), report.summary())
    return Result(run_id, report.outcome, report.summary(), verdict, plan)


def _execute(  # noqa: PLR0917 - internal step of perform, arguments all distinct
    request: Request,
    resolved: Resolved,
    plan: planning.Plan,
    verdict: gate.GateResult,
    store: Store,
    settings: remote.SshSettings,
) -> RunReport:
    with remote.SessionPool(remote.session_opener(settings)) as pool:
        environment = Environment(
            store,
            pool,
            request.clock,
            request.abort,
            progress=request.progress,
            poll_seconds=request.poll_seconds,
            max_parallel=request.policy.ssh.max_parallel,
            policy_sha256=policy_sha256(request.policy),
        )
        nodes = {node.name: node for node in resolved.nodes}
        execution = Execution(
            plan,
            nodes,
            verdict.facts(),
            environment,
            password=verdict.password(),
        )
        return execution.execute()


def policy_sha256(policy: Policy) -> str:
    """sha256 of the validated policy, every default filled in (the manifests' `policy_sha256`):
    two files that mean the same policy hash the same."""
    return hashlib.sha256(policy.model_dump_json().encode()).hexdigest()


def _record_refusal(
    store: Store, run_id: str, resolved: Resolved, verdict: gate.GateResult, now: datetime
) -> None:
    reasons = verdict.reasons()
    classes = verdict.reason_classes()
    for member in (*resolved.nodes, resolved.target.node):
        if member.name in reasons:
            store.record_node(
                run_id,
                member.name,
                NodeOutcome.REFUSED,
                [],
                "; ".join(reasons[member.name]),
                now=now,
                reason_class=classes[member.name],
            )
    summary = "refused by the gate: " + "; ".join(gate.describe_problems(verdict))
    store.finish_run(run_id, RunOutcome.REFUSED, now, summary)
