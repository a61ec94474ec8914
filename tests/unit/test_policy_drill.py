"""The policy's `plans.drill`: weekly, disabled by default, scheduled like the backup plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from barctl.config.policy import load_policy
from barctl.errors import InputError
from barctl.service.catchup import enabled_plans

BASE = """\
inventory:
  path: /home/stack/tripleo-inventory.yaml
backup_target:
  nfs: {server: 192.168.24.250, export: /ctl_plane_backups}
plans:
  undercloud: {schedule: "30 1 * * *"}
  controlplane: {schedule: "30 2 * * sun"}
"""


def load(tmp_path: Path, drill: str = "") -> object:
    """The policy BASE plus `drill` lines under plans."""
    path = tmp_path / "policy.yaml"
    path.write_text(BASE + drill)
    return load_policy(path)


def test_drill_defaults_weekly_disabled_covering_both_plans(tmp_path: Path) -> None:
    """Without a drill key the drill exists, weekly on Saturday, disabled, covering both
    plans; the daemon schedules no drill job."""
    policy = load(tmp_path)
    drill = policy.plans.drill  # type: ignore[attr-defined]
    assert (drill.enabled, drill.schedule, drill.covers) == (
        False,
        "30 4 * * sat",
        ("undercloud", "controlplane"),
    )
    assert list(enabled_plans(policy)) == ["undercloud", "controlplane"]  # type: ignore[arg-type]
    assert [name for name, _ in policy.plans.items()] == ["undercloud", "controlplane"]  # type: ignore[attr-defined]


def test_enabled_drill_is_scheduled_and_an_interval_replaces_the_weekly_default(
    tmp_path: Path,
) -> None:
    """enabled: true gives the drill a job; interval_seconds alone drops the default cron."""
    policy = load(
        tmp_path, "  drill: {enabled: true, interval_seconds: 60, covers: [undercloud]}\n"
    )
    plans = enabled_plans(policy)  # type: ignore[arg-type]
    assert list(plans) == ["undercloud", "controlplane", "drill"]
    assert (plans["drill"].schedule, plans["drill"].interval_seconds) == (None, 60)


@pytest.mark.parametrize(
    ("drill", "location", "message"),
    [
        ("  drill: {covers: [compute]}\n", "8:20: plans.drill.covers.0", "'undercloud'"),
        ("  drill: {covers: []}\n", "8:19: plans.drill.covers", "must not be empty"),
        ('  drill: {schedule: "30 4 * * 6"}\n', "8:21: plans.drill.schedule", "day names"),
        ("  drill:\n", "8:9: plans.drill", "cannot be empty"),
    ],
)
def test_bad_drill_sections_are_located(
    tmp_path: Path, drill: str, location: str, message: str
) -> None:
    """An unknown plan to cover, none, a numeric weekday and an empty key are each refused at
    their line and column."""
    with pytest.raises(InputError) as caught:
        load(tmp_path, drill)
    problems = [str(problem) for problem in caught.value.problems]
    assert len(problems) == 1, problems
    assert location in problems[0] and message in problems[0], problems
