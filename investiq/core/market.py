"""Market data for training and serving: Yahoo Finance through a Parquet cache, CSV files, shipped samples.

    bars = load_bars("yfinance", ["AAPL"], days=59, interval="15m", cache_dir=Path("data/bars"))
    frame, report = bars["AAPL"]   # cleaned bars (see investiq.core.bars.clean_bars) and what was dropped

Yahoo Finance serves intraday history only so far back, per interval (days before now):

    interval  1m  2m  5m  15m  30m  60m  90m  1h   1d    1wk
    max days  7   60  60  60   60   730  60   730  none  none

The network is touched only by `fetch_yfinance` (investiq.core.yahoo); everything else takes a `fetch`
argument so tests and offline machines pass their own. Bar files are read by investiq.core.bar_files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from investiq.core.atomic import replacing
from investiq.core.bar_columns import COLUMNS, column_names
from investiq.core.bar_files import BySymbol, named_symbol, read_bar_csv, symbols_rows

# re-exported (the names imported "as" themselves): callers import them from here
from investiq.core.bar_intervals import INTERVAL_SECONDS as INTERVAL_SECONDS
from investiq.core.bar_intervals import SpacingError as SpacingError
from investiq.core.bar_intervals import check_spacing, interval_step, is_daily, session_dates
from investiq.core.bar_intervals import find_gaps as find_gaps
from investiq.core.bar_times import SLASH_DATE as SLASH_DATE
from investiq.core.bar_times import bar_times
from investiq.core.bar_times import number_times as number_times
from investiq.core.bar_times import slash_day_first as slash_day_first
from investiq.core.bars import CleaningReport as CleaningReport
from investiq.core.bars import clean_bars as clean_bars
from investiq.core.errors import DataError
from investiq.core.names import symbol_problem, ticker
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

# (symbol, interval, start, end) -> raw bars; start and end are tz-aware UTC, end exclusive.
Fetch = Callable[[str, str, datetime, datetime], pd.DataFrame]


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


_ASKED: dict[
    Path,
    tuple[
        dict[tuple[str, str], pd.Timestamp],
        dict[tuple[str, str], tuple[pd.Timestamp, DataError]],
        dict[tuple[str, str], tuple[pd.Timestamp, pd.Timestamp | None]],
    ],
] = {}


class BarCache:
    """Cleaned bars per symbol and interval in `directory/<SYMBOL>_<interval>.parquet` (UTC times).

    Files are replaced atomically (investiq/core/atomic.py `replacing`), so a reader or a
    crash mid-write sees the old file or the new one, never half of one.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # What this process knows of the source, shared by every BarCache of the directory: (symbol, interval) ->
        # the latest `end` it asked the source for (fetch_into; recent_bars waits REFETCH_AFTER before asking
        # again for a bar that was not there yet), when asking last failed, and how (not asked again sooner), and
        # the earliest start `fetch_back` asked from, and the cache's first bar after it
        self.asked, self.failed, self.asked_back = _ASKED.setdefault(Path(directory).resolve(), ({}, {}, {}))

    def path(self, symbol: str, interval: str) -> Path:
        problem = symbol_problem(symbol)
        if problem is not None:
            raise DataError(problem)
        return self.directory / f"{ticker(symbol)}_{interval}.parquet"

    def read(self, symbol: str, interval: str) -> pd.DataFrame | None:
        """Cached bars (UTC index, COLUMNS as float64), or None when nothing is cached."""
        path = self.path(symbol, interval)
        if not path.exists():
            return None
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read cached bars {path} ({exc}); delete it to fetch again") from None
        frame.index = pd.DatetimeIndex(frame.index).tz_convert("UTC").as_unit("ns").rename("timestamp")
        return frame[COLUMNS]

    def merge(
        self,
        symbol: str,
        interval: str,
        new: pd.DataFrame,
        closed_by: pd.Timestamp | None = None,
        scale: float = 1.0,
    ) -> pd.DataFrame:
        """Cache ∪ `new` (raw), cleaned; on equal timestamps `new` wins. Written back and returned. Given
        `closed_by` (when `new` was fetched), bars of `new` that had not closed by then are left out; `scale`:
        the cached prices are multiplied by it (and volumes divided) first, as a split adjusts them."""
        fresh, _ = clean_bars(new, symbol, interval)
        if closed_by is not None:
            fresh = closed(fresh, interval_step(interval), closed_by)
        cached = self.read(symbol, interval)
        if cached is not None and scale != 1.0:
            cached = cached.assign(**{c: cached[c] * scale for c in ("open", "high", "low", "close")})
            cached["volume"] = cached["volume"] / scale
        if cached is not None and is_daily(interval) and not fresh.empty:
            # one bar a session, the new one: Yahoo's labels (the exchange's midnight) and a bar file's (UTC
            # midnight) of the same session differ, and both were kept, each session twice: the resolver,
            # counting bars, scored a forecast about half its horizon early (an audit of time in the price path)
            cached = cached[~session_dates(cached.index).isin(session_dates(fresh.index))]
        if cached is not None:  # later rows win in clean_bars' duplicate drop
            fresh, _ = clean_bars(pd.concat([cached, fresh]), symbol, interval)
        if not fresh.empty:
            self._write(self.path(symbol, interval), fresh)
        return fresh

    @staticmethod
    def _write(path: Path, frame: pd.DataFrame) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as temp:
            frame.to_parquet(temp)


