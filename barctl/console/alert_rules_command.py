"""`barctl alert-rules`: the policy's alert rules to standard output or a file."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from barctl.config.policy import load_policy, resolve_policy_path
from barctl.errors import BarctlError
from barctl.observe import alert_rules


def run(config: str | None, runbook_base: str | None, output: str | None) -> str:
    """The rules for the policy at `config`, or "" once written to `output` (problems raise)."""
    base = alert_rules.DEFAULT_RUNBOOK_BASE if runbook_base is None else runbook_base
    problem = alert_rules.check_runbook_base(base)
    if problem is not None:
        raise BarctlError(problem)
    policy = load_policy(resolve_policy_path(config, os.environ))
    text = alert_rules.rules_document(policy, datetime.now(timezone.utc), base)
    if output is None:
        return text
    try:
        Path(output).write_text(text)
    except OSError as error:
        raise BarctlError(f"cannot write {output}: {error.strerror}") from error
    return ""
