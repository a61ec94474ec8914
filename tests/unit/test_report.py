"""Operator-facing output: progress on terminals and in logs, gate verdicts."""

from __future__ import annotations

import io

from barctl import redaction
from barctl.console import report
from barctl.outcome import RunOutcome
from barctl.run import backup, gate, gate_probe


class TerminalStream(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        """Pretend to be a TTY."""
        return True


def test_plain_progress_is_one_line_per_event() -> None:
    """Off a terminal every step event is its own line, without escape sequences."""
    stream = io.StringIO()
    show = report.progress_printer(stream)
    show("ctl-0", "rear_mkbackup", "started")
    show("ctl-0", "rear_mkbackup", "success (1.0s)")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "\x1b" not in stream.getvalue()
    assert lines[1].split()[1:] == ["ctl-0", "rear_mkbackup", "success", "(1.0s)"]


def test_live_progress_redraws_one_line_per_node() -> None:
    """On a terminal the block of node lines is redrawn in place, one line per node."""
    stream = TerminalStream()
    show = report.progress_printer(stream)
    show("ctl-0", "pcs_cluster_stop", "started")
    show("ctl-1", "ceph_auth_export", "started")
    before = len(stream.getvalue())
    show("ctl-0", "rear_mkbackup", "started")
    redraw = stream.getvalue()[before:]
    assert redraw.startswith("\x1b[2F")
    assert redraw.count("\x1b[2K") == 2
    assert "ctl-0        rear_mkbackup" in redraw and "ctl-1        ceph_auth_export" in redraw


def test_gate_text_names_each_refusing_node_once() -> None:
    """A refusing target or node is named once with its reason, and the verdict says so."""
    probes = (gate_probe.Probe("ctl-0"), gate_probe.Probe("ctl-1", "connect timeout"))
    target = gate_probe.Probe("backup-0", "connection refused")
    verdict = gate.GateResult(probes, target, gate.evaluate(probes, target, pacemaker=True))
    text = report.gate_text(verdict)
    assert text.count("ctl-1: connect timeout") == 1
    assert text.count("backup-0: connection refused") == 1
    assert text.endswith("gate REFUSED the run: nothing was changed")


def test_run_output_never_prints_a_registered_secret() -> None:
    """`barctl run`'s text (summary and gate reasons) shows *** for every registered secret."""
    secret = "Galera-Root-7f3b9c"
    redaction.SECRETS.clear()
    redaction.register_secret(secret)
    try:
        probes = (gate_probe.Probe("ctl-0", f"mysql failed: bad password {secret}"),)
        target = gate_probe.Probe("backup-0")
        verdict = gate.GateResult(probes, target, (("ctl-0", f"hiera: {secret}"),))
        result = backup.Result("r1", RunOutcome.REFUSED, f"refused: {secret}", verdict)
        text = report.result_text(result, dry_run=False)
    finally:
        redaction.SECRETS.clear()
    assert secret not in text
    assert "ctl-0: mysql failed: bad password ***" in text
    assert text.endswith("run r1: refused: refused: ***")