log = logging.getLogger(__name__)


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
            end = _utc(now)
            raw = _cached_bars(BarCache(cache_dir), symbol, interval, end - timedelta(days=days), end, fetch)
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
        return rows[bar_times(rows, symbol, daily=is_daily(interval)) < _utc(end)]

    return fetch


def as_series(bars: dict[str, tuple[pd.DataFrame, CleaningReport]]) -> dict[str, tuple[Any, Any]]:
    """What training takes: symbol -> (closes float64 [n], bar times [n])."""
    return {
        s: (frame["close"].to_numpy(dtype="float64"), frame.index.to_numpy()) for s, (frame, _) in bars.items()
    }


def recent_bars(
    symbol: str,
    interval: str,
    n: int,
    cache: BarCache,
    fetch: Fetch = fetch_yfinance,
    now: datetime | None = None,
) -> pd.DataFrame:
    """The last `n` cleaned bars that have closed by `now` (n rows, COLUMNS), for serving a forecast.

    Served from the cache, which holds closed bars only (`fetch_into`); refreshed through `fetch` when fewer
    than `n` are cached, or when the bar after the newest should have closed by now (`_due`). If the source was
    already asked after that and did not have it (a closed market, a holiday, a late feed), or failed, it is
    asked again at most every REFETCH_AFTER of the interval (at most 15 minutes); while it fails, the cached bars
    are served as long as the newest is under two intervals old (four days for '1d': weekends and holidays).
    """
    step = interval_step(interval)
    if n < 1:
        raise DataError(f"n must be at least 1 (got {n})")
    end = _utc(now)
    bars = cache.read(symbol, interval)
    if bars is not None:
        bars = closed(bars, step, end)  # a cache written before 2026-12-04 may hold a bar then in progress
    if bars is None or len(bars) < n:
        bars = _filled(cache, fetch, symbol, interval, n, end)
    elif _due(bars, step, end, cache.asked.get((symbol, interval))):
        bars = _refreshed(cache, fetch, symbol, interval, bars, end)
    bars = closed(bars, step, end)
    if len(bars) < n:
        raise _too_few(symbol, interval, len(bars), n)
    return bars.iloc[-n:]


