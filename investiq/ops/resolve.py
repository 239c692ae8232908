"""`investiq resolve`: score past price forecasts against the market, as the gateway does periodically."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from gateway.services.resolver import ResolveReport, Series, resolve_due
from investiq.core.bar_cache import BarCache
from investiq.core.journal import JournalWriter, require_journal
from investiq.core.market import file_fetch
from investiq.core.settings import Settings
from investiq.core.yahoo import fetch_yfinance
from investiq.ops.bootstrap import init_journal


def resolve(settings: Settings, csv_path: Path | None = None) -> ResolveReport:
    """Fill in the outcome of every forecast whose horizon has passed: bars from the cache, then Yahoo, or,
    given `csv_path`, that bar file (offline; its bars join the cache as Yahoo's would)."""
    require_journal(
        settings.db_path, tables=True, busy_timeout_ms=settings.db_busy_timeout_ms
    )  # a mistyped --db must not get a journal made of it
    init_journal(settings)  # migrated
    fetch = file_fetch(csv_path) if csv_path is not None else fetch_yfinance
    writer = JournalWriter(settings.db_path, settings.db_busy_timeout_ms)
    writer.start()
    try:
        bars = BarCache(settings.data_dir / "bars")

        def bar(series: list[Series]) -> Iterable[Series]:  # minutes at a thousand symbols: said as it goes
            shown: Iterable[Series] = tqdm(series, desc="resolving", unit="symbol", leave=False, disable=None)
            return shown

        return resolve_due(settings.db_path, writer, bars, fetch, None, settings.db_busy_timeout_ms, bar)
    finally:
        writer.close()
