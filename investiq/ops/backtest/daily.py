"""The daily P&L of a backtest variant: its grid of days (`day_grid`: the weekdays, or every day where trades
were decided, closed or marked at weekends), the days a year that grid shows (`grid_periods_per_year`, what
annual return and Sharpe are annualised at, and `annualisation_note`, which says so), and the sized P&L of each
day (`daily_pnl`, trades marked to market). stats.py builds a variant's figures on it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from investiq.core.forecast_stats import observed_periods_per_year
from investiq.ops.backtest.trades import Trade


def day_grid(trades: Sequence[Trade]) -> pd.DatetimeIndex:
    """UTC days of the daily P&L from the first decision to the last close: every day when a trade was decided,
    closed or marked on a Saturday or Sunday (a market open at weekends: crypto), else the weekdays. A day of the
    market without P&L counts as 0, so that annualising by the grid's own days a year stays consistent."""
    decided = pd.DatetimeIndex(pd.to_datetime([t.decided_ts for t in trades], unit="s", utc=True)).floor("D")
    closes = pd.DatetimeIndex(pd.to_datetime([t.closed_ts for t in trades], unit="s", utc=True)).floor("D")
    marked = pd.DatetimeIndex(pd.to_datetime([ts for t in trades for ts, _ in t.marks], unit="s", utc=True))
    # 5, 6: Saturday, Sunday; a weekend mark (a trade held through it) counts as a decision or a close there does
    weekends = bool(any(np.any(d.day_of_week >= 5) for d in (decided, closes, marked)))
    return pd.date_range(decided.min(), closes.max(), freq="D" if weekends else "B", tz="UTC")


def grid_periods_per_year(days: pd.DatetimeIndex) -> float:
    """Days a year of the daily P&L grid `days`, as its dates show (forecast_stats.observed_periods_per_year):
    260.9 for weekdays, 365.25 for every day. A grid of one day shows no rate: one a day, 365.25."""
    if len(days) < 2:
        return 365.25
    return observed_periods_per_year(days.as_unit("ns").asi8 / 1e9)


def annualisation_note(days: pd.DatetimeIndex) -> str:
    """What annualised the annual returns and Sharpe ratios over `days`, for report.md and report.json."""
    kind = "every day: trades were decided or closed at weekends" if (days.day_of_week >= 5).any() else "weekdays"
    return (
        f"annual return and Sharpe annualised at {grid_periods_per_year(days):.1f} days a year, the rate the "
        f"daily P&L's own {len(days)} days show ({kind}; (days - 1) / years from the first to the last), not "
        "an assumed calendar"
    )


def daily_pnl(trades: Sequence[Trade], sizes: NDArray[np.float64], days: pd.DatetimeIndex) -> NDArray[np.float64]:
    """(len(days),) the sized P&L each day: a trade marked to market (`Trade.marks`) adds the change of its mark on
    each day it is held, one without marks its whole P&L on the day it closed. Either way a trade adds its P&L
    in all."""
    when, amount = [], []
    for trade, size in zip(trades, sizes, strict=True):
        if size == 0:
            continue
        marks = trade.marks or ((trade.closed_ts, trade.pnl),)
        values = np.array([m for _, m in marks])
        when += [ts for ts, _ in marks]
        amount.append(size * np.diff(values, prepend=0.0))
    if not when:
        return np.zeros(len(days))
    at = pd.DatetimeIndex(pd.to_datetime(when, unit="s", utc=True)).floor("D")
    daily = np.bincount(days.get_indexer(at), weights=np.concatenate(amount), minlength=len(days))
    return daily.astype(np.float64)