def _filled(cache: BarCache, fetch: Fetch, symbol: str, interval: str, n: int, end: pd.Timestamp) -> pd.DataFrame:
    """The cache filled back far enough for `n` bars. Within REFETCH_AFTER of failing, or of a fill that still had
    fewer (a new listing), the source is not asked again: that DataError is raised."""
    step, key = interval_step(interval), (symbol, interval)
    failed = cache.failed.get(key)
    if failed is not None and end - failed[0] < _throttle(step):
        raise failed[1]
    # Markets trade ~6.5 of 24 hours on 5 of 7 days: n bars span up to ~5.2x n intervals of clock time.
    lookback = 6 * n * step + pd.Timedelta(days=4)
    try:
        filled = fetch_into(cache, fetch, symbol, interval, end - lookback, end)
    except DataError as exc:
        cache.failed[key] = (end, exc)
        raise
    if len(have := closed(filled, step, end)) < n:
        cache.failed[key] = (end, _too_few(symbol, interval, len(have), n))
    return filled


def _too_few(symbol: str, interval: str, have: int, n: int) -> DataError:
    if not have:
        return DataError(f"no {interval} bars for {symbol}; check the symbol or use another source")
    return DataError(f"only {have} {interval} bars for {symbol}, {n} needed; try a longer interval")


REFETCH_AFTER = 0.2  # of an interval (at most 15 minutes): how often a bar the source did not have is asked again


def _throttle(step: pd.Timedelta) -> pd.Timedelta:
    return min(REFETCH_AFTER * step, pd.Timedelta(minutes=15))


def closed(bars: pd.DataFrame, step: pd.Timedelta, by: pd.Timestamp) -> pd.DataFrame:
    """The bars that had closed by `by`: labelled by when they open, a bar closes one `step` after its label."""
    return bars.iloc[: int(bars.index.searchsorted(by - step, side="right"))]


def _due(bars: pd.DataFrame, step: pd.Timedelta, end: pd.Timestamp, asked: pd.Timestamp | None) -> bool:
    """Whether to ask the source for what follows the newest of `bars`: the next bar should have closed by `end`,
    and the source was not asked since (or was, REFETCH_AFTER ago or more, and did not have it yet). A cache this
    process has not asked about (`asked` None) is asked once its newest bar has closed: an earlier version may
    have cached it in progress."""
    # when the next bar closes (the newest, for a cache this process has not asked about)
    expected = (_next_label(bars, step) if asked is not None else bars.index[-1]) + step
    if end < expected:
        return False
    weekend = end.normalize() - pd.Timedelta(days=end.day_of_week - 5)  # this Saturday's start, on a weekend
    if asked is not None and end.day_of_week >= 5 and asked >= weekend and _closed_at_weekends(bars, step):
        return False  # asked once this weekend (Friday's last bars): not again every REFETCH_AFTER, 1,300 calls
    return asked is None or asked < expected or end - asked >= _throttle(step)


def _closed_at_weekends(bars: pd.DataFrame, step: pd.Timedelta) -> bool:
    """Whether intraday `bars` show a market that never trades on a Saturday or a Sunday (UTC): two weeks of them
    or more, none on those days. A crypto pair trades then, and so do markets whose Monday starts on Sunday in
    UTC (Auckland's, futures' Sunday evening): their bars say so, and they are asked for as any other day."""
    if step >= pd.Timedelta(days=1) or len(bars) < 2 or bars.index[-1] - bars.index[0] < pd.Timedelta(days=14):
        return False
    return not (bars.index.day_of_week >= 5).any()


def _next_label(bars: pd.DataFrame, step: pd.Timedelta) -> pd.Timestamp:
    """The label of the bar after the newest of `bars`: one step on, past Saturday and Sunday for daily bars of a
    market that, as its bars show, never trades then (a stock's Friday bar is followed by Monday's: asked for on
    Sunday, it would not be there, 96 times a weekend at REFETCH_AFTER)."""
    following = bars.index[-1] + step
    # Yahoo labels a daily bar at the exchange's midnight, in UTC the day before east of it (Tokyo's Monday:
    # Sunday 15:00 UTC): the nearest midnight is the exchange's day, for any exchange within 12 hours of UTC
    if step == pd.Timedelta(days=1) and not (bars.index.round("D").day_of_week >= 5).any():
        while following.round("D").day_of_week >= 5:
            following += step
    return following


