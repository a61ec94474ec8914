"""Retention of the history database's rows (policy `history.keep_days`, issue 12 item 3).

The daemon prunes at start and after each run: a nightly plan adds a few hundred rows a run
(steps), and without a bound `history.db` grows forever. What a scrape exports does not depend on
this (counters are kept at write time, barctl.history.store_schema migration 4); the rows are what
`barctl history` lists and what the file's size is made of.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from barctl.config.site import Site
from barctl.history.store import open_history

log = structlog.get_logger("barctl.daemon")


def cutoff(keep_days: int, now: datetime) -> datetime | None:
    """Runs that ended before this moment are pruned; None when `keep_days` is 0 (keep all)."""
    return None if keep_days == 0 else now - timedelta(days=keep_days)


def prune_history(site: Site, keep_days: int, now: datetime) -> dict[str, int]:
    """Delete the rows older than `keep_days`; the rows deleted per table (never raises: a
    failed prune is logged and retried at the next run)."""
    before = cutoff(keep_days, now)
    if before is None or not site.history_path.exists():
        return {}
    try:
        with open_history(site) as store:
            removed = store.prune_history(before)
    except Exception:
        log.exception("Could not prune the history", keep_days=keep_days)
        return {}
    if any(removed.values()):
        log.info("History pruned", keep_days=keep_days, before=before.isoformat(), **removed)
    return removed
