"""Market data for training and serving: Yahoo Finance through a Parquet cache, CSV files, shipped samples.

    bars = load_bars("yfinance", ["AAPL"], days=59, interval="15m", cache_dir=Path("data/bars"))
    frame, report = bars["AAPL"]   # cleaned bars (see investiq.core.bars.clean_bars) and what was dropped

Yahoo Finance serves intraday history only so far back, per interval (days before now):

    interval  1m  2m  5m  15m  30m  60m  90m  1h   1d    1wk
    max days  7   60  60  60   60   730  60   730  none  none

The network is touched only by `fetch_yfinance` (investiq.core.yahoo); everything else takes a `fetch`
argument so tests and offline machines pass their own. Bar files are read by investiq.core.bar_files; the
Parquet cache is investiq.core.bar_cache's, and what is fetched into it, and when, investiq.core.market_fetch's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from investiq.core.bar_cache import BarCache
from investiq.core.bar_columns import column_names
from investiq.core.bar_files import BySymbol, named_symbol, read_bar_csv, symbols_rows

# re-exported (the names imported "as" themselves): callers import them from here
from investiq.core.bar_intervals import INTERVAL_SECONDS as INTERVAL_SECONDS
from investiq.core.bar_intervals import SpacingError as SpacingError
from investiq.core.bar_intervals import check_spacing, is_daily
from investiq.core.bar_intervals import find_gaps as find_gaps
from investiq.core.bar_times import SLASH_DATE as SLASH_DATE
from investiq.core.bar_times import bar_times
from investiq.core.bar_times import number_times as number_times
from investiq.core.bar_times import slash_day_first as slash_day_first
from investiq.core.bars import CleaningReport as CleaningReport
from investiq.core.bars import clean_bars as clean_bars
from investiq.core.errors import DataError
from investiq.core.market_fetch import Fetch, cached_bars, utc
from investiq.core.names import ticker
from investiq.core.yahoo import (
    YF_MAX_DAYS,
    fetch_yfinance,
)

Source = Literal["yfinance", "csv", "sample"]
SOURCES: tuple[Source, ...] = ("yfinance", "csv", "sample")
# Real daily bars 1999-2018 shipped inside the `arch` wheel: arch/data/<name>/<name>.csv.gz.
SAMPLE_SYMBOLS: dict[str, str] = {"SPX": "sp500", "NASDAQ": "nasdaq"}
SAMPLE_INTERVAL = "1d"
ALL_DAYS = 36_500  # a century of days: all of a source's history
SAMPLE_DAYS = ALL_DAYS  # the sample's: all of it


def load_sample(symbol: str) -> pd.DataFrame:
    """Raw daily bars (Date, Open, High, Low, Close, Adj Close, Volume; Date parsed, naive) of a
    sample index shipped with `arch`, 1999-01-04 to 2018-12-31: no network needed."""
    name = SAMPLE_SYMBOLS.get(symbol.upper())
    if name is None:
        raise DataError(f"no sample data for {symbol}; samples: {', '.join(SAMPLE_SYMBOLS)}")
    with (resources.files("arch") / "data" / name / f"{name}.csv.gz").open("rb") as handle:
        frame = pd.read_csv(handle, compression="gzip")
    frame["Date"] = pd.to_datetime(frame["Date"], format="%m/%d/%Y")  # US month/day: never guess
    return frame


def load_bars(
    source: Source,
    symbols: Sequence[str],
    *,
    days: int,
    interval: str,
    cache_dir: Path,
    csv_path: Path | None = None,
    fetch: Fetch = fetch_yfinance,
    now: datetime | None = None,
) -> dict[str, tuple[pd.DataFrame, CleaningReport]]:
    """symbol -> (cleaned bars of the last `days` days, report on those rows).

    The window ends now for yfinance and at the symbol's last bar for csv and sample. yfinance goes
    through the cache in `cache_dir`: only bars after the last cached one are fetched (one bar of
    overlap refreshes a bar that was still forming); the report then describes the cached rows.
    """
    if days < 1:
        raise DataError(f"days must be at least 1 (got {days})")
    if not symbols:
        raise DataError("no symbols given; name at least one, e.g. SPX")
    rows: dict[str | None, pd.DataFrame] | None = None  # a csv source's, per symbol
    if source == "yfinance":
        if interval not in YF_MAX_DAYS:
            known = ", ".join(YF_MAX_DAYS)
            raise DataError(f"Yahoo Finance has no interval {interval!r}; use one of {known}")
        limit = YF_MAX_DAYS[interval]
        if limit is not None and days > limit:
            raise DataError(
                f"Yahoo Finance serves {interval} bars for the last {limit} days only, {days} asked; "
                f"ask for at most {limit} days, or a coarser interval (1h: 730 days, 1d: no limit)"
            )
    elif source == "csv":
        if csv_path is None:
            raise DataError(
                "--source csv needs a bar file: --csv FILE, or the setting price_csv (a time column and close; "
                "open, high, low, volume and symbol optional)"
            )
        file = read_bar_csv(csv_path)  # read once, however many symbols
        columns = column_names(file)
        if len(symbols) > 1 and "symbol" not in columns:  # else every symbol would get the same bars
            raise DataError(f"CSV {csv_path} has no 'symbol' column to tell {', '.join(symbols)} apart")
        rows = symbols_rows(file, csv_path, symbols)
    elif source == "sample":
        if interval != "1d":
            raise DataError(f"sample bars are daily; use interval '1d' (got {interval!r})")
    else:
        raise DataError(f"unknown source {source!r}; use yfinance, csv or sample")

    result: dict[str, tuple[pd.DataFrame, CleaningReport]] = {}
    for symbol in symbols:
        if source == "yfinance":
            end = utc(now)
            raw = cached_bars(BarCache(cache_dir), symbol, interval, end - timedelta(days=days), end, fetch)
        else:
            raw = rows[symbol] if rows is not None else load_sample(symbol)
            bars, _ = clean_bars(raw, symbol, interval, refuse_unreadable=False)  # rows past --days count not
            if bars.empty:
                raise DataError(f"no usable bars for {symbol} from {source}")
            check_spacing(bars.index, interval, symbol)  # a file's interval is the user's word: check it
            end = bars.index[-1]
        # Clean only the raw rows inside the window, so the report's counts add up to what is returned.
        times = bar_times(raw, symbol, daily=is_daily(interval))
        inside = times.isna() | (times >= end - pd.Timedelta(days=days))  # NaT: an empty row, for clean_bars
        bars, report = clean_bars(raw[inside], symbol, interval)
        if bars.empty:
            raise DataError(f"no usable {interval} bars for {symbol} from {source} in the last {days} days")
        result[symbol] = (bars, replace(report, older_rows=int((~inside).sum())))
    return result


def file_fetch(path: Path) -> Fetch:
    """A `Fetch` that serves the raw bars of the bar file at `path` (read once) instead of Yahoo Finance: what
    the resolver scores forecasts with offline. It gives every bar of the symbol before `end`, not only those
    after `start`: a file's bars may end long before now, where Yahoo's would not, and the cache takes the
    union. DataError for a symbol the file lacks. A file without a symbol column holds the bars of the symbol
    its name gives, as `train patchtst --csv` reads it: it served them as any symbol's, and one symbol's file
    scored every due forecast of every symbol on its moves and wrote its bars into their caches (a review)."""
    file = read_bar_csv(path)
    # split by symbol once: split again at each symbol's fetch, a resolve of 400 symbols took 117 s (an audit)
    split = BySymbol(file, path) if "symbol" in column_names(file) else None

    def fetch(symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        if split is None and ticker(symbol) != ticker(named_symbol(path)):
            raise DataError(
                f"CSV {path} has no symbol column: it holds the bars of {named_symbol(path)} (its name) alone; "
                f"name it {symbol}.csv for {symbol}'s, or add a symbol column"
            )
        rows = file if split is None else split.rows(symbol)
        return rows[bar_times(rows, symbol, daily=is_daily(interval)) < utc(end)]

    return fetch


def as_series(bars: dict[str, tuple[pd.DataFrame, CleaningReport]]) -> dict[str, tuple[Any, Any]]:
    """What training takes: symbol -> (closes float64 [n], bar times [n])."""
    return {
        s: (frame["close"].to_numpy(dtype="float64"), frame.index.to_numpy()) for s, (frame, _) in bars.items()
    }
