"""The logging pipeline without journald: sinks, redaction, tracebacks, context, field rules."""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

import pytest
import structlog

from barctl import redaction
from barctl.observe import journald, logs
from tests.logs.journal_capture import decode

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configuration = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**configuration)
    structlog.contextvars.clear_contextvars()
    redaction.SECRETS.clear()


@pytest.fixture
def stream(tmp_path: Path) -> Iterator[TextIO]:
    """A real file to log to (not a terminal, no JOURNAL_STREAM match)."""
    with open(tmp_path / "stderr", "w+", encoding="utf-8") as handle:
        yield handle


def json_lines(stream: TextIO) -> list[dict[str, Any]]:
    """Every line written to `stream`, parsed."""
    stream.flush()
    stream.seek(0)
    return [json.loads(line) for line in stream.read().splitlines()]


def journal(level: int = logging.DEBUG) -> list[dict[str, str]]:
    """Configure the journald sink with a capturing sender; the list it fills."""
    sent: list[dict[str, str]] = []
    assert logs.configure("journald", level, sender=sent.append) == "journald"
    return sent


def test_json_lines_on_stderr_when_stderr_is_not_the_journal(stream: TextIO) -> None:
    """auto + a plain file + no matching JOURNAL_STREAM: one JSON object per line."""
    environ = {"JOURNAL_STREAM": "1:2"}
    assert logs.configure("auto", logging.INFO, stream=stream, environ=environ) == "json"
    log = structlog.get_logger("barctl.test")
    log.info("first", node="ctl-0")
    log.debug("filtered out")
    log.warning("second", exit_code=3)
    first, second = json_lines(stream)
    assert first["event"] == "first"
    assert first["node"] == "ctl-0"
    assert first["level"] == "info"
    assert first["logger"] == "barctl.test"
    assert "timestamp" in first
    assert (second["event"], second["exit_code"], second["level"]) == ("second", 3, "warning")


def test_journal_stream_matching_the_stream_selects_journald(stream: TextIO) -> None:
    """JOURNAL_STREAM equal to the stream's "<st_dev>:<st_ino>" means the journal, any format."""
    status = os.fstat(stream.fileno())
    matching = {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}
    other = {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino + 1}"}
    assert logs.choose_sink("auto", stream, matching) == "journald"
    assert logs.choose_sink("auto", stream, other) == "json"
    assert logs.choose_sink("auto", stream, {}) == "json"
    assert logs.choose_sink("console", stream, matching) == "journald"
    assert logs.choose_sink("console", stream, other) == "console"
    assert logs.choose_sink("json", stream, {}) == "json"
    assert journald.stderr_is_journal(matching, stream.fileno())
    assert not journald.stderr_is_journal({"JOURNAL_STREAM": "garbage"}, stream.fileno())


def test_console_lines_on_a_terminal() -> None:
    """auto on a real terminal (a pty) renders readable lines, not JSON."""
    primary, secondary = os.openpty()
    with open(secondary, "w", encoding="utf-8") as terminal:
        assert logs.configure("auto", logging.INFO, stream=terminal, environ={}) == "console"
        structlog.get_logger("barctl.test").info("hello", node="ctl-0")
        terminal.flush()
        text = os.read(primary, 4096).decode()
    os.close(primary)
    assert "hello" in text
    assert "node=ctl-0" in text
    assert not text.lstrip().startswith("{")


