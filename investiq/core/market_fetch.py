"""Fetching bars from a source into the cache (investiq.core.bar_cache), and when: the last closed bars served
for a forecast (`recent_bars`), a window for training (`cached_bars`), a window refreshed or fetched further
back for the resolver (`fetch_into`, `fetch_back`); how often a source that did not have a bar, or failed, is
asked again (REFETCH_AFTER); how far back Yahoo serves (YF_MAX_DAYS); a split seen in the source's closes
rescales the cache (investiq.core.market_splits).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from investiq.core.bar_cache import BarCache, closed
from investiq.core.bar_intervals import interval_step
from investiq.core.bars import clean_bars
from investiq.core.errors import DataError
from investiq.core.market_splits import SPLIT_BARS, split_factor
from investiq.core.yahoo import YF_MAX_DAYS, fetch_yfinance

# (symbol, interval, start, end) -> raw bars; start and end are tz-aware UTC, end exclusive.
Fetch = Callable[[str, str, datetime, datetime], pd.DataFrame]

log = logging.getLogger(__name__)


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
    end = utc(now)
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


def cached_bars(
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


def _earliest(interval: str, end: pd.Timestamp) -> pd.Timestamp:
    """The first bar time to ask the source for, for `interval` at `end`: YF_MAX_DAYS back, less a day (Yahoo
    counts from when the request reaches it, after retries' backoff, and refuses a start a second too early)."""
    limit = YF_MAX_DAYS.get(interval)
    return end - pd.Timedelta(days=limit - 1) if limit is not None else pd.Timestamp.min.tz_localize("UTC")


def utc(moment: datetime | None) -> pd.Timestamp:
    """`moment` (naive taken as UTC; None: now) as a UTC Timestamp."""
    stamp = pd.Timestamp(moment if moment is not None else datetime.now(timezone.utc))
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
