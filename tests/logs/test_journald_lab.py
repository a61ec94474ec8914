"""Real journal entries from real lab runs, caught by a stand-in socket (ecosystem.md §4.3).

Each run happens in a private mount namespace with a tmpfs on /run/systemd, where
`journal_capture.py` binds `/run/systemd/journal/socket`; the host's /run is untouched. The lab's
hosts are network namespaces, which a mount namespace does not separate: barctl reaches them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from barctl.observe import logs
from lab import Lab
from tests.engine.helpers import set_up

pytestmark = pytest.mark.lab

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CAPTURE = HERE / "journal_capture.py"
MOUNT_THEN_EXEC = 'mount -t tmpfs tmpfs /run/systemd && exec "$0" "$@"'


def _skip_unless_namespaces() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: a private mount namespace with a tmpfs on /run/systemd")
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("needs unshare and mount (util-linux)")
    if not Path("/run/systemd").is_dir():
        pytest.skip("/run/systemd does not exist to mount a tmpfs over")


def capture(out: Path, command: list[str], environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `command` under the stand-in journal; its decoded entries, exit code and stderr."""
    _skip_unless_namespaces()
    argv = [
        "unshare", "--mount", "--propagation", "private", "sh", "-c", MOUNT_THEN_EXEC,
        sys.executable, str(CAPTURE), str(out), "--", *command,
    ]  # fmt: skip
    base = {key: value for key, value in os.environ.items() if key != "BARCTL_LOG_FORMAT"}
    result = subprocess.run(
        argv,
        env={**base, **(environ or {})},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert out.exists(), f"capture failed: {result.stdout}\n{result.stderr}"
    document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    document["stdout"] = result.stdout
    return document


def barctl(policy: Path, *arguments: str) -> list[str]:
    """argv of the real CLI with remote output logged (-v)."""
    return [sys.executable, "-m", "barctl", "-c", str(policy), "-v", *arguments]


def named(entries: list[dict[str, str]], message: str) -> list[dict[str, str]]:
    """Entries whose MESSAGE is `message`."""
    return [entry for entry in entries if entry.get("MESSAGE") == message]


def assert_secret_absent(document: dict[str, Any], secret: str) -> None:
    """`secret` appears in no field of any entry, nor on stderr or stdout."""
    for entry in document["entries"]:
        for name, value in entry.items():
            assert secret not in value, f"{name} leaks the secret: {entry}"
    assert secret not in document["stderr"]
    assert secret not in document["stdout"]


def test_lab_backup_sends_native_entries_with_run_node_and_step_fields(
    lab: Lab, tmp_path: Path
) -> None:
    """A real controlplane backup, stderr detected as the journal, sends the documented fields."""
    policy = lab.write_policy(tmp_path / "policy.yaml", log={"format": "auto"})
    set_up(policy, "controlplane")
    document = capture(tmp_path / "journal.json", barctl(policy, "run", "controlplane"))
    assert document["returncode"] == 0, document["stdout"] + document["stderr"]
    entries = document["entries"]
    assert entries, f"no datagrams; stderr: {document['stderr']}"
    assert document["stderr"] == "", "stderr is the journal: nothing is written there"
    for entry in entries:
        assert entry["SYSLOG_IDENTIFIER"] == "barctl"
        assert entry["PRIORITY"] in {"2", "3", "4", "6", "7"}
        assert entry["LOGGER"]
        assert all(name == name.upper() for name in entry)

    output = [entry for entry in entries if entry.get("STREAM") in ("stdout", "stderr")]
    assert output, "remote command output lines are logged"
    run_ids = {entry.get("RUN_ID") for entry in output}
    assert len(run_ids) == 1
    assert None not in run_ids
    for entry in output:
        assert entry["PLAN"] == "controlplane"
        assert entry["NODE"]
        assert entry["STEP"]
    controllers = {name for name in lab.host_names if name.startswith("ctl-")}
    assert controllers <= {entry["NODE"] for entry in output}

    (started,) = named(entries, "Run started")
    assert started["MESSAGE_ID"] == logs.RUN_STARTED
    (finished,) = named(entries, "Run finished")
    assert finished["OUTCOME"] == "success"
    assert finished["MESSAGE_ID"] == logs.RUN_FINISHED["success"]
    assert finished["PRIORITY"] == "6"
    assert finished["RUN_ID"] == started["RUN_ID"] == run_ids.pop()
    assert finished["PLAN"] == "controlplane"
    assert finished["TRIGGER"] == "manual"
    assert float(finished["DURATION_SECONDS"]) > 0
    assert finished["SUMMARY"]
    nodes = {entry["NODE"]: entry for entry in named(entries, "Node finished")}
    assert set(nodes) == controllers
    for entry in nodes.values():
        assert entry["OUTCOME"] == "success"
        assert int(entry["SIZE_BYTES"]) > 0
        assert entry["RUN_ID"] == finished["RUN_ID"]
    assert_secret_absent(document, lab.mysql_password)


def test_run_refused_with_a_controller_link_down_sends_node_refused(
    lab: Lab, tmp_path: Path
) -> None:
    """A controller link down: a "Node refused" entry for it and a refused run summary."""
    policy = lab.write_policy(tmp_path / "policy.yaml", log={"format": "auto"})
    set_up(policy, "controlplane")
    lab.link_down("ctl-1")
    try:
        document = capture(
            tmp_path / "journal.json",
            barctl(policy, "run", "controlplane"),
            {"BARCTL_LOG_FORMAT": "journald"},
        )
    finally:
        lab.restore("ctl-1")
    assert document["returncode"] == 3, document["stdout"] + document["stderr"]
    entries = document["entries"]
    refused = named(entries, "Node refused")
    assert [entry["NODE"] for entry in refused] == ["ctl-1"]
    assert refused[0]["MESSAGE_ID"] == logs.NODE_REFUSED
    assert refused[0]["PRIORITY"] == "4"
    assert refused[0]["REASON"]
    (finished,) = named(entries, "Run finished")
    assert finished["OUTCOME"] == "refused"
    assert finished["MESSAGE_ID"] == logs.RUN_FINISHED["refused"]
    assert finished["RUN_ID"] == refused[0]["RUN_ID"]
    assert finished["PLAN"] == "controlplane"
    assert "ctl-1" in finished["SUMMARY"]
    assert_secret_absent(document, lab.mysql_password)


def test_failed_undo_sends_undo_failed_and_a_degraded_summary(lab: Lab, tmp_path: Path) -> None:
    """`pcs cluster start` fails on ctl-0: "Undo failed" (critical) and a degraded run summary."""
    policy = lab.write_policy(tmp_path / "policy.yaml", log={"format": "auto"})
    set_up(policy, "controlplane")
    lab.inject("ctl-0", ["pcs", "cluster", "start"], exit_code=1)
    document = capture(tmp_path / "journal.json", barctl(policy, "run", "controlplane"))
    assert document["returncode"] == 5, document["stdout"] + document["stderr"]
    entries = document["entries"]
    (undo,) = named(entries, "Undo failed")
    assert undo["MESSAGE_ID"] == logs.UNDO_FAILED
    assert undo["PRIORITY"] == "2"
    assert (undo["NODE"], undo["EXIT_CODE"]) == ("ctl-0", "1")
    assert undo["STEP"]
    (finished,) = named(entries, "Run finished")
    assert (finished["OUTCOME"], finished["PRIORITY"]) == ("degraded", "2")
    assert finished["MESSAGE_ID"] == logs.RUN_FINISHED["degraded"]
    assert finished["RUN_ID"] == undo["RUN_ID"]
    nodes = {entry["NODE"]: entry for entry in named(entries, "Node finished")}
    assert nodes["ctl-0"]["OUTCOME"] == "degraded"
    assert nodes["ctl-0"]["REASON"]
    assert_secret_absent(document, lab.mysql_password)


CHILD = """
import logging, structlog
from barctl.observe import logs
from barctl import redaction
assert logs.configure("auto", logging.INFO) == "journald"
redaction.register_secret("hunter2-secret")
log = structlog.get_logger("barctl.test")
with logs.bind_run("r-1", "undercloud"):
    try:
        password = "hunter2-secret"
        raise RuntimeError("bad password hunter2-secret")
    except RuntimeError:
        log.exception("Step crashed", node="undercloud", step="rear")
    logging.getLogger("apscheduler.scheduler").warning("Run time of job was missed")
"""


def test_multiline_message_travels_in_binary_length_form(tmp_path: Path) -> None:
    """A traceback (multi-line MESSAGE) arrives decoded whole, redacted, without locals."""
    document = capture(tmp_path / "journal.json", [sys.executable, "-c", CHILD])
    assert document["returncode"] == 0, document["stderr"]
    crashed, missed = document["entries"]
    assert crashed["MESSAGE"].startswith("Step crashed\nTraceback (most recent call last):")
    assert "RuntimeError: bad password ***" in crashed["MESSAGE"]
    assert "hunter2-secret" not in json.dumps(document)
    assert (crashed["PRIORITY"], crashed["NODE"], crashed["STEP"]) == ("3", "undercloud", "rear")
    assert (missed["LOGGER"], missed["RUN_ID"], missed["PRIORITY"]) == (
        "apscheduler.scheduler",
        "r-1",
        "4",
    )
