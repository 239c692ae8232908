"""A quant's review of `investiq backtest` (2026-12-05): the P&L per trade difference was biased upward where the
weights follow the outcomes (1), and nothing compared the rules with passive holding (2). Each test failed before
its fix."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pytest

from investiq.core.bayes.posterior import SECONDS_PER_DAY
from investiq.core.settings import Settings
from investiq.ops.backtest.analysis import analyse
from investiq.ops.backtest.baseline import LABEL, buy_and_hold, hold_trades
from investiq.ops.backtest.config import BacktestConfig
from investiq.ops.backtest.daily import daily_pnl, day_grid, grid_periods_per_year
from investiq.ops.backtest.report import as_json, markdown, summary, write
from investiq.ops.backtest.stats import difference, running_exposure
from investiq.ops.backtest.strategies import strategy_trades
from investiq.ops.backtest.trades import Trade

MONDAY = pd.Timestamp("2024-01-08", tz="UTC").timestamp()
HOUR = 3600.0

# -- 1: the P&L per trade difference on outcomes no weighting can foresee -------------------------------------


def followed(a0: float, later: tuple[float, ...]) -> tuple[list[Trade], np.ndarray]:
    """A rare strategy "a" trades once on Monday, then once on Tuesday beside three trades of a frequent one, "b".
    Tuesday's sizes follow Monday's outcome, as learnt weights do: after a win of "a", 1.8 for it and 0.2 for "b"
    (less exposure in all); after a loss, the other way round. Every outcome is +-1 with nothing to foresee it."""
    day = MONDAY + SECONDS_PER_DAY
    trades = [Trade("a", "X", MONDAY + 10 * HOUR, MONDAY + 20 * HOUR, a0)]
    trades += [
        Trade(name, "X", day + 10 * HOUR, day + 20 * HOUR, x)
        for name, x in zip(("a", "b", "b", "b"), later, strict=True)
    ]
    favoured = 1.8 if a0 > 0 else 0.2
    return trades, np.array([1.0, favoured, *(2.0 - favoured,) * 3])


def test_the_pnl_per_trade_difference_is_near_zero_on_average_where_sizes_follow_outcomes_without_edge():
    """Over every equally likely path of +-1 outcomes (none foreseeable: no edge), sizes that follow the first
    outcome made sum(s x) / sum(s) - mean(x) +0.071 a trade on average: a win shrinks the exposure after it, so it
    weighs more in its own denominator. The P&L per trade divides each size by the mean size known at its decision
    and centres on equal weights' mean: +0.014 on these 5 trades (the mean holds the outcome the sizes followed,
    one trade's weight in n, against the whole exposure's)."""
    config = BacktestConfig(reps=20)
    old, new = [], []
    for a0, *later in itertools.product((1.0, -1.0), repeat=5):
        trades, sizes = followed(a0, tuple(later))
        x = np.array([t.pnl for t in trades])
        old.append(sizes @ x / sizes.sum() - x.mean())
        diff = difference("followed", trades, sizes, np.ones(len(trades)), day_grid(trades), config)
        new.append(diff.pnl_per_trade.value)
    assert np.mean(old) == pytest.approx(0.5 / 3.4 - 0.5 / 6.6)  # +0.071: the old statistic's bias
    assert 0 < np.mean(new) < np.mean(old) / 4
    assert not np.allclose(new, 0.0)  # a path by path difference still, of no sign on average


def test_a_pnl_every_trade_shares_moves_no_pnl_per_trade_difference():
    """Sizes fixed in advance (1, then 0.5: nothing learnt) and every trade's P&L alike, +0.0109 as the sample's
    mean: the sizes added nothing. Without centring, sum(q x) / n - mean(x) read mean(x) (mean(q) - 1), -0.002 a
    trade (a review); a trade taken at size 0 before any other made the variant's figure nan (0 / 0)."""
    trades, _ = followed(1.0, (1.0, 1.0, 1.0, 1.0))
    trades = [replace(t, pnl=0.0109) for t in trades]
    days, config, equal = day_grid(trades), BacktestConfig(reps=20), np.ones(len(trades))
    fixed = difference("fixed", trades, np.array([1.0, 0.5, 0.5, 0.5, 0.5]), equal, days, config)
    assert fixed.pnl_per_trade.value == pytest.approx(0.0, abs=1e-15)
    floor = difference(
        "floor", trades, np.array([0.0, 0.5, 0.5, 0.5, 0.5]), equal, days, config, taken=np.ones(5, bool)
    )
    assert floor.pnl_per_trade.value == pytest.approx(0.0, abs=1e-15)