def _refreshed(
    cache: BarCache, fetch: Fetch, symbol: str, interval: str, bars: pd.DataFrame, end: pd.Timestamp
) -> pd.DataFrame:
    """`bars` (the cache's closed bars) refreshed from the newest. While the source fails (now, or within
    REFETCH_AFTER before: it is not asked again so soon, each failure may have cost seconds), `bars` themselves
    as long as the newest is under two intervals old (four days for '1d'), else that failure's DataError."""
    step, key = interval_step(interval), (symbol, interval)
    failed = cache.failed.get(key)
    if failed is not None and end - failed[0] < _throttle(step):
        error = failed[1]
    else:
        try:
            return fetch_into(cache, fetch, symbol, interval, _overlap(bars, step), end)
        except DataError as exc:
            cache.failed[key] = (end, exc)
            error = exc
    if end - bars.index[-1] > (pd.Timedelta(days=4) if interval == "1d" else 2 * step):
        raise error
    log.warning("%s %s: refreshing the cached bars failed (%s); serving them", symbol, interval, error)
    return bars


def _overlap(bars: pd.DataFrame, step: pd.Timedelta) -> pd.Timestamp:
    """Where to fetch from to refresh `bars`: their last two (one step back from the newest, if only one), so that
    the newest is fetched again (an earlier version cached it in progress) and one before it shows whether the
    source still gives the closes cached (`split_factor`); across a weekend or a night, one step back is not a
    bar."""
    return bars.index[-2] if len(bars) > 1 else bars.index[-1] - step


def _cached_bars(
    cache: BarCache, symbol: str, interval: str, start: pd.Timestamp, end: pd.Timestamp, fetch: Fetch
) -> pd.DataFrame:
    """Cached bars covering [start, end), fetching only what the cache lacks (as recent_bars: `_due`)."""
    step = interval_step(interval)
    cached = cache.read(symbol, interval)
    # The first bar may fall days after `start` (weekend, holiday): that still counts as covered.
    slack = max(step, pd.Timedelta(days=4))
    if cached is not None and len(cached) and cached.index[0] <= start + slack:
        cached = closed(cached, step, end)
        if len(cached):
            if not _due(cached, step, end, cache.asked.get((symbol, interval))):
                return cached
            start = _overlap(cached, step)
    return fetch_into(cache, fetch, symbol, interval, start, end)