def test_missing_journal_socket_falls_back_to_json(
    stream: TextIO, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """format journald without a journal socket logs JSON to stderr instead of nothing."""
    monkeypatch.setattr(journald, "SOCKET", tmp_path / "no-socket")
    assert logs.configure("journald", logging.INFO, stream=stream) == "json"
    (warning,) = json_lines(stream)
    assert "no journal socket" in warning["event"]


def test_registered_secret_is_redacted_from_message_and_fields(stream: TextIO) -> None:
    """A registered secret becomes *** in the message, fields, nested values and library lines."""
    logs.configure("json", logging.INFO, stream=stream, environ={})
    redaction.register_secret("pa55-word")
    log = structlog.get_logger("barctl.test")
    log.info("login with pa55-word", detail={"argv": ["mysql", "-ppa55-word"]}, note="xpa55-wordx")
    logging.getLogger("paramiko.transport").critical("echo %s", "pa55-word")
    lines = json_lines(stream)
    assert "pa55-word" not in json.dumps(lines)
    assert lines[0]["event"] == "login with ***"
    assert lines[0]["detail"] == {"argv": ["mysql", "-p***"]}
    assert lines[0]["note"] == "x***x"
    assert lines[1]["event"] == "echo ***"

    sent = journal()
    log.error("login with pa55-word", step="pa55-word")
    assert (sent[0]["MESSAGE"], sent[0]["STEP"]) == ("login with ***", "***")


def test_empty_secret_is_ignored_and_longest_secret_wins() -> None:
    """Registering "" redacts nothing; overlapping secrets are replaced longest first."""
    registry = redaction.SecretRegistry()
    registry.add("")
    assert registry.redact("plain") == "plain"
    registry.add("abc")
    registry.add("abcdef")
    assert registry.redact("xabcdefx abc") == "x***x ***"


def _fail_with_a_local() -> None:
    credential = "local-value-7f3a"  # noqa: F841 - the local that must not be logged
    raise RuntimeError("step crashed")


def test_tracebacks_never_include_local_variables(stream: TextIO) -> None:
    """JSON and journald tracebacks name frames but carry no locals."""
    logs.configure("json", logging.INFO, stream=stream, environ={})
    log = structlog.get_logger("barctl.test")
    try:
        _fail_with_a_local()
    except RuntimeError:
        log.exception("Run crashed")
    (line,) = json_lines(stream)
    assert "local-value-7f3a" not in json.dumps(line)
    frames = line["exception"][0]["frames"]
    assert any(frame["name"] == "_fail_with_a_local" for frame in frames)
    assert all("locals" not in frame for frame in frames)

    sent = journal()
    try:
        _fail_with_a_local()
    except RuntimeError:
        log.exception("Run crashed")
    assert "RuntimeError: step crashed" in sent[0]["MESSAGE"]
    assert "local-value-7f3a" not in json.dumps(sent)


def test_library_records_go_through_the_pipeline_with_bound_context(stream: TextIO) -> None:
    """stdlib records (paramiko/apscheduler style) get RUN_ID, PLAN, NODE, STEP and JSON."""
    logs.configure("json", logging.INFO, stream=stream, environ={})
    with logs.bind_run("r-42", "undercloud"), logs.bind_step("undercloud", "rear_mkbackup"):
        logging.getLogger("apscheduler.scheduler").warning("Run time of job was missed")
        logging.getLogger("paramiko.transport").critical("Socket exception")
    logging.getLogger("apscheduler.scheduler").warning("after the run")
    missed, socket_error, after = json_lines(stream)
    for line in (missed, socket_error):
        assert (line["run_id"], line["plan"]) == ("r-42", "undercloud")
        assert (line["node"], line["step"]) == ("undercloud", "rear_mkbackup")
    assert missed["logger"] == "apscheduler.scheduler"
    assert socket_error["level"] == "critical"
    assert "run_id" not in after

    sent = journal()
    with logs.bind_run("r-43", "controlplane"):
        logging.getLogger("apscheduler.scheduler").info("Added job")
    assert (sent[0]["RUN_ID"], sent[0]["LOGGER"], sent[0]["PRIORITY"]) == (
        "r-43",
        "apscheduler.scheduler",
        "6",
    )


def test_ssh_library_records_from_their_own_threads_get_the_active_run(stream: TextIO) -> None:
    """paramiko logs from its transport thread (no contextvars): the single active run's ids."""
    logs.configure("json", logging.INFO, stream=stream, environ={})

    def transport() -> None:
        logging.getLogger("paramiko.transport").critical("Socket exception")
        logging.getLogger("apscheduler.executors").warning("unrelated")

    with logs.bind_run("r-44", "controlplane"):
        thread = threading.Thread(target=transport)
        thread.start()
        thread.join()
    paramiko_line, other = json_lines(stream)
    assert paramiko_line["run_id"] == "r-44"
    assert "run_id" not in other


def test_carry_context_takes_run_and_step_into_pool_threads(stream: TextIO) -> None:
    """Work wrapped with carry_context logs RUN_ID/NODE/STEP from ThreadPoolExecutor threads."""
    logs.configure("json", logging.INFO, stream=stream, environ={})
    log = structlog.get_logger("barctl.engine")

    def work(node: str) -> None:
        with logs.bind_step(node, "rear_mkbackup"):
            log.info("output line")

    with logs.bind_run("r-45", "controlplane"), ThreadPoolExecutor(max_workers=3) as executor:
        list(executor.map(logs.carry_context(work), ["ctl-0", "ctl-1", "ctl-2"]))
    lines = json_lines(stream)
    assert sorted(line["node"] for line in lines) == ["ctl-0", "ctl-1", "ctl-2"]
    assert {line["run_id"] for line in lines} == {"r-45"}
    assert {line["step"] for line in lines} == {"rear_mkbackup"}


def test_levels_map_to_syslog_priorities() -> None:
    """critical 2, error 3, warning 4, info 6, debug 7 (and exception counts as error)."""
    sent = journal(logging.DEBUG)
    log = structlog.get_logger("barctl.test")
    log.critical("c")
    log.error("e")
    log.warning("w")
    log.info("i")
    log.debug("d")
    assert [entry["PRIORITY"] for entry in sent] == ["2", "3", "4", "6", "7"]
    assert all(entry["SYSLOG_IDENTIFIER"] == "barctl" for entry in sent)
    assert journald.priority("exception") == 3
    assert journald.priority("CRITICAL") == 2


def test_journald_sink_logs_info_even_when_asked_for_warning() -> None:
    """In the journal the level is at most INFO, so canonical INFO lines are never dropped."""
    sent = journal(logging.WARNING)
    structlog.get_logger("barctl.test").info("Run finished")
    structlog.get_logger("barctl.test").debug("noise")
    assert [entry["MESSAGE"] for entry in sent] == ["Run finished"]


def test_field_names_are_upper_cased_and_invalid_ones_dropped() -> None:
    """Keys become UPPER_CASE fields; invalid names are dropped; non-scalars JSON-encoded."""
    sent = journal()
    fields: dict[str, Any] = {
        "with space": 1,
        "9lives": 1,
        "_private": 1,
        "dash-ed": 1,
        "ünicode": 1,
        "x" * 65: 1,
        "y" * 64: "longest allowed",
        "size_bytes": 8192,
        "ratio": 0.5,
        "ok": True,
        "gone": None,
        "nodes": ["ctl-0", "ctl-1"],
        "facts": {"b": 2, "a": 1},
        "priority": "0",
        "message": "not the message",
    }
    structlog.get_logger("barctl.test").info("fields", **fields)
    (entry,) = sent
    extra = {name for name in entry if not name.startswith("CODE_")}
    assert extra == {
        "MESSAGE",
        "PRIORITY",
        "SYSLOG_IDENTIFIER",
        "LOGGER",
        "Y" * 64,
        "SIZE_BYTES",
        "RATIO",
        "OK",
        "NODES",
        "FACTS",
    }
    assert entry["MESSAGE"] == "fields"
    assert entry["PRIORITY"] == "6"
    assert (entry["SIZE_BYTES"], entry["RATIO"], entry["OK"]) == ("8192", "0.5", "true")
    assert json.loads(entry["NODES"]) == ["ctl-0", "ctl-1"]
    assert entry["FACTS"] == '{"a": 1, "b": 2}'
    assert entry["CODE_FUNC"] == "test_field_names_are_upper_cased_and_invalid_ones_dropped"
    assert journald.field_name("run_id") == "RUN_ID"
    assert journald.field_name("_SOURCE") is None


def test_message_ids_are_distinct_128_bit_ids_documented_in_docs() -> None:
    """Ten MESSAGE_IDs, 32 lowercase hex each, all different, each in docs/logging.md."""
    ids = [logs.RUN_STARTED, *logs.RUN_FINISHED.values(), logs.NODE_REFUSED, logs.UNDO_FAILED]
    ids += [logs.RUN_PRUNED, logs.PRUNE_FAILED]
    assert set(logs.RUN_FINISHED) == {"success", "failed", "refused", "interrupted", "degraded"}
    assert len(set(ids)) == 10
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)
    documentation = (REPO / "docs" / "logging.md").read_text(encoding="utf-8")
    for value in ids:
        assert f"MESSAGE_ID={value}" in documentation


def test_native_protocol_decoder_reads_both_field_forms() -> None:
    """`NAME=value` lines and the `NAME` + u64 length + bytes form (values with newlines)."""
    message = b"two\nlines"
    datagram = (
        b"PRIORITY=6\nMESSAGE\n" + struct.pack("<Q", len(message)) + message + b"\nNODE=ctl-0\n"
    )
    assert decode(datagram) == {"PRIORITY": "6", "MESSAGE": "two\nlines", "NODE": "ctl-0"}
