"""Outcome, trigger and undo-state enums shared by the engine, the store, the CLI and metrics.

Every value is the lowercase string stored in `history.db` and shown to operators, so a
member compares equal to its value (`RunOutcome.SUCCESS == "success"`).
"""

from __future__ import annotations

from barctl.text_enum import StrEnum


class RunOutcome(StrEnum):
    """How a whole run ended."""

    SUCCESS = "success"
    FAILED = "failed"
    REFUSED = "refused"  # a gate pre-check said no; nothing on any node was changed
    INTERRUPTED = "interrupted"  # signal, crash or the barctl process vanished
    DEGRADED = "degraded"  # finished, but at least one node was left degraded


class NodeOutcome(StrEnum):
    """What a run did to one node: the run outcomes plus `skipped` and `pending`."""

    SUCCESS = "success"
    FAILED = "failed"
    REFUSED = "refused"
    INTERRUPTED = "interrupted"
    DEGRADED = "degraded"
    SKIPPED = "skipped"  # the plan did not touch this node (disabled, or the run stopped first)
    PENDING = "pending"  # not reached yet in a run still going


class StepOutcome(StrEnum):
    """How one remote step ended."""

    SUCCESS = "success"
    FAILED = "failed"  # ran to completion with a non-zero exit code, or the connection failed
    TIMED_OUT = "timed_out"  # the server-side `timeout` killed it
    INTERRUPTED = "interrupted"  # its run's process died under it (`mark_interrupted_runs`)


class Trigger(StrEnum):
    """Why a run started."""

    MANUAL = "manual"
    SCHEDULED = "scheduled"
    CATCH_UP = "catch-up"


class UndoState(StrEnum):
    """Where an entry of the pending-undo journal stands."""

    PENDING = "pending"  # registered before the state change; must be replayed unless settled
    DONE = "done"  # the undo command ran and succeeded
    FAILED = "failed"  # the undo command ran and failed: an operator has to act
