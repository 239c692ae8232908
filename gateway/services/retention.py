"""The gateway's daily pruning of old prediction rows (Settings.journal_retention_days), through its one
journal writer; `investiq db prune` does the same on demand (investiq/ops/retention.py)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

from investiq.core.journal.predictions import PRUNE_BATCH, Pruned, prune
from investiq.core.journal.writer import JournalWriter

log = logging.getLogger(__name__)
DAY_S = 86_400.0


def prune_now(writer: JournalWriter, days: int, now: datetime | None = None, batch: int = PRUNE_BATCH) -> Pruned:
    """Delete what is older than `days` days (blocking: run it off the event loop), `batch` rows of a table a
    writer job, each its own short write transaction: the agent and the gateway's own writes take the lock in
    between. Then the WAL the deletes grew is truncated."""
    before = ((now or datetime.now(timezone.utc)) - timedelta(days=days)).isoformat()
    total = Pruned(0, 0)
    while True:
        step = writer.submit(prune(before, batch)).result(timeout=300)
        total += step
        if max(step.sentiment, step.price_unresolved) < batch:
            break
    if total.sentiment or total.price_unresolved:
        writer.truncate_wal()
    return total


FIRST_AFTER_S = 3600.0  # a gateway that restarts often still prunes, and a short-lived one never does


async def prune_periodically(
    writer: JournalWriter, days: int, every_s: float = DAY_S, first_after_s: float = FIRST_AFTER_S
) -> None:
    """Prune `first_after_s` seconds after start, then every `every_s` seconds; a failing pass is logged
    and retried next time."""
    await asyncio.sleep(first_after_s)
    while True:
        try:
            pruned = await asyncio.to_thread(prune_now, writer, days)
            if pruned.sentiment or pruned.price_unresolved:
                log.info(
                    "pruned %d sentiment and %d never-resolved price rows (made and due) over %d days ago",
                    pruned.sentiment,
                    pruned.price_unresolved,
                    days,
                )
        except Exception:
            log.exception("pruning the journal failed; will retry")
        await asyncio.sleep(every_s)
