"""The metrics of verified runs and restore drills (issue 11 item 9), read from history.

Split from metrics.py (the collector): what each node's verified backups weigh, per artifact,
against the verified backup before (BarctlBackupSizeDropped), when the node last verified, and
what the restore drill (history rows of plan `drill`) proved. A node row `success` is a verified
run: the run verifies the artifacts on the target before it records the node (a failed
verification records it `failed` with the reason).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from barctl.history.records import NodeRecord
from barctl.history.store import Store
from barctl.observe.metric_families import Families
from barctl.outcome import NodeOutcome

DRILL_PLAN = "drill"  # barctl.config.policy_drill.DRILL_PLAN: the drill's runs in history
# The engine fails a node whose checks on the target refused it with the reason
# "<node>: verify_artifacts: <problem>" (barctl.run.plan.StepKind.VERIFY_ARTIFACTS).
VERIFICATION_STEP = ": verify_artifacts: "
# Always exported per node (0 when none), so an alert on their sum never sees a gap.
BASE_ARTIFACTS = ("iso", "archive")
# The restore material's file names and kinds (the manifest contract, barctl.run.manifest).
RESTORE_MATERIAL = {
    "openstack-backup-mysql.sql": "database_dump",
    "openstack-backup-mysql-grants.sql": "grants",
    "cib.xml": "cib",
    "pacemaker_backup.tar.bz2": "pacemaker_config",
    "ceph_auth_export.bak": "ceph_auth",
}


def artifact_kind(path: str) -> str:
    """The `artifact` label of a file of a run: iso, archive, a restore kind, else other."""
    name = posixpath.basename(path)
    if name.endswith(".iso"):
        return "iso"
    if name.startswith("backup.tar"):
        return "archive"
    return RESTORE_MATERIAL.get(name, "other")


def sizes(record: NodeRecord | None) -> dict[str, int]:
    """Bytes per artifact kind of one node row (every base kind present, 0 when absent)."""
    found = dict.fromkeys(BASE_ARTIFACTS, 0)
    for item in record.artifacts if record is not None else ():
        kind = artifact_kind(item.path)
        found[kind] = found.get(kind, 0) + item.size_bytes
    return found


@dataclass
class VerifiedHistory:
    """Per node: its two latest verified rows, and its latest drills (success, failure)."""

    verified: dict[str, list[NodeRecord]] = field(default_factory=dict)
    failed: dict[str, NodeRecord] = field(default_factory=dict)
    drill_success: dict[str, NodeRecord] = field(default_factory=dict)
    drill_failed: dict[str, NodeRecord] = field(default_factory=dict)
    # The target's free bytes at the gate's latest measurement (None: never measured).
    target_free_bytes: int | None = None
    # Run directories retention deleted for the plan (barctl.run.prune's `prunes` rows).
    pruned_runs: int = 0


def _latest(store: Store, plan: str, node: str, outcome: NodeOutcome) -> NodeRecord | None:
    # The drill's rows are found through its own few runs, not among every backup row.
    read = store.node_records_by_run if plan == DRILL_PLAN else store.node_records
    found = read(plan, node, outcome)
    return found[0] if found else None


def read_verified(store: Store, plan: str, nodes: Iterable[str]) -> VerifiedHistory:
    """`plan`'s verified runs, the drills of its `nodes`, and the target's free space: a few
    index walks per node (nodes_by_node), whatever the history's length."""
    space = store.latest_target_space()
    found = VerifiedHistory(target_free_bytes=None if space is None else space[1])
    found.pruned_runs = store.pruned_total(plan)
    success, failed = NodeOutcome.SUCCESS, NodeOutcome.FAILED
    for node in nodes:
        found.verified[node] = store.node_records(plan, node, success, limit=2)
        for kept, which, outcome in (
            (found.failed, plan, failed),
            (found.drill_success, DRILL_PLAN, success),
            (found.drill_failed, DRILL_PLAN, failed),
        ):
            record = _latest(store, which, node, outcome)
            if record is not None:
                kept[node] = record
    return found


def _newer(record: NodeRecord | None, than: NodeRecord | None) -> bool:
    """`record` exists and no `than` row is as recent."""
    if record is None:
        return False
    return than is None or record.recorded_at > than.recorded_at


def add_target_metrics(families: Families, found: Iterable[VerifiedHistory]) -> None:
    """barctl_target_free_bytes, only once the gate has measured it: a 0 for "never" would
    read as a full target (BarctlTargetWillFill)."""
    measured = next((each.target_free_bytes for each in found), None)
    if measured is not None:
        families.target_free.add_metric([], float(measured))


def verification_failed(failed: NodeRecord | None, verified: NodeRecord | None) -> bool:
    """Whether the node's latest failure, newer than its latest verified backup, is one its
    checks on the target refused."""
    return _newer(failed, verified) and failed is not None and VERIFICATION_STEP in failed.reason


def add_node_metrics(
    families: Families, plan: str, nodes: Sequence[str], found: VerifiedHistory
) -> None:
    """Sizes (latest and previous verified run), last verified time and drill series of each
    configured node of `plan`, and the runs retention pruned for it."""
    families.pruned.add_metric([plan], float(found.pruned_runs))
    for node in nodes:
        rows = found.verified.get(node, [])
        latest = rows[0] if rows else None
        previous = rows[1] if len(rows) > 1 else None
        now_sizes, before = sizes(latest), sizes(previous)
        for kind in dict.fromkeys([*now_sizes, *before]):
            labels = [plan, node, kind]
            families.node_size.add_metric(labels, float(now_sizes.get(kind, 0)))
            families.node_previous_size.add_metric(labels, float(before.get(kind, 0)))
        verified = latest.recorded_at.timestamp() if latest is not None else 0.0
        families.node_last_verified.add_metric([plan, node], verified)
        refused = verification_failed(found.failed.get(node), latest)
        families.node_verification_failed.add_metric([plan, node], float(refused))
        drilled = found.drill_success.get(node)
        when = drilled.recorded_at.timestamp() if drilled is not None else 0.0
        families.node_last_drill_success.add_metric([plan, node], when)
        failing = _newer(found.drill_failed.get(node), drilled)
        families.node_drill_failing.add_metric([plan, node], float(failing))
