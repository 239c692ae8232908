"""No look-ahead: changing the bars after a moment changes no decision taken before it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gateway.wiring import bayes_config
from investiq.core.settings import Settings
from investiq.ops.backtest.engine import Variant, walk_forward
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
    # signal at 6, in at 7 = the last bar: still open, left out
    assert round_trips(enter, leave) == [(1, 4)]
