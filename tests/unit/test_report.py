"""Operator-facing output: progress on terminals and in logs, gate verdicts."""

from __future__ import annotations

import io

from barctl import gate, report


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
    probes = (gate.Probe("ctl-0"), gate.Probe("ctl-1", "connect timeout"))
    target = gate.Probe("backup-0", "connection refused")
    verdict = gate.GateResult(probes, target, gate.evaluate(probes, target, pacemaker=True))
    text = report.gate_text(verdict)
    assert text.count("ctl-1: connect timeout") == 1
    assert text.count("backup-0: connection refused") == 1
    assert text.endswith("gate REFUSED the run: nothing was changed")
