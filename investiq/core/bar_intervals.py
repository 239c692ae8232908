"""Bar intervals ('15m', '1d', ...): their spacing, whether bars are spaced as their interval says, the session
date of a daily bar, and the holes between bars (counted, never filled)."""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from investiq.core.errors import DataError

# Bar spacing in seconds, keyed by the interval names Yahoo Finance uses.
INTERVAL_SECONDS: dict[str, int] = {
    "1m": 60,
    "2m": 120,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "60m": 3600,
    "90m": 5400,
    "1h": 3600,
    "1d": 86_400,
    "1wk": 7 * 86_400,
}
# Daily and weekly bars skip weekends and holidays (Good Friday + weekend: Thursday -> Monday,
# 4 calendar days), so only spacing beyond the interval plus 3 days counts as a hole.
CLOSED_DAYS = 3
# A file's median bar spacing within this factor of its interval, either way, is that interval: 60m against 90m
# (x1.5) and 1m against 2m (x2) are told apart, and days against weeks.
SPACING_TOLERANCE = 1.25


def interval_step(interval: str) -> pd.Timedelta:
    """Bar spacing of `interval` ('15m', '1d', ...); DataError for a name not in INTERVAL_SECONDS."""
    if interval not in INTERVAL_SECONDS:
        raise DataError(f"unknown interval {interval!r}; use one of {', '.join(INTERVAL_SECONDS)}")
    return pd.Timedelta(seconds=INTERVAL_SECONDS[interval])


def is_daily(interval: str) -> bool:
    """Whether bars of `interval` are a day or longer apart (one per trading day, week, ...)."""
    return bool(interval_step(interval) >= pd.Timedelta(days=1))


def session_dates(labels: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The session date (UTC midnight) of each daily bar label: the UTC date half a day after it. Yahoo labels a
    session at its exchange's midnight (04:00 UTC for New York, 15:00 UTC the day before for Tokyo), a bar file
    at 00:00 UTC of its date (`bar_times._local_days`): both give the session's own date, for exchanges from
    UTC-11 to UTC+12."""
    return (labels + pd.Timedelta(hours=12)).floor("D")


class SpacingError(DataError):
    """Bars spaced unlike the interval they were read as (`interval`; None: none was given); `looks_like` is the
    interval they are (None: none InvestIQ takes)."""

    def __init__(self, symbol: str, interval: str | None, median: pd.Timedelta, looks_like: str | None) -> None:
        self.symbol, self.median, self.looks_like = symbol, median, looks_like
        text = f"bars for {symbol} are {median} apart (median)"
        text += f", not {interval} as the interval says: " if interval is not None else ": "
        if looks_like is not None:
            text += f"pass --interval {looks_like} (or set price_interval)"
        else:
            text += f"that is no interval InvestIQ takes ({', '.join(INTERVAL_SECONDS)}); resample them to one"
        super().__init__(text)


def median_spacing(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The median time between consecutive sorted bar times (nights and weekends are a few of many); rows that are
    no bar (NaT: bar_times) left out."""
    return pd.Timedelta(np.median(np.diff(index.dropna().as_unit("ns").asi8)), unit="ns")


def interval_of(spacing: pd.Timedelta) -> str | None:
    """The interval whose bars are `spacing` apart, within SPACING_TOLERANCE either way; None for a spacing no
    interval has (4 hours, a month). Of equal ones (60m, 1h) the later name."""
    seconds = max(spacing.total_seconds(), 1e-9)
    off = {name: abs(np.log(seconds / step)) for name, step in reversed(INTERVAL_SECONDS.items())}
    best = min(off, key=off.__getitem__)
    return best if off[best] <= np.log(SPACING_TOLERANCE) else None


def check_spacing(index: pd.DatetimeIndex, interval: str, symbol: str) -> None:
    """SpacingError when sorted bar times are spaced unlike `interval` (the median spacing further than
    SPACING_TOLERANCE from it, from 10 bars on): daily bars read as 15m would be windowed, gap-checked and dated
    as 15m bars, and 30m bars read as 15m would be annualised as 15m ones."""
    step = interval_step(interval)
    if len(index) < 10:
        return
    median = median_spacing(index)
    if abs(np.log(median / step)) > np.log(SPACING_TOLERANCE):
        raise SpacingError(symbol, interval, median, interval_of(median))


def find_gaps(index: pd.DatetimeIndex, interval: str) -> tuple[int, pd.Timedelta | None]:
    """Unexpected holes in sorted UTC bar times: (count, largest spacing among them or None).

    Intraday: spacing above the interval between two bars of the same UTC day (nights, weekends and
    holidays are not holes), or between any two bars of a market that trades round the clock (`round_the_clock`:
    an outage of a crypto feed from one day into the next was no hole, a review). Daily and weekly: more than
    interval + 3 calendar days between bar dates.
    """
    step = interval_step(interval)
    if len(index) < 2:
        return 0, None
    spacing = index[1:] - index[:-1]
    days = index[1:].normalize() - index[:-1].normalize()  # calendar days: DST shifts do not count
    if step < pd.Timedelta(days=1):
        hole = (spacing > step) & ((days == pd.Timedelta(0)) | round_the_clock(index, spacing, step))
    else:
        hole = days > step + pd.Timedelta(days=CLOSED_DAYS)
    count = int(np.count_nonzero(hole))
    return count, (spacing[hole].max() if count else None)


# Of a round-the-clock market's intraday spacings at most this share exceeds its interval (its outages); a market
# that closes has one such spacing a session at least: 1 in 7 hourly bars of a stock, 1 in 23 of a future.
ROUND_THE_CLOCK_HOLES = 0.02


def round_the_clock(index: pd.DatetimeIndex, spacing: pd.TimedeltaIndex, step: pd.Timedelta) -> bool:
    """Whether sorted intraday bar times show a market that never closes (a crypto pair): bars on Saturdays and on
    Sundays (UTC), and hardly a spacing longer than the interval. Both days: FX and futures open on Sunday evening
    (UTC) and shut at weekends, which a Sunday alone counted as gaps, one a week (a review of this rule)."""
    days = set(index.day_of_week)
    return {5, 6} <= days and float(np.mean(spacing > step)) <= ROUND_THE_CLOCK_HOLES
