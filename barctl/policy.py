"""The policy file (docs/design.md "Policy file"): strict pydantic models and their loader.

Every model is strict, frozen and rejects unknown keys; validation problems are reported all at
once as `FILE:LINE:COL: key.path: message` (barctl.policy_errors does the mapping).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from barctl.errors import InputError, SourceProblem
from barctl.policy_errors import problems_from_validation, suspicious_scalars
from barctl.policy_fields import (
    AnyLocalPath,
    CatchUpWindowSeconds,
    CommandSeconds,
    ConnectTimeout,
    Groups,
    Host,
    IntervalSeconds,
    JitterSeconds,
    LocalPath,
    LongStepSeconds,
    MisfireGraceSeconds,
    Names,
    RejoinSeconds,
    RemotePath,
    RunSeconds,
    User,
    check_host,
)
from barctl.schedule import check_fires, parse_cron
from barctl.yamlsource import YamlDocument, load_yaml

DEFAULT_POLICY_PATH = Path("/etc/barctl/policy.yaml")


def split_listen(listen: str) -> tuple[str, int]:
    """Split "host:port" / "[v6]:port" into (host, port); raise ValueError when malformed."""
    host, separator, port_text = listen.rpartition(":")
    if not separator or not host:
        raise ValueError(f"expected host:port (e.g. 127.0.0.1:17643), got {listen!r}")
    if host.startswith("[") and host.endswith("]"):
        host = str(ipaddress.IPv6Address(host[1:-1]))
    elif ":" in host:
        raise ValueError(f"put an IPv6 address in brackets, e.g. [::1]:17643, got {listen!r}")
    else:
        check_host(host)
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port must be 1-65535, got {port_text!r}")
    return host, int(port_text)


def _check_listen(value: str) -> str:
    split_listen(value)
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {value!r} (use an IANA name like UTC or Europe/Paris)"
        raise ValueError(message) from None
    return value


Mode = Literal["rolling", "offline"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class InventorySection(_Model):
    """Where the TripleO static inventory is; a relative path is relative to the policy file."""

    path: AnyLocalPath
    stacks: Names = ()

    @field_validator("path")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        base = (info.context or {}).get("base_directory")
        if not value.is_absolute() and base is None:
            raise ValueError(f"must be an absolute path, got {str(value)!r}")
        return Path(os.path.normpath(Path(base or "/") / value))


class UndercloudSection(_Model):
    """How barctl reaches the undercloud (the inventory only says `ansible_connection: local`)."""

    address: Host | None = None
    user: User = "stack"


class SshSection(_Model):
    """SSH settings shared by every node."""

    user: User | None = None
    default_user: User = "heat-admin"
    port: Annotated[int, Field(ge=1, le=65535)] = 22
    private_key: LocalPath = Path("/etc/barctl/credentials/id_ed25519")
    known_hosts: LocalPath = Path("/etc/barctl/known_hosts")
    host_key_policy: Literal["strict", "accept-new"] = "strict"
    connect_timeout_seconds: ConnectTimeout = 10
    max_parallel: Annotated[int, Field(ge=1, le=64)] = 8


class NfsTarget(_Model):
    """An NFS export that ReaR writes to."""

    server: Host
    export: RemotePath


class SftpTarget(_Model):
    """An SFTP location; the password is read from a file (or a systemd credential)."""

    host: Host
    user: User
    path: RemotePath
    password_file: LocalPath


class BackupTarget(_Model):
    """Exactly one of nfs / sftp, plus the node barctl checks it from."""

    nfs: NfsTarget | None = None
    sftp: SftpTarget | None = None
    node: Host | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.nfs is None) == (self.sftp is None):
            given = "both" if self.nfs else "neither"
            raise ValueError(f"give exactly one of nfs or sftp, not {given}")
        return self


class Timeouts(_Model):
    """Time limits of one run, in seconds."""

    command_seconds: CommandSeconds = 300
    database_dump_seconds: LongStepSeconds = 3600
    rear_seconds: LongStepSeconds = 14400
    rejoin_seconds: RejoinSeconds = 1800
    run_seconds: RunSeconds = 43200


class Plan(_Model):
    """What is shared by both plans: when to run, and on which inventory groups."""

    timezone: Annotated[str, AfterValidator(_check_timezone)] = "UTC"
    schedule: str | None = None
    interval_seconds: IntervalSeconds | None = None
    jitter_seconds: JitterSeconds = 0
    groups: Groups
    enabled: bool = True
    timeouts: Timeouts = Timeouts()

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            check_fires(parse_cron(value, "UTC"), value)
        return value

    @model_validator(mode="after")
    def _one_timing(self) -> Self:
        if (self.schedule is None) == (self.interval_seconds is None):
            given = "both" if self.schedule is not None else "neither"
            raise ValueError(f"give exactly one of schedule or interval_seconds, not {given}")
        return self


class UndercloudPlan(Plan):
    """Back up the undercloud (offline by nature; no mode)."""

    groups: Groups = ("Undercloud",)


class ControlplanePlan(Plan):
    """Back up the overcloud control plane, one node at a time (rolling) or all stopped."""

    groups: Groups = ("Controller",)
    mode: Mode = "rolling"


class Plans(_Model):
    """The two plan names barctl knows; at least one must be present."""

    undercloud: UndercloudPlan | None = None
    controlplane: ControlplanePlan | None = None

    @field_validator("undercloud", "controlplane", mode="before")
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

    def items(self) -> tuple[tuple[str, Plan], ...]:
        """The plans present, as (name, plan) pairs in file order of the design."""
        pairs: tuple[tuple[str, Plan | None], ...] = (
            ("undercloud", self.undercloud),
            ("controlplane", self.controlplane),
        )
        return tuple((name, plan) for name, plan in pairs if plan is not None)


class MetricsSection(_Model):
    """The Prometheus endpoint."""

    listen: Annotated[str, AfterValidator(_check_listen)] = "127.0.0.1:17643"


class LogSection(_Model):
    """Log output format (auto: journald when JOURNAL_STREAM says so, else console)."""

    format: Literal["auto", "journald", "json", "console"] = "auto"


class DaemonSection(_Model):
    """Scheduler behaviour after downtime."""

    misfire_grace_seconds: MisfireGraceSeconds = 21600
    catch_up_window_seconds: CatchUpWindowSeconds = 86400


class Policy(_Model):
    """The whole policy file."""

    inventory: InventorySection
    undercloud: UndercloudSection = UndercloudSection()
    ssh: SshSection = SshSection()
    backup_target: BackupTarget
    plans: Plans
    state_directory: LocalPath = Path("/var/lib/barctl")
    runtime_directory: LocalPath = Path("/run/barctl")
    metrics: MetricsSection = MetricsSection()
    log: LogSection = LogSection()
    daemon: DaemonSection = DaemonSection()


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


def effective_sftp_password_file(policy: Policy, environ: Mapping[str, str]) -> Path | None:
    """$CREDENTIALS_DIRECTORY/sftp_password when set, else sftp.password_file; None for nfs."""
    sftp = policy.backup_target.sftp
    if sftp is None:
        return None
    credentials = _environment_path(environ, "CREDENTIALS_DIRECTORY")
    return credentials / "sftp_password" if credentials else sftp.password_file
