"""The policy file (docs/design.md "Policy file"): strict pydantic models and their loader.

Every model is strict, frozen and rejects unknown keys; validation problems are reported all at once
as `FILE:LINE:COL: key.path: message` (barctl.config.policy_errors does the mapping). The sections
live in barctl.config.policy_sections; every field documents itself (barctl.config.policy_docs
renders the example policy and the design.md key table from those descriptions).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator
from typing_extensions import Self

from barctl.config.policy_drill import DRILL_PLAN, DrillPlan
from barctl.config.policy_errors import problems_from_validation, suspicious_scalars
from barctl.config.policy_fields import (
    CatchUpWindowSeconds,
    HistoryKeepDays,
    LocalPath,
    MisfireGraceSeconds,
)
from barctl.config.policy_rear import RearSection
from barctl.config.policy_sections import (
    BackupTargetSection,
    ControlplanePlan,
    InventorySection,
    Mode,
    NfsTarget,
    NodeHygieneSection,
    PlanSection,
    ScheduleSection,
    SftpTarget,
    SshSection,
    TimeoutsSection,
    UndercloudPlan,
    UndercloudSection,
    _check_listen,
    _Model,
    split_listen,
)
from barctl.config.yamlsource import YamlDocument, load_yaml
from barctl.errors import InputError, SourceProblem

__all__ = [
    "DRILL_PLAN",
    "BackupTargetSection",
    "ControlplanePlan",
    "DrillPlan",
    "InventorySection",
    "Mode",
    "NfsTarget",
    "PlanSection",
    "RearSection",
    "ScheduleSection",
    "SftpTarget",
    "SshSection",
    "TimeoutsSection",
    "UndercloudPlan",
    "UndercloudSection",
    "_Model",
    "split_listen",
]

DEFAULT_POLICY_PATH = Path("/etc/barctl/policy.yaml")


class Plans(_Model):
    """The two plan names barctl knows; at least one must be present."""

    undercloud: UndercloudPlan | None = Field(
        default=None,
        description="Back up the undercloud (live, then ReaR). At least one of undercloud and"
        " controlplane (no other plan names).",
        examples=[{"schedule": "30 1 * * *"}],
    )
    controlplane: ControlplanePlan | None = Field(
        default=None,
        description="Back up the overcloud control plane.",
        examples=[{"schedule": "30 2 * * sun", "jitter_seconds": 600}],
    )

    drill: DrillPlan = Field(
        default=DrillPlan(),
        description="The restore drill: re-verify on the target the newest verified run of"
        " every node of the plans it covers (checksums against the manifest, full archive"
        " listing, the ISO's ReaR configuration), changing nothing on any node. Recorded like"
        " a backup run, as plan drill.",
        examples=[{}],
    )

    @field_validator("undercloud", "controlplane", "drill", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # `undercloud:` with nothing under it is YAML null: it used to drop the plan silently.
        if value is None:
            raise ValueError(
                "a plan cannot be empty (null): remove the key, or keep the plan with"
                " enabled: false"
            )
        return value

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        if self.undercloud is None and self.controlplane is None:
            raise ValueError("define at least one plan: undercloud or controlplane")
        return self

    def items(self) -> tuple[tuple[str, PlanSection], ...]:
        """The plans present, as (name, plan) pairs in file order of the design."""
        pairs: tuple[tuple[str, PlanSection | None], ...] = (
            ("undercloud", self.undercloud),
            ("controlplane", self.controlplane),
        )
        return tuple((name, plan) for name, plan in pairs if plan is not None)

    def scheduled(self) -> tuple[tuple[str, ScheduleSection], ...]:
        """The backup plans and the drill: every plan the daemon may schedule."""
        return (*self.items(), (DRILL_PLAN, self.drill))


class MetricsSection(_Model):
    """The Prometheus endpoint."""

    listen: Annotated[str, AfterValidator(_check_listen)] = Field(
        default="127.0.0.1:17643",
        description="Prometheus endpoint, host:port (IPv6 as [::1]:17643). Plain HTTP: keep it"
        " on loopback or a management network.",
        examples=["192.168.24.2:17643"],
    )
    cloud: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")] | None = Field(
        default=None,
        description="Name of this cloud, added as label cloud=NAME to every barctl series, so"
        " that one Prometheus scraping several underclouds can select one cloud (the"
        " dashboard's cloud variable, Alertmanager grouping). Letters, digits, `_ . -`, at most"
        " 63; null: no cloud label.",
        examples=["east"],
    )


class LogSection(_Model):
    """Log output format."""

    format: Literal["auto", "journald", "json", "console"] = Field(
        default="auto",
        description="auto: journald when started by systemd (JOURNAL_STREAM), else console;"
        " $BARCTL_LOG_FORMAT wins when set.",
        examples=["json"],
    )


class DaemonSection(_Model):
    """Scheduler behaviour after downtime."""

    misfire_grace_seconds: MisfireGraceSeconds = Field(
        default=21600,
        description="A run that could not start on time (daemon down, previous run still"
        " going) still starts if at most this many seconds late.",
        examples=[3600],
    )
    catch_up_window_seconds: CatchUpWindowSeconds = Field(
        default=86400,
        description="After downtime, run the latest missed slot if it is at most this many"
        " seconds old; 0 disables catch-up.",
        examples=[0],
    )


class HistorySection(_Model):
    """How long the history database keeps its rows."""

    keep_days: HistoryKeepDays = Field(
        default=400,
        description="The daemon deletes the rows of runs that ended more than this many days ago"
        " (at start and after each run), so history.db and each scrape stay small; each plan's"
        " latest run and latest success, runs not ended and runs with a pending undo are kept,"
        " and counters (barctl_plan_runs_total, ...) do not go back. The default keeps a year"
        " and a month of nightly runs. 0 keeps everything.",
        examples=[90],
    )


class Policy(_Model):
    """The whole policy file."""

    inventory: InventorySection = Field(
        description="Where the TripleO static inventory is.", examples=[{}]
    )
    undercloud: UndercloudSection = Field(
        default=UndercloudSection(),
        description="How barctl reaches the undercloud.",
        examples=[{"address": "192.168.24.1"}],
    )
    ssh: SshSection = Field(
        default=SshSection(), description="SSH settings shared by every node.", examples=[{}]
    )
    backup_target: BackupTargetSection = Field(
        description="Where ReaR writes: exactly one of nfs or sftp.", examples=[{}]
    )
    plans: Plans = Field(description="What to back up, and when.", examples=[{}])
    rear: RearSection = Field(
        default=RearSection(),
        description="Each node's /etc/rear/local.conf, written by barctl.",
        examples=[{}],
    )
    node_hygiene: NodeHygieneSection = Field(
        default=NodeHygieneSection(),
        description="What barctl leaves on each node between runs.",
        examples=[{}],
    )
    state_directory: LocalPath = Field(
        default=Path("/var/lib/barctl"),
        description="History database and accepted host keys. $STATE_DIRECTORY wins when set.",
        examples=[Path("/var/lib/barctl")],
    )
    runtime_directory: LocalPath = Field(
        default=Path("/run/barctl"),
        description="Lock files. $RUNTIME_DIRECTORY wins when set.",
        examples=[Path("/run/barctl")],
    )
    metrics: MetricsSection = Field(
        default=MetricsSection(), description="The Prometheus endpoint.", examples=[{}]
    )
    log: LogSection = Field(default=LogSection(), description="Log output.", examples=[{}])
    daemon: DaemonSection = Field(
        default=DaemonSection(), description="Scheduler behaviour after downtime.", examples=[{}]
    )
    history: HistorySection = Field(
        default=HistorySection(), description="Retention of the history database.", examples=[{}]
    )


class ProblemLocator(Protocol):
    """Anything that turns a key path into a located problem (YamlDocument does)."""

    def problem(self, key_path: Sequence[str | int], message: str) -> SourceProblem:
        """A problem located at the value of `key_path`."""
        ...


def resolve_policy_path(argument: str | None, environ: Mapping[str, str]) -> Path:
    """Policy path: the -c/--config argument, else $BARCTL_CONFIG, else /etc/barctl/policy.yaml."""
    if argument:
        return Path(argument)
    if environ.get("BARCTL_CONFIG"):
        return Path(environ["BARCTL_CONFIG"])
    return DEFAULT_POLICY_PATH


def load_policy_document(path: str | Path) -> tuple[Policy, YamlDocument]:
    """Load and validate the policy; raise InputError listing every problem found."""
    document = load_yaml(path)
    data: Any = document.data
    if data is None:
        raise InputError([document.problem((), "the policy file is empty")])
    if not isinstance(data, dict):
        kind = type(data).__name__
        message = f"the top level must be a mapping of sections (inventory, ...), got a {kind}"
        raise InputError([document.problem((), message)])
    base_directory = Path(os.path.abspath(path)).parent
    problems = suspicious_scalars(document)
    try:
        policy = Policy.model_validate(data, context={"base_directory": base_directory})
    except ValidationError as error:
        problems = problems_from_validation(document, error, Policy, problems)
    if problems:
        raise InputError(problems)
    return policy, document


def load_policy(path: str | Path) -> Policy:
    """Load and validate the policy at `path` (see load_policy_document)."""
    return load_policy_document(path)[0]


def check_policy_against_inventory(
    policy: Policy, document_or_locator: ProblemLocator, known_groups: Collection[str]
) -> list[SourceProblem]:
    """One problem per plan group that the inventory does not define, at that list item."""
    existing = ", ".join(sorted(known_groups)) or "(none)"
    problems = []
    for name, plan in policy.plans.items():
        for index, group in enumerate(plan.groups):
            if group not in known_groups:
                message = f"unknown inventory group {group!r}; groups in the inventory: {existing}"
                key_path = ("plans", name, "groups", index)
                problems.append(document_or_locator.problem(key_path, message))
    return problems


def _environment_path(environ: Mapping[str, str], name: str) -> Path | None:
    """First entry of a systemd directory variable (they may list several, ':'-separated)."""
    value = environ.get(name, "").split(":")[0]
    return Path(value) if value else None


def effective_state_directory(policy: Policy, environ: Mapping[str, str]) -> Path:
    """$STATE_DIRECTORY (systemd StateDirectory=) when set, else policy state_directory."""
    return _environment_path(environ, "STATE_DIRECTORY") or policy.state_directory


def effective_runtime_directory(policy: Policy, environ: Mapping[str, str]) -> Path:
    """$RUNTIME_DIRECTORY (systemd RuntimeDirectory=) when set, else policy runtime_directory."""
    return _environment_path(environ, "RUNTIME_DIRECTORY") or policy.runtime_directory


def effective_private_key(policy: Policy, environ: Mapping[str, str]) -> Path:
    """$CREDENTIALS_DIRECTORY/ssh_key when CREDENTIALS_DIRECTORY is set, else ssh.private_key."""
    credentials = _environment_path(environ, "CREDENTIALS_DIRECTORY")
    return credentials / "ssh_key" if credentials else policy.ssh.private_key