def test_the_running_exposure_rests_only_on_sizes_decided_up_to_each_trade():
    trades, sizes = followed(1.0, (1.0, -1.0, 1.0, -1.0))
    exposure = running_exposure(trades, sizes)
    np.testing.assert_allclose(exposure, [1.0, *[(1.0 + 1.8 + 3 * 0.2) / 5] * 4])
    later = sizes.copy()
    later[1:] = 7.0  # a later decision's sizes do not move an earlier trade's exposure
    assert running_exposure(trades, later)[0] == 1.0
    np.testing.assert_allclose(running_exposure(trades, np.ones(5)), 1.0)  # equal weights: 1
    # a trade its book did not take counts in no exposure; one taken at a weight of 0 does
    assert running_exposure(trades, np.array([0.0, 2.0, 1.0, 1.0, 1.0]))[1:].tolist() == [1.25] * 4
    taken = np.ones(5, dtype=bool)
    assert running_exposure(trades, np.array([0.0, 2.0, 1.0, 1.0, 1.0]), taken)[1:].tolist() == [1.0] * 4


def test_the_pnl_per_trade_of_equal_sizes_is_the_difference_of_mean_pnl_per_trade():
    """Sizes of 2 everywhere are equal weights at twice the exposure: per unit of exposure, no difference. A
    filter's own trades at size 1 against all of them: their mean P&L less all trades' mean."""
    trades, _ = followed(1.0, (1.0, -1.0, 1.0, 1.0))
    days, config = day_grid(trades), BacktestConfig(reps=20)
    equal = np.ones(len(trades))
    assert difference("doubled", trades, 2 * equal, equal, days, config).pnl_per_trade.value == pytest.approx(0)
    kept = [t for t in trades if t.pnl > 0]
    filtered = difference("kept", kept, np.ones(len(kept)), equal, days, config, trades)
    assert filtered.pnl_per_trade.value == pytest.approx(1.0 - 3 / 5)


# -- 2: buy and hold over the same days ---------------------------------------------------------------------------


def tiny() -> tuple[dict[str, pd.Series], pd.DatetimeIndex]:
    days = pd.bdate_range("2024-01-08", periods=5, tz="UTC")  # Monday to Friday
    closes = {
        "A": pd.Series([100.0, 100.0, 110.0, 121.0, 110.0], index=days),
        "B": pd.Series([50.0, 50.0, 50.0, 55.0, 60.0], index=days),
    }
    return closes, days


def test_buy_and_hold_matches_a_hand_computation():
    """Decided on the first day, filled at the next close (100 and 50), out at the last (110 and 60), 5 bps paid
    on entry and on exit, marked at every close between."""
    closes, days = tiny()
    config = BacktestConfig(cost_bps=5.0, reps=20)
    # one trade of the rules: filled Tuesday, closed Thursday, so held at Tuesday's and Wednesday's closes
    rules = [Trade("trend", "A", days[0].timestamp(), days[3].timestamp(), 0.209, 0.001, (), days[1].timestamp())]
    hold = buy_and_hold(closes, days, (rules, np.ones(1)), config)
    assert hold is not None and hold.symbols == ("A", "B")
    side = 5.0 / 1e4
    a = [0.0, -side, 0.10, 0.11, -0.11 - side]  # A's daily P&L: the fill, +10 %, +11 points, -11 points, exit
    b = [0.0, -side, 0.0, 0.10, 0.10 - side]
    daily = np.add(a, b)
    np.testing.assert_allclose(daily_pnl(hold_trades(closes, days, 5.0), np.ones(2), days), daily, atol=1e-12)
    assert hold.stats.total_return == pytest.approx((110 / 100 - 1) + (60 / 50 - 1) - 4 * side)
    assert hold.stats.costs == pytest.approx(4 * side)
    per_year = grid_periods_per_year(days)
    assert hold.stats.sharpe == pytest.approx(daily.mean() / daily.std() * math.sqrt(per_year))
    assert hold.stats.label == LABEL
    assert (hold.entry, hold.exit) == ("2024-01-09", "2024-01-12")
    assert hold.open_units == pytest.approx(2 / 5)  # the rules' one unit, held at two of five closes
    mine = daily_pnl(rules, np.ones(1), days)
    assert hold.total_return.value == pytest.approx(mine.sum() - daily.sum())  # equal weights minus holding
    assert math.isnan(hold.total_return.ci95[0])  # 5 days: too few blocks for an interval


