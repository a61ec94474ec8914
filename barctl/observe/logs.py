"""Logging set-up: structlog in front of stdlib logging, so library records share one pipeline.

Three sinks, chosen once by `configure` (docs/logging.md):

* journald — native entries (`MESSAGE`, `PRIORITY`, `SYSLOG_IDENTIFIER=barctl`, `LOGGER`, every
  event key upper-cased) when stderr is the journal (`JOURNAL_STREAM` matches) or the format is
  `journald`;
* JSON lines on stderr otherwise;
* readable lines (`ConsoleRenderer`) on a terminal or with the format `console`.

Every sink redacts registered secrets (`register_secret`) from every string, MESSAGE included,
and renders tracebacks without local variables: structlog's dict tracebacks show locals by
default, which leaks secrets (ecosystem.md §4.1).

Context: `bind_run` (RUN_ID, PLAN) and `bind_step` (NODE, STEP) use structlog's contextvars, so
library records logged in the same thread carry them too. Threads do not inherit contextvars:
wrap work handed to another thread with `carry_context`.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar

import structlog
from typing_extensions import ParamSpec

from barctl.observe import journald
from barctl.redaction import SECRETS

FORMATS = ("auto", "journald", "json", "console")

# One MESSAGE_ID per event type (`journalctl MESSAGE_ID=…`); never change a published value.
RUN_STARTED = "9ccda91a0f74464a8ad61203a41454b6"
RUN_FINISHED = {
    "success": "63a4607dd4074a69a188a4d653de5702",
    "failed": "ed179ab6b8cd46fb90300f7d973a5a5a",
    "refused": "e81f733d7f6b4bf09d4066979f7c6170",
    "interrupted": "2b9e5907f1e54cdf96d7165e2ff55c8c",
    "degraded": "05c94bd11c0647ce81168e85ae8e0b84",
}
NODE_REFUSED = "c3a4f299b9f44f2ea460fe1523856711"
UNDO_FAILED = "74f5448090364958804314f0d8c0f97f"
# Retention deleted a run's directory on the target, or could not (barctl.run.prune).
RUN_PRUNED = "eb51e98450584ff8a4e6c7617d3a8039"
PRUNE_FAILED = "46ae46da7a364c1e82ef007e5c5c6850"

# Level of the canonical lines by outcome (run and node outcomes share the names).
LEVEL_BY_OUTCOME = {
    "success": logging.INFO,
    "skipped": logging.INFO,
    "pending": logging.INFO,
    "refused": logging.WARNING,
    "interrupted": logging.WARNING,
    "failed": logging.ERROR,
    "degraded": logging.CRITICAL,
}

# Libraries that log from threads of their own (paramiko's transport thread), where contextvars
# are empty: their records get the process's single active run.
THREADED_LIBRARIES = ("paramiko",)

P = ParamSpec("P")
R = TypeVar("R")


# ---- secrets -----------------------------------------------------------------------------------


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Processor: replace registered secrets with `***` in every string of the event."""
    return {key: SECRETS.redact(value) for key, value in event_dict.items()}


# ---- context -----------------------------------------------------------------------------------


class _ActiveRuns:
    """Runs bound in this process, for records logged where contextvars are empty."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, dict[str, str]] = {}

    def add(self, run_id: str, context: dict[str, str]) -> None:
        with self._lock:
            self._runs[run_id] = context

    def discard(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)

    def only(self) -> dict[str, str] | None:
        with self._lock:
            runs = list(self._runs.values())
        return runs[0] if len(runs) == 1 else None


ACTIVE_RUNS = _ActiveRuns()


@contextmanager
def bind_run(run_id: str, plan: str, **extra: Any) -> Iterator[None]:
    """RUN_ID and PLAN (and `extra`) on every line logged in this context."""
    ACTIVE_RUNS.add(run_id, {"run_id": run_id, "plan": plan})
    try:
        with structlog.contextvars.bound_contextvars(run_id=run_id, plan=plan, **extra):
            yield
    finally:
        ACTIVE_RUNS.discard(run_id)


@contextmanager
def bind_step(node: str, step: str) -> Iterator[None]:
    """NODE and STEP on every line logged in this context."""
    with structlog.contextvars.bound_contextvars(node=node, step=step):
        yield


def carry_context(function: Callable[P, R]) -> Callable[P, R]:
    """`function` running in (a copy of) the caller's context, from whichever thread calls it.

    Each call gets its own copy: one `Context` cannot be entered by two threads at once.
    """
    context = contextvars.copy_context()

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.copy().run(function, *args, **kwargs)

    return run


def add_active_run(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Processor: RUN_ID/PLAN for SSH-library records from their own threads (see above)."""
    if "run_id" in event_dict:
        return event_dict
    record = event_dict.get("_record")
    name = record.name if isinstance(record, logging.LogRecord) else ""
    if name.split(".", 1)[0] in THREADED_LIBRARIES:
        context = ACTIVE_RUNS.only()
        if context is not None:
            return {**context, **event_dict}
    return event_dict


