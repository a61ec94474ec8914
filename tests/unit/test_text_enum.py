"""barctl's StrEnum behaves as Python 3.11's enum.StrEnum on every supported Python (3.9+)."""

from __future__ import annotations

import json

from barctl.outcome import RunOutcome, Trigger
from barctl.reasons import Reason


def test_a_member_prints_and_formats_as_its_value() -> None:
    """str(), f-strings and %-formatting give the stored word, not `Class.MEMBER`."""
    assert str(RunOutcome.SUCCESS) == "success"
    assert f"{Trigger.CATCH_UP}" == "catch-up"
    assert f"{Reason.TIMED_OUT:>10}" == " timed_out"
    assert "%s" % RunOutcome.DEGRADED == "degraded"  # noqa: UP031 - the %-path is what is tested


def test_a_member_is_its_value_for_comparison_and_json() -> None:
    """A member equals its string, is found by it, and JSON writes the bare value."""
    assert RunOutcome.FAILED == "failed"
    assert RunOutcome("refused") is RunOutcome.REFUSED
    assert json.dumps({"outcome": RunOutcome.SUCCESS}) == '{"outcome": "success"}'
