"""`investiq resolve`: score past price forecasts against the market, as the gateway does periodically."""

from __future__ import annotations

from gateway.services.resolver import ResolveReport, resolve_due
from investiq.core.journal import JournalWriter
from investiq.core.market import BarCache, fetch_yfinance
from investiq.core.settings import Settings
from investiq.ops.bootstrap import init_journal


def resolve(settings: Settings) -> ResolveReport:
    """Fill in the outcome of every forecast whose horizon has passed (bars from the cache, then Yahoo)."""
    init_journal(settings)
    writer = JournalWriter(settings.db_path, settings.db_busy_timeout_ms)
    writer.start()
    try:
        return resolve_due(settings.db_path, writer, BarCache(settings.data_dir / "bars"), fetch_yfinance)
    finally:
        writer.close()
