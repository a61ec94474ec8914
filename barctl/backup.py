"""One backup run end to end: locks, crash recovery, gate, plan, execution, history.

The imperative shell around the pure planner. Shared by `barctl run` and the daemon.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from barctl import gate, logs, remote
from barctl import plan as planning
from barctl.engine import Environment, Execution, Progress, RunReport
from barctl.errors import BarctlError
from barctl.inventory import Host, Inventory, resolve_user
from barctl.journal import UndoFailure, replay_pending
from barctl.outcome import NodeOutcome, RunOutcome, Trigger
from barctl.policy import (
    Policy,
    effective_private_key,
    effective_runtime_directory,
    effective_sftp_password_file,
    effective_state_directory,
)
from barctl.records import new_run_id
from barctl.store import Store, history_path

log = structlog.get_logger("barctl.backup")
Clock = Callable[[], datetime]


class LockBusyError(BarctlError):
    """Another run holds the plan, or one of its nodes."""


class ResolveError(BarctlError):
    """The policy and inventory do not give a reachable address for a node."""


def utc_now() -> datetime:
    """The real clock; everything else takes `now` or a clock."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Resolved:
    """A plan's nodes and target as barctl will reach them."""

    name: str
    mode: str
    nodes: tuple[planning.Node, ...]
    target: planning.BackupTarget
    timeouts: planning.Timeouts
    hosts: tuple[Host, ...] = field(default=(), repr=False)


def _node(policy: Policy, inventory: Inventory, host: Host) -> planning.Node:
    address = host.address
    if address is None:
        address = policy.undercloud.address
    if address is None:
        message = (
            f"{host.name} has no SSH address (ansible_connection local): set undercloud.address"
        )
        raise ResolveError(message)
    # The inventory gives the undercloud no user (ansible_connection: local); TripleO's is stack.
    default = policy.undercloud.user if host.connection == "local" else policy.ssh.default_user
    user = resolve_user(inventory, host, override=policy.ssh.user, default=default)
    return planning.Node(host.name, address, user, policy.ssh.port, host.groups)


def _target(
    policy: Policy, inventory: Inventory, environ: Mapping[str, str]
) -> planning.BackupTarget:
    section = policy.backup_target
    name = section.node
    if name is None and "BackupNode" in inventory.groups:
        backup_hosts = inventory.hosts_in(["BackupNode"])
        name = backup_hosts[0].name if len(backup_hosts) == 1 else None
    if section.nfs is not None:
        address, directory = section.nfs.server, section.nfs.export
        url = f"nfs://{section.nfs.server}{section.nfs.export}"
        variables: tuple[tuple[str, str], ...] = (
            ("BACKUP", "NETFS"),
            ("OUTPUT_URL", url),
            ("BACKUP_URL", url),
        )
    else:
        sftp = section.sftp
        assert sftp is not None
        address, directory = sftp.host, sftp.path
        password_file = effective_sftp_password_file(policy, environ)
        password = password_file.read_text(encoding="utf-8").strip() if password_file else ""
        logs.register_secret(password)
        variables = (
            ("OUTPUT_URL", f"sftp://{sftp.host}{sftp.path}"),
            ("BACKUP_URL", "iso:///backup"),
            ("OUTPUT_LFTP_USERNAME", sftp.user),
            ("OUTPUT_LFTP_PASSWORD", password),
        )
    if name is not None and name in inventory.hosts:
        node = _node(policy, inventory, inventory.hosts[name])
    else:
        node = planning.Node(
            name or address,
            name or address,
            policy.ssh.user or policy.ssh.default_user,
            policy.ssh.port,
        )
    return planning.BackupTarget(node, directory, variables, iso_only=section.sftp is not None)


def resolve(
    policy: Policy, inventory: Inventory, name: str, environ: Mapping[str, str]
) -> Resolved:
    """Nodes of plan `name` (inventory groups, file order) and the backup target."""
    plans = dict(policy.plans.items())
    if name not in plans:
        raise ResolveError(f"no plan {name!r} in the policy; plans: {', '.join(plans)}")
    section = plans[name]
    hosts = inventory.hosts_in(list(section.groups))
    nodes = tuple(_node(policy, inventory, host) for host in hosts)
    limits = section.timeouts
    timeouts = planning.Timeouts(
        limits.command_seconds,
        limits.database_dump_seconds,
        limits.rear_seconds,
        limits.rejoin_seconds,
        limits.run_seconds,
    )
    mode = getattr(section, "mode", "live")
    return Resolved(name, mode, nodes, _target(policy, inventory, environ), timeouts, hosts)


