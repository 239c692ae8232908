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
notional, so a round trip's net return is close[exit] / close[entry] - 1 - 2 * cost_bps / 1e4. A trade still open
on the last bar is closed at its close, exit cost paid, and marked so (`Trade.open_at_end`): left out, whether a
trade decided at bar t counted at all hung on bars after t, and the rules' figures leaned by what each leaves
open (trend and breakout mostly winners, reversion mostly losers: on random walks trend's closed trades lost 3.3
% a trade, all of them together gained 0.25 %; a review). Each trade carries its marks to market, bar by bar from
the entry fill (`Trade.marks`), so that the daily P&L shows open trades' paper losses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from investiq.ops.backtest.gating import Gate
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


def round_trips(
    enter: NDArray[np.bool_], leave: NDArray[np.bool_], allows: Callable[[int], bool] | None = None
) -> list[tuple[int, int, bool]]:
    """(signal bar, exit fill bar, still open) of each trade: in at the fill t+1 after an entry signal at t, out at
    the fill u+1 after the first exit signal at u >= t+1 (no exit on the entry fill's own signal); a trade whose
    exit would fill after the last bar is out at the last bar, still open (True). None enters on the last two bars:
    its entry would fill on the last bar, where it closes.

    `allows(t)`, when given, gates the entry signals: it is asked at each bar t whose entry signal holds while the
    strategy is flat (after bar t's close, before anything later is known), and a refused signal is no entry: the
    strategy stays flat and may enter at any later bar whose signal holds and is allowed."""
    n = len(enter)
    stops = np.where(np.asarray(leave[: max(n - 1, 0)], dtype=bool), np.arange(max(n - 1, 0)), n - 1)
    next_exit = np.minimum.accumulate(stops[::-1])[::-1]  # [i]: the first exit signal at or after i, else n - 1
    trips, t = [], 0
    while t < n - 2:
        u = int(next_exit[t + 1])
        if enter[t] and (allows is None or allows(t)):
            if u >= n - 1:  # no exit signal before the last bar: open at the end
                trips.append((t, n - 1, True))
                break
            trips.append((t, u + 1, False))
            t = u + 1  # flat again from the exit fill: its own bar may signal the next entry
        else:
            t += 1
    return trips


def strategy_trades(
    closes: Mapping[str, pd.Series], start: pd.Timestamp, cost_bps: float, gate: Gate | None = None
) -> list[Trade]:
    """Every rule on every symbol's closes (UTC-indexed), keeping trades decided at or after `start`.

    `gate` (symbol, decided_ts, fill_bar_ts), when given, gates the entry signals of bars at or after `start`
    (`round_trips`): the trades of the signals it allows. Signals before `start` are not asked (their trades are
    left out either way)."""
    cost = 2 * cost_bps / 1e4
    out: list[Trade] = []
    for symbol, close in closes.items():
        prices = close.to_numpy(dtype=np.float64)
        times = close.index.as_unit("ns").asi8 / 1e9  # epoch seconds
        first = int(np.searchsorted(close.index, start))  # the first bar at or after start
        allows = None if gate is None else _gated(gate, symbol, times, first)
        for name, rule in RULES.items():
            enter, leave = rule(close)
            for t, x, still_open in round_trips(enter, leave, allows):
                if t < first:
                    continue
                out.append(_trade(name, symbol, prices, times, t, x, cost, still_open))
    out.sort(key=lambda t: (t.decided_ts, t.closed_ts, t.strategy, t.symbol))
    return out


def _gated(gate: Gate, symbol: str, times: NDArray[np.float64], first: int) -> Callable[[int], bool]:
    """`gate` asked about an entry signal at bar t >= first of `symbol` (decided at bar t, filled at bar t+1's
    close); a signal before `first` is let through unasked."""
    return lambda t: t < first or gate(symbol, float(times[t]), float(times[t + 1]))


def _trade(
    name: str,
    symbol: str,
    prices: NDArray[np.float64],
    times: NDArray[np.float64],
    t: int,
    x: int,
    cost: float,
    still_open: bool = False,
) -> Trade:
    """The round trip signalled at bar t and filled out at bar x (closed there at the end, `still_open`), with its
    marks to market."""
    gross = prices[x] / prices[t + 1] - 1
    held = prices[t + 1 : x] / prices[t + 1] - 1 - cost / 2  # the entry fill paid, the exit not yet
    last = (float(times[x]), gross - cost)
    marks = (*zip(times[t + 1 : x].tolist(), held.tolist(), strict=True), last)
    filled = float(times[t + 1])  # the entry's fill bar: t + 1 <= x - 1 always exists
    pnl = gross - cost
    return Trade(name, symbol, float(times[t]), float(times[x]), pnl, cost, marks, filled, open_at_end=still_open)