def drifting(seed: int = 4, n: int = 1400) -> dict[str, pd.Series]:
    index = pd.bdate_range("2010-01-04", periods=n, tz="UTC")
    rng = np.random.default_rng(seed)
    return {
        s: pd.Series(100 * np.exp(np.cumsum(rng.normal(0.0006, 0.01, n))), index=index) for s in ("AAA", "BBB")
    }


def test_the_report_holds_a_buy_and_hold_row_and_says_when_the_rules_trail_it(tmp_path: Path):
    closes = drifting()
    start = closes["AAA"].index[500]
    trades = strategy_trades(closes, start, 5.0)
    analysis = analyse(trades, [], Settings(), BacktestConfig(reps=100), progress=False, closes=closes)
    hold = analysis.buy_and_hold
    assert hold is not None
    # by hand: each symbol from the bar after the first day of the daily P&L to its last day, both fills paid
    first, last = analysis.days[0], analysis.days[-1]
    held = [c[(c.index > first) & (c.index <= last)] for c in closes.values()]
    expected = sum(h.iloc[-1] / h.iloc[0] - 1 - 2 * 5.0 / 1e4 for h in held)
    assert hold.stats.total_return == pytest.approx(expected)
    equal = analysis.stats[0]
    assert hold.total_return.value == pytest.approx(equal.total_return - hold.stats.total_return)
    assert not math.isnan(hold.sharpe.ci95[0])  # ~900 weekdays: an interval
    write(tmp_path, analysis, BacktestConfig(reps=100))
    text = (tmp_path / "report.md").read_text()
    assert "## Baseline: buy and hold" in text and f"| {LABEL} | AAA, BBB |" in text
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["buy_and_hold"]["stats"]["total_return"] == pytest.approx(hold.stats.total_return)
    assert data["buy_and_hold"]["sharpe"]["value"] == pytest.approx(hold.sharpe.value)
    assert equal.sharpe < hold.stats.sharpe  # upward drift: the rules, out half the time, trail holding
    assert "Without any ML the rules trailed passive holding" in summary(analysis)


def test_a_journal_has_no_buy_and_hold_and_says_why():
    trades = [
        Trade(("a", "b")[i % 2], "X", MONDAY + i * SECONDS_PER_DAY, MONDAY + i * SECONDS_PER_DAY + HOUR, 0.1)
        for i in range(30)
    ]
    analysis = analyse(trades, [], Settings(), BacktestConfig(reps=20), progress=False)
    assert analysis.buy_and_hold is None
    assert as_json(analysis, BacktestConfig(reps=20))["buy_and_hold"] is None
    assert "buy and hold" not in markdown(analysis, "", []).lower()


def test_the_buy_and_hold_row_names_ten_symbols_and_counts_the_rest():
    """300 symbols were one table cell of 6,500 characters (a review of the reports)."""
    from investiq.ops.backtest.report import _listed

    assert _listed([f"S{i:03d}" for i in range(300)]) == ", ".join(f"S{i:03d}" for i in range(10)) + (
        " and 290 more (300 in all)"
    )
    assert _listed(("SPY", "QQQ")) == "SPY, QQQ"
