"""Buy and hold: the passive baseline under the stand-in rules, and so under the ML layer that weighs them.

Every variant is compared with equal weights, the rules without any ML; but rules that trail passive holding leave
the ML layer judged against a weak reference (a quant's review: on the sample window the rules with equal weights
returned 1.60 units, Sharpe 0.51, holding both indices 2.33, Sharpe 0.60). So a bar source's report also holds each
symbol from the same first day to the same last one:

- 1 unit of notional per symbol, the unit each rule's trade takes (not matched to the rules' exposure: the rules
  hold several trades of one symbol at once, or none, so their open notional varies from 0 to 3 units a symbol;
  its mean over the days, `open_units`, is given beside it, and the Sharpe ratio, the comparison the verdict makes,
  does not depend on the scale);
- bought as a rule's entry is filled: decided at the first bar on or after the daily P&L's first day, filled at
  the next bar's close; sold at the close of the last bar within its last day; each fill pays cost_bps of the
  notional, once on entry and once on exit, as the rules' trades pay (strategies._trade, still open at the end);
- marked to market at every bar, on the same grid of days as every variant's daily P&L, so that total return,
  annual return, Sharpe and max drawdown are figured as a variant's are (stats.variant_stats).

Its difference from equal weights (equal weights minus buy and hold: total return and Sharpe) is paired over the
same days, in blocks of block_days, as a variant's from equal weights. A journal has no prices between trades: no
baseline (said in the notes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from investiq.core.forecast_stats import Estimate
from investiq.ops.backtest.config import BacktestConfig
from investiq.ops.backtest.daily import daily_pnl
from investiq.ops.backtest.intervals import interval
from investiq.ops.backtest.stats import PairedDays, VariantStats, variant_stats
from investiq.ops.backtest.strategies import _trade
from investiq.ops.backtest.trades import Trade

LABEL = "buy and hold (1 unit per symbol)"
NO_PRICES = "no buy-and-hold baseline: the journal holds no prices between trades"


@dataclass(frozen=True)
class BuyAndHold:
    stats: VariantStats  # its figures as a variant's (win rate and its interval: of one trade per symbol)
    symbols: tuple[str, ...]  # those held (a symbol without three bars in the days: not held)
    entry: str  # the first entry fill's date, ISO
    exit: str  # the last exit's date, ISO
    # equal weights' mean open notional over the days, in units (trades held at a day's close): the rules' scale
    open_units: float
    # equal weights minus buy and hold, paired over days (nan interval on fewer than MIN_BLOCKS blocks of days)
    total_return: Estimate
    sharpe: Estimate


def hold_trades(closes: Mapping[str, pd.Series], days: pd.DatetimeIndex, cost_bps: float) -> list[Trade]:
    """One trade per symbol of `closes` (UTC-indexed): decided at its first bar on a day of `days`, filled at the
    next bar's close, out at its last bar on a day of `days` (closed there, exit cost paid), marked at every bar
    between that falls on one of them (a mark off the grid is left out: the next one carries its change, and the
    total is kept). A symbol with fewer than three bars on the days holds nothing."""
    out = []
    for symbol, close in closes.items():
        index = pd.DatetimeIndex(close.index)
        on_grid = np.flatnonzero(days.get_indexer(index.floor("D")) >= 0)
        if len(on_grid) < 3:
            continue
        t, x = int(on_grid[0]), int(on_grid[-1])
        prices = close.to_numpy(dtype=np.float64)
        times = index.as_unit("ns").asi8 / 1e9
        trade = _trade("buy and hold", symbol, prices, times, t, x, 2 * cost_bps / 1e4, still_open=True)
        kept = set(times[on_grid].tolist())
        out.append(replace(trade, marks=tuple(m for m in trade.marks if m[0] in kept)))
    return out


def open_units(trades: Sequence[Trade], sizes: NDArray[np.float64], days: pd.DatetimeIndex) -> float:
    """Mean over `days` of the notional held at a day's close: each trade taken, by its size, from its entry fill's
    day (its decision's without one) up to the day before its close."""
    if not len(days):
        return float("nan")
    held = np.zeros(len(days) + 1)
    for trade, size in zip(trades, sizes, strict=True):
        if size <= 0:
            continue
        entry = trade.fill_bar_ts if trade.fill_bar_ts is not None else trade.decided_ts
        start, stop = (
            days.searchsorted(pd.Timestamp(ts, unit="s", tz="UTC").floor("D")) for ts in (entry, trade.closed_ts)
        )
        held[start] += size
        held[stop] -= size
    return float(np.cumsum(held)[:-1].mean())


def buy_and_hold(
    closes: Mapping[str, pd.Series],
    days: pd.DatetimeIndex,
    equal: tuple[Sequence[Trade], NDArray[np.float64]],
    config: BacktestConfig,
) -> BuyAndHold | None:
    """The buy-and-hold baseline of `closes` over `days`, against equal weights' (trades, sizes) without filters;
    None when no symbol has three bars in the days."""
    trades = hold_trades(closes, days, config.cost_bps)
    if not trades:
        return None
    units = np.ones(len(trades))
    stats = variant_stats(LABEL, trades, units, days, config)
    paired = PairedDays.of(daily_pnl(*equal, days), daily_pnl(trades, units, days), days, config)

    def date(ts: float) -> str:
        return str(pd.Timestamp(ts, unit="s", tz="UTC").date().isoformat())

    return BuyAndHold(
        stats=stats,
        symbols=tuple(t.symbol for t in trades),
        entry=date(min(t.fill_bar_ts or t.decided_ts for t in trades)),
        exit=date(max(t.closed_ts for t in trades)),
        open_units=open_units(*equal, days),
        total_return=interval(paired.rows, paired.total, paired.basis, config),
        sharpe=interval(paired.rows, paired.sharpe, paired.basis, config),
    )