def assumed_facts(resolved: Resolved) -> dict[str, planning.NodeFacts]:
    """Facts guessed from inventory service groups, for `barctl plan` which connects nowhere."""
    facts = {}
    for node in resolved.nodes:
        containers = []
        groups = node.groups
        if "Undercloud" in groups:
            containers.append(planning.UNDERCLOUD_DATABASE_CONTAINER)
        if "mysql" in groups and "pacemaker" in groups:
            containers.append("galera-bundle-podman-0")
        if "ceph_mon" in groups:
            containers.append(f"ceph-mon-{node.name}")
        containers.append("<every-other-container>")
        databases = ("<innodb-schemas>",) if "mysql" in groups else ()
        accounts = (("<each-user>", "<host>"),) if "mysql" in groups else ()
        facts[node.name] = planning.NodeFacts(
            tuple(containers), "pacemaker" in groups, databases, accounts
        )
    return facts


def build_plan(
    resolved: Resolved, facts: dict[str, planning.NodeFacts], run_id: str, password: str
) -> planning.Plan:
    """The plan for these nodes and facts (pure)."""
    context = planning.Context(resolved.name, run_id, resolved.timeouts, resolved.target, password)
    if resolved.name == "undercloud":
        node = resolved.nodes[0]
        return planning.build_undercloud_plan(node, facts[node.name], context)
    if resolved.mode == "offline":
        return planning.build_offline_plan(resolved.nodes, facts, context)
    return planning.build_rolling_plan(resolved.nodes, facts, context)


def ssh_settings(policy: Policy, environ: Mapping[str, str]) -> remote.SshSettings:
    """SSH settings with systemd credentials taking precedence over policy paths."""
    accept_new = None
    if policy.ssh.host_key_policy == "accept-new":
        state = effective_state_directory(policy, environ)
        accept_new = str(state / "known_hosts.accepted")
    return remote.SshSettings(
        str(effective_private_key(policy, environ)),
        str(policy.ssh.known_hosts),
        policy.ssh.connect_timeout_seconds,
        accept_new,
    )


@contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold a non-blocking flock on `path`; raise LockBusyError naming `what` when taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="ascii") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another barctl process"
            raise LockBusyError(f"{what} is busy: held by {holder}") from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        yield


def run_locks(runtime: Path, resolved: Resolved) -> ExitStack:
    """One run per plan across processes, and no node shared by two running plans."""
    stack = ExitStack()
    try:
        stack.enter_context(
            exclusive(runtime / f"plan-{resolved.name}.lock", f"plan {resolved.name}")
        )
        for node in sorted(node.name for node in resolved.nodes):
            stack.enter_context(exclusive(runtime / f"node-{node}.lock", f"node {node}"))
    except BaseException:
        stack.close()
        raise
    return stack


def recover(store: Store, settings: remote.SshSettings, clock: Clock) -> list[UndoFailure]:
    """Crash recovery, before anything else: replay pending undos, then mark dead runs."""
    with remote.SessionPool(remote.session_opener(settings)) as pool:
        failures = replay_pending(store, pool, clock)
    for failure in failures:
        log.critical(
            "Undo failed",
            node=failure.node,
            step=failure.step,
            exit_code=failure.exit_code,
            reason=failure.detail,
            message_id=logs.UNDO_FAILED,
        )
    store.mark_interrupted_runs(clock())
    return failures


@dataclass
class Request:
    """What to run and with which imperative parts."""

    policy: Policy
    inventory: Inventory
    plan: str
    trigger: Trigger = Trigger.MANUAL
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clock: Clock = utc_now
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


def perform(request: Request) -> Result:
    """Lock, recover, gate, plan and execute one run; every run is recorded in history."""
    policy = request.policy
    resolved = resolve(policy, request.inventory, request.plan, request.environ)
    settings = ssh_settings(policy, request.environ)
    runtime = effective_runtime_directory(policy, request.environ)
    state = effective_state_directory(policy, request.environ)
    state.mkdir(parents=True, exist_ok=True)
    with run_locks(runtime, resolved), Store.open(history_path(state)) as store:
        recover(store, settings, request.clock)
        run_id = new_run_id(request.plan, request.clock(), secrets.token_hex(2))
        with logs.bind_run(run_id, request.plan):
            started = request.clock()
            if not request.dry_run:
                store.start_run(run_id, request.plan, request.trigger, started, os.getpid())
            _log_run_started(request)
            try:
                result = _gated_run(request, resolved, settings, store, run_id)
            except BaseException:
                if not request.dry_run:
                    store.finish_run(run_id, RunOutcome.FAILED, request.clock(), "internal error")
                _log_run_finished(request, started, RunOutcome.FAILED, "internal error", True)
                raise
            _log_run_finished(request, started, result.outcome, result.summary)
            return result