# ---- configuration -----------------------------------------------------------------------------

SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    add_active_run,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def choose_sink(log_format: str, stream: TextIO, environ: Mapping[str, str]) -> str:
    """`journald`, `json` or `console` for a policy/env format and the stream logs go to.

    A stream that is the journal always gets native entries, whatever the format: the policy's
    `console` chosen for terminals must not cost the daemon its indexed fields under systemd.
    """
    if log_format == "journald":
        return log_format
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.StringIO and friends have no descriptor
        fd = -1
    if fd >= 0 and journald.stderr_is_journal(environ, fd):
        return "journald"
    if log_format in ("json", "console"):
        return log_format
    return "console" if stream.isatty() else "json"


def _final_processors(sink: str) -> list[Any]:
    meta = structlog.stdlib.ProcessorFormatter.remove_processors_meta
    if sink == "journald":
        return [meta, structlog.processors.format_exc_info, redact_secrets, journald.render_fields]
    if sink == "console":
        console = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
        return [meta, structlog.processors.format_exc_info, redact_secrets, console]
    dict_tracebacks = structlog.processors.ExceptionRenderer(
        structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
    )
    return [
        meta,
        dict_tracebacks,
        redact_secrets,
        structlog.processors.JSONRenderer(sort_keys=True),
    ]


def configure(
    log_format: str = "auto",
    level: int = logging.INFO,
    *,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    sender: journald.Sender | None = None,
) -> str:
    """Route structlog and stdlib records (paramiko, apscheduler) to one sink; return its name.

    `log_format`: auto | journald | json | console. In the journal the level is at most INFO:
    `journalctl -p` filters there, and the canonical run/node lines are INFO.
    """
    stream = sys.stderr if stream is None else stream
    environ = os.environ if environ is None else environ
    problems = []
    if log_format not in FORMATS:
        problems.append(f"unknown log format {log_format!r}; using auto")
        log_format = "auto"
    sink = choose_sink(log_format, stream, environ)
    if sink == "journald" and sender is None and not journald.SOCKET.exists():
        problems.append(f"no journal socket at {journald.SOCKET}; logging JSON to stderr")
        sink = "json"
    if sink == "journald":
        level = min(level, logging.INFO)
    _install_handler(_handler(sink, stream, sender), level)
    for problem in problems:
        structlog.get_logger("barctl.logs").warning(problem)
    return sink


def _handler(sink: str, stream: TextIO, sender: journald.Sender | None) -> logging.Handler:
    """The one handler of `sink`, formatting stdlib and structlog records alike."""
    handler: logging.Handler
    if sink == "journald":
        handler = journald.JournaldHandler(sender)
    else:
        handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=SHARED_PROCESSORS, processors=_final_processors(sink)
        )
    )
    return handler


def _install_handler(handler: logging.Handler, level: int) -> None:
    """Make `handler` the root logger's only one and route structlog through stdlib."""
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # paramiko logs transport tracebacks at ERROR for every failed connect (ecosystem.md §2.6).
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def outcome_level(outcome: str) -> int:
    """The level of a canonical "Run finished"/"Node finished" line for `outcome`."""
    return LEVEL_BY_OUTCOME.get(str(outcome), logging.ERROR)
