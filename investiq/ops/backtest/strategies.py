"""Stand-in strategies on daily closes: three classic long-only rules, each trading every symbol.

    trend      long while the 20-bar moving average is above the 100-bar one (enter on the cross up,
               leave on the cross down)
    reversion  RSI(14, Wilder's smoothing) below 30 enters, above 50 leaves
    breakout   a close above the highest close of the previous 20 bars enters (Donchian), a close below
               the lowest close of the previous 10 bars leaves

Timing, the same for every rule: the signal of bar t uses closes up to and including t only, and the
order fills at the close of bar t+1 (entry and exit alike). The trade is decided at bar t's time, so its
weight comes from trades closed strictly before that; the order goes in after bar t has closed, so its entry
filters may read news published before bar t+1's stamp (`Trade.fill_bar_ts`: for daily bars 00:00 UTC of the
next trading day, before its close; for intraday bars the end of bar t). Each fill pays cost_bps of the
notional, so a round trip's net return is close[exit] / close[entry] - 1 - 2 * cost_bps / 1e4. A trade still
open on the last bar is left out (it never closed). Each trade carries its marks to market, bar by bar from the
entry fill (`Trade.marks`), so that the daily P&L shows open trades' paper losses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from investiq.ops.backtest.trades import Trade

Signals = tuple[NDArray[np.bool_], NDArray[np.bool_]]  # (enter, leave) per bar, shape (n,) each


def trend(close: pd.Series) -> Signals:
    fast, slow = close.rolling(20).mean(), close.rolling(100).mean()
    up = (fast > slow).to_numpy()  # False while either average is still undefined (NaN compares False)
    return up, ~up


def reversion(close: pd.Series, period: int = 14) -> Signals:
    change = close.diff()
    gain = change.clip(lower=0).ewm(alpha=1 / period, min_periods=period, adjust=False).mean()
    loss = (-change).clip(lower=0).ewm(alpha=1 / period, min_periods=period, adjust=False).mean()
    rsi = (100 - 100 / (1 + gain / loss)).where(loss > 0, 100.0).where(gain.notna())
    return (rsi < 30).to_numpy(), (rsi > 50).to_numpy()


def breakout(close: pd.Series) -> Signals:
    high = close.shift(1).rolling(20).max()  # the previous 20 bars: bar t itself is not in its own channel
    low = close.shift(1).rolling(10).min()
    return (close > high).to_numpy(), (close < low).to_numpy()


RULES: dict[str, Callable[[pd.Series], Signals]] = {"trend": trend, "reversion": reversion, "breakout": breakout}


def round_trips(enter: NDArray[np.bool_], leave: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(signal bar, exit fill bar) of each closed trade: in at the fill t+1 after an entry signal at t, out at
    the fill u+1 after the first exit signal at u >= t+1 (no exit on the entry fill's own signal)."""
    trips, n, t = [], len(enter), 0
    while t < n - 1:
        if not enter[t]:
            t += 1
            continue
        u = t + 1
        while u < n - 1 and not leave[u]:
            u += 1
        if u >= n - 1:
            break  # still open on the last bar
        trips.append((t, u + 1))
        t = u + 1  # flat again from the exit fill: its own bar may signal the next entry
    return trips


def strategy_trades(closes: Mapping[str, pd.Series], start: pd.Timestamp, cost_bps: float) -> list[Trade]:
    """Every rule on every symbol's closes (UTC-indexed), keeping trades decided at or after `start`."""
    cost = 2 * cost_bps / 1e4
    out: list[Trade] = []
    for symbol, close in closes.items():
        prices = close.to_numpy(dtype=np.float64)
        times = close.index.as_unit("ns").asi8 / 1e9  # epoch seconds
        for name, rule in RULES.items():
            enter, leave = rule(close)
            for t, x in round_trips(enter, leave):
                if close.index[t] < start:
                    continue
                gross = prices[x] / prices[t + 1] - 1
                held = prices[t + 1 : x] / prices[t + 1] - 1 - cost / 2  # the entry fill paid, the exit not yet
                last = (float(times[x]), gross - cost)
                marks = (*zip(times[t + 1 : x].tolist(), held.tolist(), strict=True), last)
                filled = float(times[t + 1])  # the entry's fill bar: t + 1 <= x - 1 always exists
                trade = Trade(name, symbol, float(times[t]), float(times[x]), gross - cost, cost, marks, filled)
                out.append(trade)
    out.sort(key=lambda t: (t.decided_ts, t.closed_ts, t.strategy, t.symbol))
    return out