def _log_run_started(request: Request) -> None:
    marker = {"dry_run": True} if request.dry_run else {"message_id": logs.RUN_STARTED}
    log.info("Run started", trigger=request.trigger.value, **marker)


def _log_run_finished(
    request: Request, started: datetime, outcome: RunOutcome, summary: str, crashed: bool = False
) -> None:
    """The canonical line of a run (dry runs, recorded nowhere, get no MESSAGE_ID)."""
    log.log(
        logs.outcome_level(outcome),
        "Run finished",
        trigger=request.trigger.value,
        outcome=outcome.value,
        duration_seconds=round((request.clock() - started).total_seconds(), 3),
        summary=summary,
        exc_info=crashed,
        **({"dry_run": True} if request.dry_run else {"message_id": logs.RUN_FINISHED[outcome]}),
    )


def _gated_run(
    request: Request,
    resolved: Resolved,
    settings: remote.SshSettings,
    store: Store,
    run_id: str,
) -> Result:
    opener = remote.session_opener(settings)
    policy = request.policy
    verdict = gate.run_gate(
        resolved.nodes,
        resolved.target.node,
        resolved.target.directory,
        opener,
        pacemaker=resolved.name == "controlplane",
        timeout=resolved.timeouts.command,
        max_parallel=policy.ssh.max_parallel,
    )
    logs.register_secret(verdict.password())  # before any refusal reason is logged
    if not verdict.passed:
        summary = "refused by the gate: " + "; ".join(gate.describe_problems(verdict))
        if not request.dry_run:
            _record_refusal(store, run_id, resolved, verdict, request.clock())
        reasons: dict[str, list[str]] = {}
        for node, reason in verdict.problems:
            reasons.setdefault(node, []).append(reason)
        for node, problems in reasons.items():
            log.warning(
                "Node refused", node=node, reason="; ".join(problems), message_id=logs.NODE_REFUSED
            )
        return Result(run_id, RunOutcome.REFUSED, summary, verdict)
    password = verdict.password()
    plan = build_plan(resolved, verdict.facts(), run_id, password)
    if request.dry_run:
        return Result(run_id, RunOutcome.SUCCESS, "dry run: nothing changed", verdict, plan)
    report = _execute(request, resolved, plan, verdict, store, opener)
    store.finish_run(run_id, report.outcome, request.clock(), report.summary())
    return Result(run_id, report.outcome, report.summary(), verdict, plan)


def _execute(  # noqa: PLR0917 - internal step of perform, arguments all distinct
    request: Request,
    resolved: Resolved,
    plan: planning.Plan,
    verdict: gate.GateResult,
    store: Store,
    opener: remote.Opener,
) -> RunReport:
    secrets_known = tuple(
        value for name, value in resolved.target.rear_variables if "PASSWORD" in name
    )
    with remote.SessionPool(opener) as pool:
        environment = Environment(
            store,
            pool,
            request.clock,
            request.abort,
            secrets=secrets_known,
            progress=request.progress,
            poll_seconds=request.poll_seconds,
            max_parallel=request.policy.ssh.max_parallel,
        )
        nodes = {node.name: node for node in resolved.nodes}
        execution = Execution(
            plan,
            nodes,
            verdict.facts(),
            environment,
            password=verdict.password(),
            rejoin_seconds=resolved.timeouts.rejoin,
        )
        return execution.execute()


def _record_refusal(
    store: Store, run_id: str, resolved: Resolved, verdict: gate.GateResult, now: datetime
) -> None:
    reasons: dict[str, list[str]] = {}
    for node, reason in verdict.problems:
        reasons.setdefault(node, []).append(reason)
    for member in (*resolved.nodes, resolved.target.node):
        if member.name in reasons:
            store.record_node(
                run_id,
                member.name,
                NodeOutcome.REFUSED,
                [],
                "; ".join(reasons[member.name]),
                now=now,
            )
    summary = "refused by the gate: " + "; ".join(gate.describe_problems(verdict))
    store.finish_run(run_id, RunOutcome.REFUSED, now, summary)
