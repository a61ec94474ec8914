"""The text of every barctl alert: expression, severity, summary and runbook description.

Pure data for barctl.observe.alert_rules, which adds the per-plan staleness rules and the runbook
links. Each alert has a section of the same name (lower-cased: its anchor) in docs/monitoring.md.
Joins use on(job, instance, ...) so that two barctl daemons scraped by one Prometheus never match
each other's series, with group_left() (and sums by cloud) so that an alert keeps every label of
its series, metrics.cloud's `cloud` included: a plain `a > on(...) b` keeps only the on() labels.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Alert:
    """One alerting rule, before its runbook link is added."""

    name: str
    expr: str
    severity: str
    summary: str
    description: str
    for_: str | None = None
    plan: str | None = None  # a label, set on the rules generated for one plan
    cloud: str | None = None  # a label, set on the rules generated for one cloud's schedules


# Group "barctl": runs, nodes and the daemon itself.
BARCTL = (
    Alert(
        name="BarctlBackupFailed",
        expr='barctl_plan_last_outcome{outcome=~"failed|interrupted"} == 1',
        severity="warning",
        summary=("barctl plan {{ $labels.plan }}: the last backup run ended {{ $labels.outcome }}"),
        description=(
            "The latest run of plan {{ $labels.plan }} on {{ $labels.instance }} ended "
            'with outcome "{{ $labels.outcome }}", so no new backup was taken. Run '
            "`barctl history {{ $labels.plan }}` and `barctl status` to find the failed "
            "step and its stderr tail, fix the cause, then run `barctl run {{ "
            "$labels.plan }}`. The alert clears when a later run of the plan ends with "
            "another outcome."
        ),
    ),
    # One alert per unreachable node (labels plan + node), or one per plan (labels plan +
    # outcome) when the gate refused for health reasons (pacemaker, galera, target directory)
    # and every node answered SSH. The `or on(...)` drops the per-plan series when per-node
    # ones exist, so the alert names exactly the nodes that failed SSH.
    Alert(
        name="BarctlBackupRefused",
        expr=(
            "(\n"
            "    (barctl_node_reachable == 0)\n"
            "  * on(job, instance, plan) group_left()\n"
            '    (barctl_plan_last_outcome{outcome="refused"} == 1)\n'
            ")\n"
            "or on(job, instance, plan)\n"
            '(barctl_plan_last_outcome{outcome="refused"} == 1)\n'
        ),
        severity="warning",
        summary=(
            "barctl plan {{ $labels.plan }} was refused by the gate{{ if $labels.node }}: "
            "node {{ $labels.node }} is unreachable over SSH{{ end }}"
        ),
        description=(
            "The latest run of plan {{ $labels.plan }} on {{ $labels.instance }} was "
            "refused by the pre-flight gate before any node was touched. {{ if "
            "$labels.node }}Node {{ $labels.node }} failed SSH (see "
            'barctl_precheck_failures_total{node="{{ $labels.node }}"} for the reason: '
            "timeout, refused, auth, host_key or banner): check that it is up, sshd runs "
            "and its host key in the known_hosts file is current.{{ else }}Every node "
            "answered SSH; the cluster or the backup target was not healthy (pacemaker, "
            "galera, target directory).{{ end }} `barctl history {{ $labels.plan }}` "
            "shows the gate's reasons. Once fixed, run `barctl precheck {{ $labels.plan "
            "}}` and then `barctl run {{ $labels.plan }}`."
        ),
    ),
    # BarctlBackupStale, BarctlBackupNeverSucceeded and BarctlDrillStale are the rules for plans
    # the policy does not name; alert_rules.py narrows them per plan with literal thresholds.
    Alert(
        name="BarctlBackupStale",
        expr=(
            "(\n"
            "    (time() - barctl_plan_last_success_timestamp_seconds)\n"
            "  > on(job, instance, plan) group_left()\n"
            "    (barctl_plan_expected_interval_seconds * 1.5 + 3600)\n"
            ")\n"
            "and on(job, instance, plan) (barctl_plan_last_success_timestamp_seconds > 0)\n"
            "and on(job, instance, plan) (barctl_plan_enabled == 1)\n"
        ),
        for_="10m",
        severity="critical",
        summary=(
            "barctl plan {{ $labels.plan }}: no successful backup for {{ $value | "
            "humanizeDuration }}"
        ),
        description=(
            "The last successful backup of plan {{ $labels.plan }} on {{ $labels.instance "
            "}} ended {{ $value | humanizeDuration }} ago, more than 1.5 schedule "
            "intervals plus one hour. Restoring now would lose that much. Look for the "
            "reason: failed or refused runs (other alerts), a hung run, missed slots "
            "(barctl_plan_missed_runs_total), a stopped daemon. Take a backup with "
            "`barctl run {{ $labels.plan }}` as soon as the cause is fixed."
        ),
    ),
    Alert(
        name="BarctlBackupNeverSucceeded",
        expr=(
            "(\n"
            "    (time() - barctl_plan_configured_timestamp_seconds)\n"
            "  > on(job, instance, plan) group_left()\n"
            "    (barctl_plan_expected_interval_seconds * 1.5 + 3600)\n"
            ")\n"
            "and on(job, instance, plan) (barctl_plan_last_success_timestamp_seconds == 0)\n"
            "and on(job, instance, plan) (barctl_plan_enabled == 1)\n"
        ),
        for_="10m",
        severity="warning",
        summary="barctl plan {{ $labels.plan }} has never produced a successful backup",
        description=(
            "Plan {{ $labels.plan }} on {{ $labels.instance }} has been configured for "
            "longer than 1.5 schedule intervals plus one hour and has no successful run "
            "in its history. Check `barctl history {{ $labels.plan }}` (no runs at all: "
            "is the daemon scheduling it, is the plan enabled, is the schedule right? "
            "`barctl status` shows the next run), then run `barctl run {{ $labels.plan "
            "}}` by hand."
        ),
    ),
    Alert(
        name="BarctlBackupHung",
        expr=(
            "(\n"
            "    (time() - barctl_plan_run_started_timestamp_seconds)\n"
            "  > on(job, instance, plan) group_left()\n"
            "    barctl_plan_run_timeout_seconds\n"
            ")\n"
            "and on(job, instance, plan) (barctl_plan_running == 1)\n"
        ),
        for_="1m",
        severity="warning",
        summary=(
            "barctl plan {{ $labels.plan }}: a run has been going for {{ $value | "
            "humanizeDuration }}"
        ),
        description=(
            "A run of plan {{ $labels.plan }} on {{ $labels.instance }} started {{ $value "
            "| humanizeDuration }} ago, longer than the plan's timeouts.run_seconds. Find "
            "it with `barctl history {{ $labels.plan }}`: if its barctl process is gone, "
            "the next `barctl run` or daemon start marks it interrupted and replays its "
            "undos; if it is alive, look at the step it is on (`journalctl -u barctl "
            "RUN_ID=<id>`) before stopping it with SIGTERM (undos run on the way out). "
            "Never kill it with SIGKILL while a node is out of the cluster."
        ),
    ),
    Alert(
        name="BarctlNodeDegraded",
        expr="barctl_node_degraded == 1",
        severity="critical",
        summary=(
            "barctl left node {{ $labels.node }} degraded (plan {{ $labels.plan }}): the "
            "cloud may be out of quorum"
        ),
        description=(
            "An undo failed on {{ $labels.node }} during plan {{ $labels.plan }} and no "
            "later successful backup of that node cleared it: the node may still be in "
            "standby, out of the pacemaker cluster, with galera desynced or containers "
            "paused, and the control plane may have lost quorum. Act now: `barctl history "
            "{{ $labels.plan }}` names the failed undo; on the node check `pcs status`, "
            "galera's wsrep state and `podman ps --filter status=paused`, and restore by "
            "hand. The alert clears after the next successful backup of the node."
        ),
    ),
    Alert(
        name="BarctlPolicyReloadFailed",
        expr="barctl_policy_reload_success == 0",
        severity="warning",
        summary=(
            "barctl on {{ $labels.instance }} rejected its new policy; the old one is "
            "still in force"
        ),
        description=(
            "The last reload (SIGHUP / systemctl reload barctl) found an invalid policy, "
            "so the daemon kept the previous one. Run `barctl validate` to list every "
            "problem with FILE:LINE:COL, fix the file, and reload again."
        ),
    ),
    Alert(
        name="BarctlHistoryUnreadable",
        expr="barctl_history_read_success == 0",
        for_="5m",
        severity="warning",
        summary="barctl on {{ $labels.instance }} cannot read its history database",
        description=(
            "The daemon could not open or query history.db in its state directory, so "
            "every series describing past runs is missing and the staleness alerts are "
            "blind. Check `journalctl -u barctl` for the SQLite error, the file's owner "
            "(barctl) and mode, and free space on the state directory's filesystem."
        ),
    ),
    Alert(
        name="BarctlDaemonDown",
        expr='up{job="barctl"} == 0',
        for_="5m",
        severity="warning",
        summary="barctl metrics endpoint {{ $labels.instance }} is down",
        description=(
            "Prometheus cannot scrape barctl on {{ $labels.instance }}: the daemon is "
            "stopped, crashed or its metrics listener is not on the expected address. No "
            "scheduled backups run while it is down. Check `systemctl status barctl` and "
            "`journalctl -u barctl -p warning`, and metrics.listen in the policy."
        ),
    ),
    Alert(
        name="BarctlDaemonAbsent",
        expr='absent(up{job="barctl"})',
        for_="15m",
        severity="warning",
        summary="Prometheus has no barctl scrape target",
        description=(
            'No target of job "barctl" exists, so every barctl alert is silent. Add '
            "etc/prometheus/scrape-barctl.yml to the Prometheus configuration (or fix "
            "service discovery / the job name) and reload Prometheus."
        ),
    ),
)

# Group "barctl-restorable" (issue 11): every backup proven restorable. Sizes, verification and
# drills come from history (barctl/observe/metrics_runs.py), the target's free bytes from the
# gate's df before each run.
RESTORABLE = (
    # The next nightly run writes about one full set of backups (every node's latest verified
    # artifacts); alert when the free space, extrapolated 24 h ahead from its last 3 days,
    # will be below that: the run would fail with a node already out of the cluster.
    Alert(
        name="BarctlTargetWillFill",
        expr=(
            "predict_linear(barctl_target_free_bytes[3d], 86400)\n"
            "  < on(job, instance) group_left()\n"
            "sum by (cloud, job, instance) (barctl_node_backup_size_bytes)\n"
        ),
        for_="30m",
        severity="warning",
        summary="barctl's backup target on {{ $labels.instance }} will not hold the next run",
        description=(
            "At the trend of the last three days, the backup target will have {{ $value | "
            "humanize1024 }}B free in 24 hours, less than one full set of backups (every "
            "node's latest verified artifacts). The next run would fail half-way, or be "
            "refused by the gate. Check `barctl backups` and retention "
            "(`plans.*.retention`, `barctl prune PLAN --dry-run`), remove what is not "
            "barctl's from the target, or grow it."
        ),
    ),
    Alert(
        name="BarctlBackupSizeDropped",
        expr=(
            "sum by (cloud, job, instance, plan, node) (barctl_node_backup_size_bytes)\n"
            "  < 0.5 * sum by (cloud, job, instance, plan, node)"
            " (barctl_node_previous_backup_size_bytes)\n"
        ),
        severity="warning",
        summary=(
            "barctl: the backup of {{ $labels.node }} (plan {{ $labels.plan }}) is less "
            "than half the previous one"
        ),
        description=(
            "The latest verified backup of {{ $labels.node }} weighs {{ $value | "
            "humanize1024 }}B, less than half of the verified backup before it. A "
            "verified archive can still miss data: an exclude that matches too much "
            "(`rear.exclude`), a file system not mounted during the backup, a database "
            "dump that shrank. Compare the two runs with `barctl backups {{ $labels.node "
            "}}` (sizes per file) and list the archive. The alert clears after the next "
            "verified run of the node."
        ),
    ),
    Alert(
        name="BarctlVerificationFailed",
        expr="barctl_node_verification_failed == 1",
        severity="critical",
        summary=(
            "barctl: the latest backup of {{ $labels.node }} (plan {{ $labels.plan }}) "
            "failed its verification"
        ),
        description=(
            "The latest run of plan {{ $labels.plan }} wrote {{ $labels.node }}'s backup "
            "but the checks on the backup target refused it (a truncated or corrupt "
            "archive, an ISO that does not boot, a database dump without its trailer): it "
            "cannot be restored. The reason is in `barctl history {{ $labels.plan }}` and "
            "in the run's manifest (`barctl backups {{ $labels.node }}`). Fix the cause "
            "and run `barctl run {{ $labels.plan }}`; the older verified runs stay on the "
            "target."
        ),
    ),
    Alert(
        name="BarctlDrillFailing",
        expr="barctl_node_drill_failing == 1",
        severity="critical",
        summary=("barctl's restore drill failed for {{ $labels.node }} (plan {{ $labels.plan }})"),
        description=(
            "The latest restore drill could not prove {{ $labels.node }}'s newest "
            "verified run restorable: a file changed or vanished on the target since it "
            "was verified, the archive no longer lists fully, or the ISO's ReaR "
            "configuration does not resolve its archive. `barctl history drill` names the "
            "file and the problem. Until fixed, a restore of this node may fail: take a "
            "new backup (`barctl run {{ $labels.plan }}`) and run `barctl run drill`."
        ),
    ),
    Alert(
        name="BarctlDrillStale",
        expr=(
            "(\n"
            "    (time() - barctl_node_last_drill_success_timestamp_seconds)\n"
            "  > on(job, instance) group_left()\n"
            "    (barctl_drill_expected_interval_seconds * 1.5 + 3600)\n"
            ")\n"
            "and on(job, instance, plan, node)"
            " (barctl_node_last_drill_success_timestamp_seconds > 0)\n"
            "and on(job, instance) (barctl_drill_enabled == 1)\n"
        ),
        for_="10m",
        severity="warning",
        summary=(
            "barctl: no successful restore drill of {{ $labels.node }} for {{ $value | "
            "humanizeDuration }}"
        ),
        description=(
            "The restore drill is enabled but has not proven {{ $labels.node }}'s backups "
            "restorable for {{ $value | humanizeDuration }}, more than 1.5 drill "
            "intervals plus one hour: the drill is failing, refused or not running (is "
            "the daemon up, is `plans.drill` scheduled?). See `barctl history drill` and "
            "run `barctl run drill`."
        ),
    ),
)
