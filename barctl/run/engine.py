"""Walks a plan: one step at a time per node, undos registered first, unwound on any exit.

Safe points are the gaps between steps: on SIGTERM/SIGINT (`abort`) the current command finishes
(it is bounded by its server-side `timeout`, and by `barctl.run.liveness` when its connection is
dead), no further step starts, and every registered undo runs. A controlplane run stops at the
first failed node, so a second controller is never taken out while the first one is not back
(tripleo.md §3, §9.2), and a rolling run stops as soon as another member leaves the cluster.

An undo whose node cannot be reached is not retried here: it stays pending in the journal, the
next start replays it, and the run is `degraded` (the node may be out of the cluster until then).
Each node is recorded as soon as its steps end, with the artifacts verified right after its ReaR.
"""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import structlog

from barctl import model
from barctl.history.store import Store
from barctl.model import Artifact, Node, NodeFacts, UndoFailure
from barctl.observe import logs
from barctl.outcome import NodeOutcome, RunOutcome
from barctl.redaction import redact
from barctl.run import (
    cluster_checks,
    commands_probe,
    commands_rear,
    commands_target,
    manifest_writer,
    verdicts,
    verifier,
)
from barctl.run.plan import Phase, Plan, Step, StepKind
from barctl.run.runner import Runner
from barctl.run.steps import Clock, StepRecorder
from barctl.run.undo import UndoJournal

log = structlog.get_logger("barctl.engine")
Progress = model.Progress  # moved to model.py; report.py still imports it from here


@dataclass
class RunReport:
    """How a run ended, what failed, and which undos failed."""

    run_id: str
    outcome: RunOutcome = RunOutcome.SUCCESS
    failures: list[str] = field(default_factory=list)
    undo_failures: list[UndoFailure] = field(default_factory=list)
    # Undos on a node that could not be reached: pending in the journal for the next start.
    undos_left: list[str] = field(default_factory=list)
    backed_up: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for history and the canonical log line; it never contradicts `outcome`."""
        problems = [*self.failures, *(str(item) for item in self.undo_failures), *self.undos_left]
        return verdicts.run_summary(self.outcome, problems, self.backed_up)


@dataclass
class Environment:
    """The imperative parts an execution uses."""

    store: Store
    runner: Runner
    clock: Clock
    abort: threading.Event
    secrets: tuple[str, ...] = ()
    progress: Progress | None = None
    poll_seconds: float = 2.0
    max_parallel: int = 8
    # sha256 of the validated policy (backup.py), written into each manifest.
    policy_sha256: str = hashlib.sha256(b"").hexdigest()


def _step_recorder(plan: Plan, environment: Environment, password: str) -> StepRecorder:
    """The run's step recorder: the password is one more secret its output is redacted of."""
    return StepRecorder(
        environment.store,
        environment.runner,
        environment.clock,
        plan.run_id,
        environment.abort,
        (*environment.secrets, password),
        environment.progress,
    )


