"""No look-ahead: changing the bars after a moment changes no decision taken before it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gateway.wiring import bayes_config
from investiq.core.settings import Settings
from investiq.ops.backtest.engine import Variant, walk_forward
from investiq.ops.backtest.gating import Judged, gate
from investiq.ops.backtest.strategies import round_trips, strategy_trades
from investiq.ops.backtest.trades import Trade


def random_walks(n: int = 1500, seed: int = 0) -> dict[str, pd.Series]:
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2001-01-01", periods=n, tz="UTC")
    return {s: pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.012, n))), index=index) for s in ("AAA", "BBB")}


def test_perturbing_bars_after_a_moment_changes_no_earlier_decision():
    closes = random_walks()
    cut = closes["AAA"].index[1000]
    rng = np.random.default_rng(1)
    later = {s: c.where(c.index <= cut, c * np.exp(rng.normal(0, 0.05, len(c)))) for s, c in closes.items()}
    start = closes["AAA"].index[200]
    before, after = strategy_trades(closes, start, 5.0), strategy_trades(later, start, 5.0)
    t_cut = cut.timestamp()

    def decided(trades: list[Trade]) -> list[tuple[str, str, float]]:
        return [(t.strategy, t.symbol, t.decided_ts) for t in trades if t.decided_ts <= t_cut]

    def closed(trades: list[Trade]) -> list[Trade]:
        return [t for t in trades if t.closed_ts <= t_cut]

    assert len(decided(before)) > 50 and decided(before) == decided(after)  # every entry decided up to the cut
    assert closed(before) == closed(after)  # every exit (time and P&L) up to the cut
    assert decided(before) != [(t.strategy, t.symbol, t.decided_ts) for t in after]  # the perturbation bites later
    served = bayes_config(Settings(bayes_thompson_draws=500))
    for variant in (Variant("mean", 30.0), Variant("thompson", 0.0)):
        a, b = walk_forward(before, variant, served), walk_forward(after, variant, served)
        early_a, early_b = a.decision_ts <= t_cut, b.decision_ts <= t_cut
        assert a.decision_ts[early_a].tolist() == b.decision_ts[early_b].tolist()
        assert np.array_equal(a.weights[early_a], b.weights[early_b])  # every weight decided up to the cut


def test_an_order_fills_at_the_next_close_and_an_exit_needs_a_later_signal():
    enter = np.array([0, 1, 1, 0, 0, 0, 1, 0], dtype=bool)
    leave = np.array([0, 1, 0, 1, 0, 0, 0, 0], dtype=bool)
    # signal at 1, in at 2; the exit signal at 1 is the entry's own bar and does not count; out at 3 + 1 = 4;
    # signal at 6, in at 7 = the last bar: it would close where it opened, so no trade
    assert round_trips(enter, leave) == [(1, 4, False)]


class ReadsTheBars:
    """An entry filter that reads the closes up to its decision only (above their 10-bar mean), and records every
    question: (symbol, decided_at, fill_bar_at)."""

    name = "reads the bars"

    def __init__(self, closes: dict[str, pd.Series]) -> None:
        self.closes = closes
        self.asked: list[tuple[str, pd.Timestamp, pd.Timestamp | None]] = []

    def allows(self, symbol: str, decided_at: pd.Timestamp, fill_bar_at: pd.Timestamp | None = None) -> bool:
        self.asked.append((symbol, decided_at, fill_bar_at))
        seen = self.closes[symbol][self.closes[symbol].index <= decided_at]
        return bool(seen.iloc[-1] > seen.iloc[-10:].mean())


def test_behind_a_filter_no_entry_is_decided_or_asked_with_information_after_its_decision():
    """The gated path (a refused signal is no entry; the strategy may enter at a later allowed one): changing the
    bars after a moment changes no trade decided before it, and no question put to the filter before it; every
    question is about a signal bar at or after the window's start, filled at the next bar."""
    closes = random_walks()
    cut, start = closes["AAA"].index[1000], closes["AAA"].index[200]
    rng = np.random.default_rng(1)
    later = {s: c.where(c.index <= cut, c * np.exp(rng.normal(0, 0.05, len(c)))) for s, c in closes.items()}
    runs = []
    for bars in (closes, later):
        judge = ReadsTheBars(bars)
        trades = strategy_trades(bars, start, 5.0, gate([Judged(judge)]))
        runs.append((trades, judge.asked))
    (before, asked_before), (after, asked_after) = runs

    def early(trades: list[Trade]) -> list[Trade]:
        return [t for t in trades if t.decided_ts <= cut.timestamp()]

    def key(trades: list[Trade]) -> list[tuple[str, str, float]]:
        return [(t.strategy, t.symbol, t.decided_ts) for t in trades]

    assert early(before) and key(early(before)) == key(early(after))
    assert [t for t in before if t.closed_ts <= cut.timestamp()] == [
        t for t in after if t.closed_ts <= cut.timestamp()
    ]
    assert early(before) != early(strategy_trades(closes, start, 5.0))  # the filter moved or dropped entries
    assert [q for q in asked_before if q[1] <= cut] == [q for q in asked_after if q[1] <= cut]
    assert asked_before != asked_after  # the perturbation bites later
    index = closes["AAA"].index
    for _, decided_at, fill_bar_at in asked_before:
        assert decided_at >= start and fill_bar_at == index[index.get_loc(decided_at) + 1]
