"""Kill tests of a mutation audit of the backtest (engine, gating, trades, strategies, filters): each fails with
the mutant its docstring names applied, and passes on the code as it is."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pytest

from gateway.wiring import bayes_config
from investiq.core.bayes.allocation import Method
from investiq.core.bayes.posterior import SECONDS_PER_DAY
from investiq.core.settings import Settings
from investiq.ops.backtest.engine import Variant, walk_forward
from investiq.ops.backtest.filters import (
    SENTIMENT_LOOKBACK,
    SENTIMENT_THRESHOLD,
    Forecasts,
    PriceFilter,
    SentimentFilter,
    read_headlines,
)
from investiq.ops.backtest.strategies import strategy_trades
from investiq.ops.backtest.trades import Trade, read_journal
from tests.ops.test_backtest_engine import T0
from tests.ops.test_backtest_filters import GOOD, write
from tests.ops.test_backtest_gating import trending


def closing_together(n: int = 40) -> list[Trade]:
    """n winning trades of "a" and n losing ones of "b", decided a day apart and all closed at one instant C, then
    a trade of each decided at C itself: what closed at C is not known at a decision at C."""
    close = T0 + (n + 1) * SECONDS_PER_DAY
    trades = []
    for day in range(n):
        decided = T0 + day * SECONDS_PER_DAY
        trades += [Trade("a", "X", decided, close, 1.0), Trade("b", "X", decided, close, -1.0)]
    trades += [Trade("a", "X", close, close + 60, 1.0), Trade("b", "X", close, close + 60, -1.0)]
    return trades


@pytest.mark.parametrize("method", ["mean", "pnl"])
def test_a_trade_closed_at_the_decision_time_is_not_learnt_by_it(method: Method):
    """engine.py:_bayesian: `learnt[j][0] < now` as `<=`, a trade closing at a decision weighs it."""
    run = walk_forward(closing_together(), Variant(method, 0.0), bayes_config(Settings()))
    assert run.sizes.tolist() == [1.0] * len(run.sizes)


def test_a_trade_a_filter_refused_teaches_the_weights_nothing():
    """engine.py:_bayesian: `if taken[i]` dropped, a refused trade's outcome moves the weights."""
    early = closing_together()[:-2]  # a's winners and b's losers, all closed at one instant
    after = early[0].closed_ts + SECONDS_PER_DAY
    trades = early + [Trade(s, "X", after, after + 60, 0.0) for s in ("a", "b")]
    allowed = np.array([t.strategy == "b" or t.decided_ts == after for t in trades])  # a's winners refused
    run = walk_forward(trades, Variant("mean", 0.0), bayes_config(Settings()), allowed)
    everything = walk_forward(trades, Variant("mean", 0.0), bayes_config(Settings()))
    assert run.sizes[-2:].tolist() == [1.0, 1.0]  # as if a had no trade at all
    assert everything.sizes[-1] < 1.0 < everything.sizes[-2]  # the case it stands for: both learnt


def test_a_trade_opened_after_its_close_is_taken_as_of_unknown_entry(tmp_path: Path):
    """backtest/trades.py:read_journal: `start > t.closed_ts` dropped, an opened_at after the close kept."""
    db = tmp_path / "agent.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(
            "CREATE TABLE trades (id INTEGER, strategy_name TEXT, profit_loss REAL, opened_at, closed_at)"
        )
        conn.execute("INSERT INTO trades VALUES (1, 'a', 1.0, '2024-01-03T10:00:00Z', '2024-01-02T10:00:00Z')")
        conn.commit()
    journal = read_journal(db)
    (trade,) = journal.trades
    assert not trade.entry_known and trade.decided_ts == trade.closed_ts and journal.without_open_time == 1


def test_a_trade_decided_at_the_start_is_kept_and_its_entry_is_asked():
    """strategies.py:strategy_trades/_gated: `t < first` as `<=`, the start bar's trade dropped or unasked."""
    closes = trending()
    trades = strategy_trades(closes, closes["AAA"].index[300], 5.0)
    decided = trades[0].decided_ts
    start = pd.Timestamp(decided, unit="s", tz="UTC")
    assert decided in [t.decided_ts for t in strategy_trades(closes, start, 5.0)]
    assert strategy_trades(closes, start, 5.0, gate=lambda symbol, decided_ts, fill_bar_ts: False) == []


DAY = pd.Timestamp("2024-03-04", tz="UTC")


def headlines(*at_score: tuple[pd.Timestamp, float]) -> SentimentFilter:
    """A sentiment filter over SPX headlines at these times with these scores (no scorer run)."""
    times = np.array([t.value for t, _ in at_score], dtype=np.int64)
    return SentimentFilter({"SPX": times}, {"SPX": np.array([s for _, s in at_score])}, "lexicon", "a test's")


def test_the_lookback_window_holds_both_of_its_ends():
    """filters.py:SentimentFilter.mean_score: lo `side="left"` as "right", a headline at c - lookback dropped."""
    made = headlines((DAY - SENTIMENT_LOOKBACK, -0.9), (DAY, -0.5))
    assert made.mean_score("SPX", DAY) == pytest.approx(-0.7)
    assert not made.allows("SPX", DAY)


def test_a_mean_score_at_the_threshold_is_allowed():
    """filters.py:SentimentFilter.allows: `mean < threshold` as `<=`, news exactly at the threshold refused."""
    made = headlines((DAY, SENTIMENT_THRESHOLD))
    assert made.allows("SPX", DAY) and made.counts.allowed == 1


def test_a_p_up_or_a_downside_exactly_at_its_bound_is_refused():
    """filters.py:PriceFilter.allows: `p_up >` or `risk >` as `>=`, an entry exactly at a bound let in."""
    skilled = SimpleNamespace(probability_up_source=lambda: "model")  # PriceFilter.allows reads only this of it
    times = np.array([DAY.value, (DAY + pd.Timedelta(days=1)).value], dtype=np.int64)
    forecasts = {"SPX": Forecasts(times, np.array([0.5, 0.7]), np.array([0.0, -0.05]))}
    made = PriceFilter(forecasts, skilled, max_risk_loss=0.05)  # type: ignore[arg-type]
    assert [made.allows("SPX", DAY), made.allows("SPX", DAY + pd.Timedelta(days=1))] == [False, False]
    assert (made.counts.allowed, made.counts.refused) == (0, 2)


def test_a_compact_iso_time_of_day_is_kept(tmp_path: Path):
    """filters.py:CLOCK: `[Tt]\\d` dropped, 20240301T1405Z read as a date alone (moved to the end of day)."""
    read = read_headlines(write(tmp_path / "h.csv", [("20240301T1405Z", "SPX", GOOD)]))
    assert read["time"].tolist() == [pd.Timestamp("2024-03-01T14:05:00Z")]