def fetch_into(
    cache: BarCache, fetch: Fetch, symbol: str, interval: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Bars of [start, end) from `fetch`, merged into the cache; the whole cached series is returned. A bar still
    in progress at `end` is left out: a source returns it with the others, its close is the price of that
    moment, and a cached one was served as a close for days (until 2026-12-04; the model learns final closes).

    `start` is brought within what the source serves (YF_MAX_DAYS: Yahoo refuses 15m bars older than 60 days,
    and a cache last asked about before then was asked from its newest bar, refused, at every request, for
    good), leaving a hole in the cache. Where the source's closes of bars already cached are all a split's
    factor off the cache's (`split_factor`: Yahoo adjusts the whole history it serves for a split), the cached
    bars are rescaled by it before the merge: merged as they were, a window held both price levels, a one-bar
    jump that no forecast should read as a move (until 2026-12-04)."""
    start = max(start, _earliest(interval, end))
    got = fetch(symbol, interval, start.to_pydatetime(), end.to_pydatetime())
    cached = cache.read(symbol, interval)
    factor = None if cached is None else split_factor(cached, clean_bars(got, symbol, interval)[0])
    if factor is not None and cached is not None:  # on a refresh's one or two bars: confirmed on more, or not
        confirm = max(cached.index[max(len(cached) - SPLIT_BARS - 1, 0)], _earliest(interval, end))
        if confirm < start:
            got = fetch(symbol, interval, confirm.to_pydatetime(), end.to_pydatetime())
            factor = split_factor(cached, clean_bars(got, symbol, interval)[0])
    if factor is not None:
        log.warning(
            "%s %s: the source's closes of the cached bars are x%.4g theirs (a split since they were cached): "
            "the cached bars are rescaled to match",
            symbol,
            interval,
            factor,
        )
    bars = cache.merge(symbol, interval, got, closed_by=end, scale=factor or 1.0)
    key = (symbol, interval)
    cache.asked[key] = max(end, cache.asked.get(key, end))
    cache.failed.pop(key, None)
    return bars


def fetch_back(
    cache: BarCache, fetch: Fetch, symbol: str, interval: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame | None:
    """`fetch_into` from `start` (within what the source serves), for bars older than the cache's first; None,
    without asking, where this process has asked the source from there or earlier already and the cache still
    begins where that left it (a cache deleted since is filled again): what the source did not have then it will
    not have now. A forecast older than a symbol's history (a `last_bar_time` of 2015 on a 1d series, or 90 days
    back on 15m bars, which Yahoo keeps 60 days) had the whole history fetched again at every resolver pass, for
    as long as the journal kept it unresolved (a review)."""
    key, start = (symbol, interval), max(start, _earliest(interval, end))
    cached = cache.read(symbol, interval)
    first = None if cached is None or cached.empty else cached.index[0]
    asked = cache.asked_back.get(key)
    if asked is not None and asked[0] <= start and asked[1] == first:  # a cache deleted since: asked again
        return None
    bars = fetch_into(cache, fetch, symbol, interval, start, end)
    cache.asked_back[key] = (
        start if asked is None else min(asked[0], start),
        bars.index[0] if len(bars) else None,
    )
    return bars


# A split or a stock dividend moves every close the source gives by one factor (x0.5, x0.1, x3, x1/1.1); a
# corrected close moves by less than 5 % and alone: one cent on a $0.81 stock, x1.012 on one bar, was taken for a
# split while any move beyond 1 % was, and the cache was fetched again, losing what Yahoo no longer serves.
CACHE_SPLIT_CHANGE = 0.05  # the least relative change of the cached closes taken for a split
SPLIT_AGREE = 0.01  # how far a bar's factor may be from the median one
SPLIT_SHARE = 0.9  # the share of the bars compared whose factors must agree (a few corrected ones may not)
# A refresh compares one bar (the newest cached one is not compared): a split seen there is fetched again over
# this many cached bars before the cache is rescaled. On the one bar, a close the source corrected by 7 % (a bad
# print) rescaled every cached bar by x0.93 (a review: 434 of 437 bars more than 1 % off, and a false jump).
SPLIT_BARS = 10


def split_factor(cached: pd.DataFrame, fresh: pd.DataFrame) -> float | None:
    """The factor by which the source's closes (`fresh`) of the bars also in `cached` differ from the cached ones,
    when it is a split's: beyond CACHE_SPLIT_CHANGE, and within SPLIT_AGREE of it for SPLIT_SHARE of the bars or
    more (all of one or two); else None. Yahoo's closes are split-adjusted, not dividend-adjusted
    (auto_adjust=False). The newest cached bar is not compared: an earlier version cached it in progress, at the
    price of that moment."""
    both = cached.index[:-1].intersection(fresh.index)
    if not len(both):
        return None
    ratios = (fresh.loc[both, "close"] / cached.loc[both, "close"]).to_numpy()
    change = float(np.median(ratios))
    agree = np.abs(ratios / change - 1) <= SPLIT_AGREE
    if abs(np.log(change)) < np.log1p(CACHE_SPLIT_CHANGE) or agree.mean() < SPLIT_SHARE:
        return None
    return change


def _earliest(interval: str, end: pd.Timestamp) -> pd.Timestamp:
    """The first bar time to ask the source for, for `interval` at `end`: YF_MAX_DAYS back, less a day (Yahoo
    counts from when the request reaches it, after retries' backoff, and refuses a start a second too early)."""
    limit = YF_MAX_DAYS.get(interval)
    return end - pd.Timedelta(days=limit - 1) if limit is not None else pd.Timestamp.min.tz_localize("UTC")


def _utc(moment: datetime | None) -> pd.Timestamp:
    """`moment` (naive taken as UTC; None: now) as a UTC Timestamp."""
    stamp = pd.Timestamp(moment if moment is not None else datetime.now(timezone.utc))
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