class Execution:
    """One run of one plan."""

    def __init__(
        self,
        plan: Plan,
        nodes: dict[str, Node],
        facts: dict[str, NodeFacts],
        environment: Environment,
        *,
        password: str,
    ) -> None:
        self.plan = plan
        self.nodes = nodes
        self.facts = facts
        self.environment = environment
        self.password = password
        self.steps = _step_recorder(plan, environment, password)
        self.journal = UndoJournal(self.steps, self._degrade)
        self.checks = cluster_checks.ClusterChecks(
            plan.mode == "rolling",
            tuple(node.name for node in plan.nodes),
            nodes,
            facts,
            self.steps,
            password,
            plan.timeouts.command,
            environment.max_parallel,
        )
        self.report = RunReport(plan.run_id)
        self.node_outcomes: dict[str, tuple[NodeOutcome, str]] = {}
        self.artifacts: dict[str, list[Artifact]] = {}
        self.verified: dict[str, verifier.Verified] = {}
        self.run_facts = manifest_writer.RunFacts(
            plan.name, plan.run_id, environment.clock(), environment.policy_sha256, plan.target
        )
        self.lock = threading.Lock()
        # The node whose view a rejoin found whole, until the next step starts.
        self.rejoined_view = ""
        # Each node's ReaR version as its `rear -v mkbackup` printed it (for the manifest).
        self.rear_versions: dict[str, str] = {}

    # ---- the run ------------------------------------------------------------------------------

    def execute(self) -> RunReport:
        """Run every phase until one fails or an abort arrives, then unwind what is left."""
        interrupted = False
        try:
            for phase in self.plan.phases:
                if self.environment.abort.is_set():
                    interrupted = True
                    break
                if not self._run_phase(phase):
                    break
        finally:
            self.journal.unwind()
        self.report.undo_failures = list(self.journal.failures)
        self.report.undos_left = list(self.journal.left)
        interrupted = interrupted or self.environment.abort.is_set()
        self.report.outcome = self._outcome(interrupted)
        self._record_nodes()
        return self.report

    def _outcome(self, interrupted: bool) -> RunOutcome:
        if self.report.undo_failures or self.report.undos_left:
            return RunOutcome.DEGRADED
        if interrupted:
            return RunOutcome.INTERRUPTED
        return RunOutcome.FAILED if self.report.failures else RunOutcome.SUCCESS

    def _run_phase(self, phase: Phase) -> bool:
        work = [(node, steps) for node, steps in phase.steps if steps]
        if phase.parallel and len(work) > 1:
            workers = max(1, self.environment.max_parallel)
            with ThreadPoolExecutor(max_workers=workers) as executor:
                run_node = logs.carry_context(lambda item: self._run_node(*item))
                results = list(executor.map(run_node, work))
        else:
            results = []
            for node, steps in work:
                results.append(self._run_node(node, steps))
                if not results[-1]:
                    break
        return all(results)

    def _run_node(self, node: str, steps: tuple[Step, ...]) -> bool:
        try:
            for step in steps:
                if self.environment.abort.is_set():
                    self._set_node(node, NodeOutcome.INTERRUPTED, "stopped by signal")
                    return False
                with logs.bind_step(node, step.name):
                    problem = self._run_step(step)
                if problem:
                    self._fail(node, f"{node}: {step.name}: {problem}")
                    return False
            return True
        finally:
            self._record_node(node, final=False)

    def _run_step(self, step: Step) -> str:
        """Run one step; return a problem description, empty when it succeeded."""
        node = self.nodes.get(step.node) or self.plan.target.node
        vouched, self.rejoined_view = self.rejoined_view, ""
        if step.kind is StepKind.COMMAND:
            assert step.command is not None
            if step.undo is not None:
                self.journal.register(node, step.undo_key, step.undo)
            result = self.steps.run(node, step.command)
            if step.command.name == commands_rear.MKBACKUP_STEP:
                self._keep_rear_version(node.name, result.stdout)
            return verdicts.command_problem(result)
        if step.kind is StepKind.UNDO:
            return self.journal.run(step.node, step.undo_key)
        if step.kind is StepKind.CHECK_PEERS:
            if vouched == node.name:
                # The previous node's rejoin, the step just before, asked this very node for
                # the cluster's view and found it whole: asking again would learn nothing.
                log.info("Cluster checked at the previous node's rejoin", node=node.name)
                return ""
            return self._health(node).reason()
        if step.kind is StepKind.WAIT_REJOIN:
            return self._wait_rejoin(node)
        return self._verify(step)

    # ---- cluster checks -----------------------------------------------------------------------

    def _health(self, node: Node) -> cluster_checks.Health:
        """The cluster around `node` from one peer's view (cluster_checks); offline runs judge
        the whole cluster and watch no peer: they stopped every member on purpose."""
        return self.checks.health(node.name if self.plan.mode == "rolling" else None)

    def _wait_rejoin(self, node: Node) -> str:
        """Wait until `node` is back; a peer leaving meanwhile fails now, not at the deadline.

        Polls follow each other ever more slowly (`cluster_checks.poll_delay`): a node back at
        once costs one check, a slow one is seen at most `poll_seconds` late."""
        started = time.monotonic()
        deadline = started + self.plan.timeouts.rejoin
        while True:
            health = self._health(node)
            if health.peer_loss:
                return health.peer_loss
            if not health.problems:
                self.rejoined_view = health.seen_from
                return ""
            now = time.monotonic()
            if now >= deadline:
                break
            delay = cluster_checks.poll_delay(
                now - started, deadline - now, self.environment.poll_seconds
            )
            if self.environment.abort.wait(delay):
                break
        return f"not back within {self.plan.timeouts.rejoin}s: " + "; ".join(health.problems)

    # ---- verification and bookkeeping ---------------------------------------------------------

    def _keep_rear_version(self, node: str, stdout: str) -> None:
        """`rear -v` prints "$PRODUCT $VERSION / $RELEASE_DATE" first (usr/sbin/rear, LogPrint
        to the original stdout): the version that made this backup, for its manifest, without
        another `rear -V` on the node (a second ReaR start, ~0.1 s of its CPU per node)."""
        version = manifest_writer.rear_version(stdout)
        if version != "unknown":
            with self.lock:
                self.rear_versions[node] = version

    def _rear_version(self, node: str) -> str:
        """The node's ReaR version: as its backup printed it, else asked (`rear -V`)."""
        with self.lock:
            known = self.rear_versions.get(node)
        if known is not None:
            return known
        timeout = self.plan.timeouts.command
        rear = self.steps.read(self.nodes[node], commands_probe.rear_version(timeout))
        return manifest_writer.rear_version(rear.stdout)

    def _verify(self, step: Step) -> str:
        """Every check of the node's run on the target (verifier.py); "" when it is proven."""
        node, target, timeouts = step.node, self.plan.target, self.plan.timeouts
        subject = verifier.subject(target, node, self.plan.run_id, step.material)
        limits = (timeouts.command, timeouts.rear)
        verified = verifier.verify(self.steps, target.node, self.nodes[node], subject, limits)
        written = self._write_manifest(node, subject, verified)
        if verified.problem or written:
            return verified.problem or written
        with self.lock:
            self.artifacts[node] = list(verified.artifacts)
            self.verified[node] = verified
        return ""

    def _write_manifest(
        self, node: str, subject: verifier.Subject, verified: verifier.Verified
    ) -> str:
        """The node's manifest on the target and in the history, whether verification passed or
        not; a problem when it could not be written (the run is then not findable)."""
        timeout = self.plan.timeouts.command
        redacted = replace(verified, problem=redact(verified.problem, self.steps.secrets))
        found = manifest_writer.compose(
            self.run_facts,
            node,
            subject,
            redacted,
            rear=self._rear_version(node),
            uefi=self.facts[node].firmware == "uefi" if node in self.facts else False,
            checked_at=self.environment.clock(),
        )
        name, text = manifest_writer.document(found)
        write = commands_target.write_manifest(subject.directory, name, text, timeout)
        result = self.steps.run(self.plan.target.node, write)
        if not result.ok:
            return f"manifest not written on the backup target: {verdicts.command_problem(result)}"
        self.environment.store.record_artifacts(manifest_writer.history_record(found))
        return ""

    def _degrade(self, node: str, reason: str) -> None:
        self._set_node(node, NodeOutcome.DEGRADED, reason)

    def _set_node(self, node: str, outcome: NodeOutcome, reason: str) -> None:
        with self.lock:
            current = self.node_outcomes.get(node)
            if current is None or current[0] is not NodeOutcome.DEGRADED:
                self.node_outcomes[node] = (outcome, reason)

    def _fail(self, node: str, reason: str) -> None:
        with self.lock:
            self.report.failures.append(reason)
        self._set_node(node, NodeOutcome.FAILED, reason)
        log.error("Step failed", node=node, reason=reason)

    def _node_record(self, node: str, *, final: bool) -> tuple[NodeOutcome, str]:
        outcome_reason = self.node_outcomes.get(node)
        if outcome_reason is not None:
            return outcome_reason
        if self.artifacts.get(node):
            return NodeOutcome.SUCCESS, ""
        if final:
            return NodeOutcome.SKIPPED, "not reached"
        return NodeOutcome.PENDING, ""

    def _record_node(self, node: str, *, final: bool) -> None:
        """Write what is known of `node` now: each node is recorded when its steps end."""
        with self.lock:
            outcome, reason = self._node_record(node, final=final)
            artifacts = list(self.artifacts.get(node, []))
        self.environment.store.record_node(
            self.plan.run_id, node, outcome, artifacts, reason, now=self.environment.clock()
        )
        if final:
            log.log(
                logs.outcome_level(outcome),
                "Node finished",
                node=node,
                outcome=outcome.value,
                size_bytes=sum(artifact.size_bytes for artifact in artifacts),
                reason=reason,
            )

    def _record_nodes(self) -> None:
        for node in self.plan.nodes:
            self._record_node(node.name, final=True)
        self.report.backed_up = [
            node.name for node in self.plan.nodes if node.name in self.artifacts
        ]
