"""metrics.cloud: one label on every series, so that a fleet's daemons stay apart in Prometheus."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from barctl.config.policy import load_policy
from barctl.errors import InputError
from barctl.observe.metrics import render
from tests.metrics.helpers import make_source, parse, write_world


def scrape_with(tmp_path: Path, metrics: dict[str, object]) -> set[frozenset[tuple[str, str]]]:
    """The label sets of one scrape of the helpers' world with `metrics` in the policy."""
    _, inventory = write_world(tmp_path)
    path = tmp_path / "policy.yaml"
    document = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**document, "metrics": metrics}))
    samples = parse(render(make_source(load_policy(path), inventory)))
    return {labels for _, labels in samples}


def test_cloud_label_is_on_every_series(tmp_path: Path) -> None:
    """metrics.cloud: east puts cloud="east" on every sample of every family."""
    label_sets = scrape_with(tmp_path, {"cloud": "east"})
    assert len(label_sets) > 50
    assert all(("cloud", "east") in labels for labels in label_sets)


def test_without_cloud_no_series_has_the_label(tmp_path: Path) -> None:
    """The default (null) exports no cloud label: single-cloud setups see no change."""
    label_sets = scrape_with(tmp_path, {})
    assert not any(name == "cloud" for labels in label_sets for name, _ in labels)


@pytest.mark.parametrize("cloud", ["", "east west", "-east", "a" * 64, 'x"y'])
def test_a_cloud_that_is_no_label_value_is_refused(tmp_path: Path, cloud: str) -> None:
    """A cloud name with spaces, quotes, a leading dash or over 63 characters is a policy error
    naming metrics.cloud."""
    with pytest.raises(InputError) as raised:
        scrape_with(tmp_path, {"cloud": cloud})
    assert "metrics.cloud" in str(raised.value.problems[0])
