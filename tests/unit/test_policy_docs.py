"""The policy schema documents itself: example policy and design.md key table are generated."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from barctl.config import policy_docs
from barctl.config.policy import Policy, load_policy

REPO = Path(__file__).resolve().parents[2]


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        section = policy_docs.section_of(field.annotation)
        if section is not None:
            found += _models(section)
    return found


@pytest.mark.parametrize("relative", [policy_docs.EXAMPLE_PATH, policy_docs.DESIGN_PATH])
def test_committed_documentation_equals_the_generation(relative: Path) -> None:
    """etc/barctl/policy.yaml and design.md's key table are exactly what the schema renders."""
    expected = policy_docs.generated(REPO)[REPO / relative]
    assert (REPO / relative).read_text(encoding="utf-8") == expected, (
        "stale: run `python -m barctl.config.policy_docs`"
    )


def test_every_field_has_a_description_and_an_example() -> None:
    """No policy key goes undocumented: each field of each model has a description and examples."""
    undocumented = [
        f"{model.__name__}.{name}"
        for model in _models(Policy)
        for name, field in model.model_fields.items()
        if not field.description or not field.examples
    ]
    assert undocumented == []


def test_generated_example_loads(tmp_path: Path) -> None:
    """The generated example is a valid policy with the example values it shows."""
    path = tmp_path / "policy.yaml"
    path.write_text(policy_docs.example_policy(), encoding="utf-8")
    policy = load_policy(path)
    assert policy.undercloud.address == "192.168.24.1"
    assert policy.backup_target.nfs is not None
    assert policy.backup_target.sftp is None
    assert policy.plans.controlplane is not None
    assert policy.plans.controlplane.schedule == "30 2 * * sun"


def test_example_lists_every_key_with_its_range_and_default() -> None:
    """Each key is in the example with its bound and default, e.g. connect_timeout_seconds."""
    text = policy_docs.example_policy()
    assert "# Seconds to wait for the TCP connection and the SSH handshake. Range 1-300." in text
    assert "Default 10.\n  connect_timeout_seconds: 10\n" in text
    for key in policy_docs.keys(Policy):
        assert f"{key.path[-1]}:" in text


def test_key_table_merges_the_plans_and_keeps_their_defaults() -> None:
    """Shared plan keys are one plans.*.KEY row; different defaults are named per plan."""
    table = policy_docs.key_table()
    assert "| `plans.*.groups` | `[Undercloud]` (undercloud), `[Controller]` (controlplane) |" in (
        table
    )
    assert "| `plans.controlplane.mode` | `rolling` |" in table
    assert "| `ssh.max_parallel` | `8` | Most SSH sessions open at once. Range 1-64. |" in table


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    """`policy_docs --check` exits 1 on a hand-edited file and writes nothing."""
    (tmp_path / "etc" / "barctl").mkdir(parents=True)
    (tmp_path / "docs").mkdir()
    design = (REPO / policy_docs.DESIGN_PATH).read_text(encoding="utf-8")
    (tmp_path / policy_docs.DESIGN_PATH).write_text(design, encoding="utf-8")
    (tmp_path / policy_docs.EXAMPLE_PATH).write_text("edited by hand\n", encoding="utf-8")
    assert policy_docs.main(["--root", str(tmp_path), "--check"]) == 1
    assert (tmp_path / policy_docs.EXAMPLE_PATH).read_text(encoding="utf-8") == "edited by hand\n"
    assert policy_docs.main(["--root", str(tmp_path)]) == 0
    assert policy_docs.main(["--root", str(tmp_path), "--check"]) == 0


@pytest.mark.parametrize("value", ["30 1 * * *", "127.0.0.1:17643", "yes", "0700", "2:30", ""])
def test_scalar_round_trips_through_yaml(value: str) -> None:
    """Strings YAML 1.1 would misread (alias, booleans, base 60, octal) are quoted."""
    import yaml

    assert yaml.safe_load(f"key: {policy_docs.scalar(value)}") == {"key": value}
