"""The policy's `plans.drill` section: the restore drill, a third plan kind (issue 11 item 8).

A drill changes nothing on any node: it re-reads the newest verified run of each node of the
plans it covers on the backup target (checksums against the manifest, a full archive listing,
the ISO's own ReaR configuration). It is scheduled like the backup plans, weekly by default,
and disabled by default: a full listing reads every archive once, which a site should choose.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from barctl.config.policy_fields import (
    CommandSeconds,
    LongStepSeconds,
    RunSeconds,
    _list_to_tuple,
)
from barctl.config.policy_sections import ScheduleSection, _Model

DRILL_PLAN = "drill"
DEFAULT_DRILL_SCHEDULE = "30 4 * * sat"
BackupPlanName = Literal["undercloud", "controlplane"]


class DrillTimeoutsSection(_Model):
    """Time limits of one drill, in seconds."""

    command_seconds: CommandSeconds = Field(
        default=300, description="Any short command (listing, reading a manifest).", examples=[300]
    )
    check_seconds: LongStepSeconds = Field(
        default=14400,
        description="Checksums of one node's run, and the full listing of its archive: each"
        " reads every byte on the target.",
        examples=[14400],
    )
    run_seconds: RunSeconds = Field(default=43200, description="Whole drill.", examples=[43200])


class DrillPlan(ScheduleSection):
    """Prove the newest verified runs restorable, on the target, without touching a node."""

    schedule: str | None = Field(
        default=DEFAULT_DRILL_SCHEDULE,
        description="5-field cron as for the backup plans; weekly by default. Giving"
        " interval_seconds instead drops this default.",
        examples=[DEFAULT_DRILL_SCHEDULE],
    )
    enabled: bool = Field(
        default=False,
        description="true schedules the drill (a full listing reads every archive once).",
        examples=[True],
    )
    covers: Annotated[
        tuple[BackupPlanName, ...], BeforeValidator(_list_to_tuple), Field(min_length=1)
    ] = Field(
        default=("undercloud", "controlplane"),
        description="Backup plans whose nodes are drilled (those present in the policy).",
        examples=[("controlplane",)],
    )
    timeouts: DrillTimeoutsSection = Field(
        default=DrillTimeoutsSection(), description="Time limits of one drill.", examples=[{}]
    )

    @model_validator(mode="before")
    @classmethod
    def _interval_replaces_default(cls, data: Any) -> Any:
        # Exactly one of schedule and interval_seconds (ScheduleSection): an interval given
        # without a schedule replaces the weekly default instead of clashing with it.
        if isinstance(data, dict) and "interval_seconds" in data and "schedule" not in data:
            return {**data, "schedule": None}
        return data
