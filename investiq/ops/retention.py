"""`investiq db prune`: delete prediction rows older than the retention, as the gateway does daily."""

from __future__ import annotations

from datetime import datetime

from gateway.services.retention import prune_now
from investiq.core.journal import JournalWriter, require_journal
from investiq.core.journal.predictions import Pruned
from investiq.core.settings import Settings
from investiq.ops.bootstrap import init_journal


def prune_journal(settings: Settings, days: int, now: datetime | None = None) -> Pruned:
    """Sentiment rows, and price rows never resolved whose target time too is older than `days` days (resolved
    forecasts stay)."""
    require_journal(
        settings.db_path, tables=True, busy_timeout_ms=settings.db_busy_timeout_ms
    )  # a mistyped --db must not get a journal made of it
    init_journal(settings)  # migrated
    writer = JournalWriter(settings.db_path, settings.db_busy_timeout_ms)
    writer.start()
    try:
        return prune_now(writer, days, now)
    finally:
        writer.close()
