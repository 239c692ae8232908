"""Fixes from reviews of `investiq backtest`: news timing (B2, B3), interval width (B4), the relative Sharpe's
dropped replicates (B5) and filters that refused nothing (B7); then the relative Sharpe over a negative baseline
(C1), "supported" only on the whole interval (C2), exposure (C3), a single strategy (C4) and what the notes say
(C5). Each test failed before its fix."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pytest

from investiq.core.bayes.posterior import SECONDS_PER_DAY
from investiq.core.forecast_stats import bootstrap_interval, expanded_tail
from investiq.core.journal.timestamps import iso
from investiq.core.settings import Settings
from investiq.ops.backtest.analysis import analyse
from investiq.ops.backtest.claims import PARTLY_SUPPORTED, SUPPORTED, claims
from investiq.ops.backtest.config import BacktestConfig
from investiq.ops.backtest.daily import daily_pnl, day_grid
from investiq.ops.backtest.filters import Counts, SentimentFilter, read_headlines
from investiq.ops.backtest.gating import verdicts
from investiq.ops.backtest.intervals import TAIL, Basis
from investiq.ops.backtest.report import _relative_sharpe, as_json, markdown, summary
from investiq.ops.backtest.stats import MAX_REPS, _by_decision_day, _reps, difference, variant_stats
from investiq.ops.backtest.strategies import strategy_trades
from investiq.ops.backtest.trades import Trade, read_journal

T0 = 1_600_000_000.0  # 2020-09-13


def bad_news(symbol: str, *when: pd.Timestamp) -> SentimentFilter:
    """A sentiment filter that holds one very negative headline of `symbol` at each of `when`."""
    times = np.sort(np.array([pd.Timestamp(w).value for w in when], dtype=np.int64))
    return SentimentFilter({symbol: times}, {symbol: np.full(len(times), -1.0)}, "lexicon", "test")


# -- B2: the sentiment cut-off is the fill bar's stamp -------------------------------------------------------


def test_sentiment_reads_the_news_published_before_the_fill_bar_and_none_after():
    """An entry signalled at bar t's close fills at bar t+1's close: a headline of day t's afternoon is known when
    the order goes in. Before, the cut-off was bar t's stamp (00:00 UTC of day t), so it was ignored."""
    index = pd.bdate_range("2020-01-01", periods=400, tz="UTC")
    close = pd.Series(100 * np.exp(np.cumsum(np.random.default_rng(2).normal(0, 0.02, 400))), index=index)
    trade = strategy_trades({"X": close}, index[0], cost_bps=5)[0]
    t = pd.Timestamp(trade.decided_ts, unit="s", tz="UTC")
    fill_bar = index[index.get_loc(t) + 1]
    afternoon = t + pd.Timedelta(hours=15)  # after bar t's stamp, before the next bar's
    assert afternoon < fill_bar
    read = bad_news("X", afternoon)
    assert verdicts([trade], read).tolist() == [False]  # refused on the news it could read
    assert (read.counts.refused, read.counts.no_forecast) == (1, 0)
    assert trade.fill_bar_ts == fill_bar.timestamp()
    # a headline at or after the fill bar's stamp is never read at this entry
    later = bad_news("X", fill_bar + pd.Timedelta(hours=15), fill_bar + pd.Timedelta(days=1))
    assert verdicts([trade], later).tolist() == [True] and later.counts.no_forecast == 1


def test_a_journal_trade_reads_news_up_to_its_open_time_and_one_without_it_none():
    """The agent's trades keep their real open time as the cut-off. A trade without a readable opened_at is
    decided at its close: before, the filter judged its entry on news of its whole life (look-ahead)."""
    entry = pd.Timestamp("2024-03-04T15:00:00Z")
    opened = Trade("a", "SPY", entry.timestamp(), entry.timestamp() + 3 * SECONDS_PER_DAY, 1.0)
    news = bad_news("SPY", entry + pd.Timedelta(minutes=1))
    assert verdicts([opened], news).tolist() == [True] and news.counts.no_forecast == 1  # a minute late: unread
    assert verdicts([opened], bad_news("SPY", entry - pd.Timedelta(minutes=1))).tolist() == [False]


def test_a_journal_trade_without_an_open_time_is_not_judged_on_news_of_its_life(tmp_path: Path):
    db = tmp_path / "portfolio.db"
    closed = pd.Timestamp("2024-03-08T20:00:00Z")
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE trades (id INTEGER, symbol TEXT, strategy_name TEXT, closed_at TEXT, profit_loss REAL)"
    )
    conn.execute("INSERT INTO trades VALUES (1, 'SPY', 'a', ?, -10)", (iso(closed.timestamp()),))
    conn.commit()
    conn.close()
    journal = read_journal(db)
    (trade,) = journal.trades
    assert journal.without_open_time == 1 and trade.decided_ts == closed.timestamp()
    during = bad_news("SPY", closed - pd.Timedelta(days=1))  # news while it was open, after its unknown entry
    assert verdicts([trade], during).tolist() == [True]
    assert (during.counts.allowed, during.counts.refused) == (0, 0)  # not judged at all


# -- B3: a date-only headline is placed at the end of its UTC day --------------------------------------------


def write(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text("time,symbol,text\n" + "".join(f'"{a}","{b}","{c}"\n' for a, b, c in rows))
    return path


def test_a_date_only_headline_is_placed_at_the_end_of_its_utc_day(tmp_path: Path):
    """Before: 00:00 UTC, so a headline published after the close was read by an entry opened that morning."""
    end = pd.Timestamp("2015-03-02T23:59:59.999999999Z")
    text = read_headlines(
        write(tmp_path / "t.csv", [("2015-03-02", "X", "a"), ("2015-03-02T14:05:00Z", "X", "b")])
    )
    assert text["time"].tolist() == [pd.Timestamp("2015-03-02T14:05:00Z"), end]  # a clock time stays as given
    numbers = read_headlines(write(tmp_path / "n.csv", [("20150302", "X", "a"), ("20150303", "X", "b")]))
    assert numbers["time"].tolist() == [end, end + pd.Timedelta(days=1)]
    slashed = read_headlines(write(tmp_path / "s.csv", [("13/03/2015", "X", "a"), ("02/03/2015 09:30", "X", "b")]))
    assert slashed["time"].tolist() == [pd.Timestamp("2015-03-02T09:30:00Z"), end + pd.Timedelta(days=11)]
    midnight = read_headlines(write(tmp_path / "m.csv", [("2015-03-02T00:00:00Z", "X", "a")]))
    assert midnight["time"].tolist() == [pd.Timestamp("2015-03-02T00:00:00Z")]  # midnight given: midnight


# -- B4: expanded percentile intervals over few blocks; the family-wise caveat ------------------------------


def planted(days: int = 145, seed: int = 0) -> list[Trade]:
    """Three strategies, one trade each per day, random P&L with a slight edge."""
    rng = np.random.default_rng(seed)
    out = []
    for day in range(days):
        decided = T0 + day * SECONDS_PER_DAY
        for name in ("a", "b", "c"):
            out.append(Trade(name, "X", decided, decided + SECONDS_PER_DAY / 2, float(rng.normal(0.1, 1.0))))
    return out


def test_intervals_over_trades_are_the_expanded_percentile_intervals():
    """~11 blocks of days: the plain percentile interval rejected a true null about twice as often as 5%. The trade
    figures are resampled by decision day (trades of a day move together)."""
    trades = planted(days=220)
    config = BacktestConfig(reps=500)
    days = day_grid(trades)
    x = np.array([t.pnl for t in trades])
    win = x > 0
    equal = np.ones(len(trades))
    rows = _by_decision_day(trades, np.column_stack([equal * win, equal]), days)

    def share(m: np.ndarray) -> np.ndarray:
        return np.asarray(m[..., 0] / m[..., 1])

    plain = bootstrap_interval([rows], share, config.block_days, config.reps, config.seed)[1]
    wide = bootstrap_interval([rows], share, config.block_days, config.reps, config.seed, expanded=True)[1]
    assert wide[0] < plain[0] and wide[1] > plain[1]
    assert variant_stats("equal", trades, equal, days, config).win_rate.ci95 == pytest.approx(wide)
    sizes = np.where(np.arange(len(trades)) % 3 == 0, 2.0, 0.5)
    per_trade = np.column_stack([sizes * win, sizes, sizes * x * win, equal * win, equal, equal * x * win])
    per_day = _by_decision_day(trades, per_trade, days)

    def win_rate(m: np.ndarray) -> np.ndarray:
        return np.asarray(m[..., 0] / m[..., 1] - m[..., 3] / m[..., 4])

    expected = bootstrap_interval([per_day], win_rate, config.block_days, config.reps, config.seed, True)[1]
    diff = difference("resized", trades, sizes, equal, days, config)
    assert diff.win_rate.ci95 == pytest.approx(expected)


class AllowsAll:
    """An entry filter that judges every entry and refuses none."""

    name = "allows all"
    note = "lets every entry in"

    def __init__(self) -> None:
        self.counts = Counts()

    def allows(self, symbol: str, decided_at: pd.Timestamp, fill_bar_at: pd.Timestamp | None = None) -> bool:
        self.counts.allowed += 1
        return True


def test_the_report_warns_that_one_verdict_in_twenty_can_be_chance():
    trades = planted(days=220)
    analysis = analyse(trades, [], Settings(), BacktestConfig(reps=100), progress=False)
    text = markdown(analysis, "", [])
    assert "about one in twenty" in text and "'supported'" in text and "'contradicted'" in text


# -- B5: the relative Sharpe's dropped replicates ---------------------------------------------------------


def sparse(seed: int = 5) -> list[Trade]:
    """Two strategies that trade only on the first four days and on day 250 (251 days: 12 blocks of 20, enough for
    an interval): many daily bootstrap replicates draw none of their trades, so equal weights' Sharpe is exactly 0
    in them."""
    rng = np.random.default_rng(seed)
    when = [*(d for d in range(4) for _ in range(10)), 250, 250]
    return [
        Trade(("a", "b")[i % 2], "X", T0 + d * SECONDS_PER_DAY, T0 + d * SECONDS_PER_DAY + 3600, float(p))
        for i, (d, p) in enumerate(zip(when, rng.normal(0.3, 1.0, len(when)), strict=True))
    ]


def test_the_relative_sharpe_says_how_many_replicates_it_dropped():
    """Where equal weights' Sharpe is exactly 0 in a replicate (it drew none of the trades) there is no relative
    change: before, such replicates were silently dropped from the interval."""
    trades = sparse()
    days, config = day_grid(trades), BacktestConfig(reps=400)
    equal = np.ones(len(trades))
    sizes = np.where(np.arange(len(trades)) % 2 == 0, 1.5, 0.5)
    diff = difference("tilted", trades, sizes, equal, days, config)
    assert 0.05 < diff.sharpe_relative_dropped < 0.95
    (sharpe,) = [c for c in claims(diff) if c.claim.startswith("sharpe")]
    assert "replicates dropped" in sharpe.note and "conditional on it being non-zero" in sharpe.note
    assert "replicates dropped" in _relative_sharpe(diff) and "conditional" in _relative_sharpe(diff)
    analysis = analyse(trades, [], Settings(), config, progress=False)
    dropped = {d.label: d.sharpe_relative_dropped for d in analysis.differences}
    data = as_json(analysis, config)
    assert [d["sharpe_relative_dropped"] for d in data["differences_vs_equal"]] == pytest.approx(
        list(dropped.values())
    )


# -- B7: a filter that refused nothing is not tested -----------------------------------------------------------


def test_a_filter_that_refused_no_entry_is_not_tested():
    """Before: 'contradicted: the promised gain is outside the 95% CI', on an interval of [0, 0]."""
    trades = planted(days=200)  # 10 blocks of days (MIN_BLOCKS): every claim without the filter is judged
    analysis = analyse(trades, [AllowsAll()], Settings(), BacktestConfig(reps=100), progress=False)
    behind = [c for c in analysis.claims if c.label.endswith(" + allows all")]
    assert behind and all(c.verdict.startswith("not tested: allows all refused no entry") for c in behind)
    alone = [c for c in analysis.claims if "allows all" not in c.label]
    assert alone and not any(c.verdict.startswith("not tested") for c in alone)
    assert "not tested" in markdown(analysis, "", [])
    assert not math.isnan(behind[0].measured.value)


def test_a_trade_held_over_a_weekend_is_marked_on_a_grid_of_every_day():
    """A crypto trade decided on a Thursday and closed on a Monday, marked on Saturday and Sunday: the grid was the
    weekdays (its decision and close are on weekdays), and its weekend marks crashed daily_pnl."""
    day = SECONDS_PER_DAY
    thursday = pd.Timestamp("2024-01-04", tz="UTC").timestamp()
    marks = (*((thursday + k * day, 0.01 * k) for k in (1, 2, 3)), (thursday + 4 * day, 0.05))
    trade = Trade("trend", "BTC", thursday, thursday + 4 * day, 0.05, 0.001, marks, thursday + day)
    days = day_grid([trade])
    assert len(days) == 5 and (days.day_of_week >= 5).sum() == 2
    np.testing.assert_allclose(daily_pnl([trade], np.ones(1), days), [0.0, 0.01, 0.01, 0.01, 0.02])


# -- C1: the relative Sharpe over a negative baseline ---------------------------------------------------------


def test_the_relative_sharpe_over_a_negative_baseline_is_judged_on_its_size():
    """Equal weights' Sharpe < 0 and the variant's far higher: before, the relative change was nan ("undefined"),
    exactly where the variant improved most. Now (mine - equal's) / |equal's|, with no replicate dropped."""
    rng = np.random.default_rng(3)
    losing, winning = rng.normal(-1.0, 1.0, 150), rng.normal(0.5, 1.0, 150)
    pnl = np.column_stack([losing, winning]).reshape(-1)  # a, b, a, b, ...: one trade a day
    trades = [
        Trade(("a", "b")[i % 2], "X", T0 + i * SECONDS_PER_DAY, T0 + i * SECONDS_PER_DAY + 3600, float(p))
        for i, p in enumerate(pnl)
    ]
    days, config = day_grid(trades), BacktestConfig(reps=400)
    equal = np.ones(len(trades))
    sizes = np.where(np.arange(len(trades)) % 2 == 0, 0.1, 1.9)  # mostly the winning strategy
    base = variant_stats("equal", trades, equal, days, config).sharpe
    mine = variant_stats("tilted", trades, sizes, days, config).sharpe
    assert base < 0 < mine
    diff = difference("tilted", trades, sizes, equal, days, config)
    assert diff.sharpe_relative.value == pytest.approx((mine - base) / abs(base))
    assert diff.sharpe.value == pytest.approx(mine - base)
    low, high = diff.sharpe_relative.ci95
    assert 0.5 < low < diff.sharpe_relative.value < high
    assert diff.sharpe_relative_dropped == 0.0
    (sharpe,) = [c for c in claims(diff) if c.claim.startswith("sharpe")]
    assert sharpe.verdict != "undefined" and sharpe.note == ""  # nothing dropped: no note
    assert "dropped" not in _relative_sharpe(diff)


# -- C2: "supported" only when the whole interval reaches the promise -------------------------------------------


def test_the_summary_names_claims_supported_in_part():
    """The served variant's partly supported claim was summed up as "supports none of the claims"; every other
    variant's supported or partly supported claim is listed."""
    trades = planted(days=60)
    analysis = analyse(trades, [], Settings(), BacktestConfig(reps=100), progress=False)
    label = analysis.claims[0].label
    analysis.stats = [replace(s, resized=0.5) for s in analysis.stats]  # as if the served weights had moved
    other = next(c.label for c in analysis.claims if c.label != label)
    given = {("average win +33%", label): PARTLY_SUPPORTED, ("win rate +15-20 points", other): SUPPORTED}
    none = "not supported: CI includes 0"
    analysis.claims = [replace(c, verdict=given.get((c.claim, c.label), none)) for c in analysis.claims]
    text = summary(analysis)
    assert f"{label} supports none of the claims in full. In part" in text and "average win +33%." in text
    assert f"win rate +15-20 points by {other} (supported)" in text and "average win +33% by" not in text
    assert "No other variant supports any claim" not in text


# -- C3: gross exposure beside total return ---------------------------------------------------------------------


def test_each_variant_shows_its_gross_notional_relative_to_equal_weights():
    """Sizes are K x weight and the strategies trade at different rates: a variant's total return and drawdown
    scale with what it traded in all, which the report did not show."""
    rng = np.random.default_rng(1)
    trades = []
    for day in range(200):
        decided = T0 + day * SECONDS_PER_DAY
        names = ("a", "b") if day % 5 == 0 else ("a",)  # b trades a fifth as often, and better
        for name in names:
            pnl = float(rng.normal(0.5 if name == "b" else -0.1, 1.0))
            trades.append(Trade(name, "X", decided, decided + SECONDS_PER_DAY / 2, pnl))
    analysis = analyse(trades, [], Settings(), BacktestConfig(reps=100), progress=False)
    equal = analysis.runs[0].sizes.sum()
    for run, stats in zip(analysis.runs, analysis.stats, strict=True):
        assert stats.exposure == pytest.approx(run.sizes.sum() / equal)
    assert analysis.stats[0].exposure == 1.0 and min(s.exposure for s in analysis.stats) < 0.9
    text = markdown(analysis, "", [])
    assert "exposure vs equal" in text and "| 1.00x |" in text
    assert "compare variants on win rate, average win and P&L per trade, the claims' gate" in text
    assert [v["exposure"] for v in as_json(analysis, BacktestConfig())["variants"]] == pytest.approx(
        [s.exposure for s in analysis.stats]
    )


# -- C4: a single strategy ---------------------------------------------------------------------------------------


def test_with_one_strategy_the_report_says_its_weight_is_always_one():
    """Before: "no strategy ever had bayes_min_trades of effective evidence ... a longer half-life would let it
    learn", which no half-life would: with K = 1 the weight is 1 whatever the evidence."""
    trades = [t for t in planted(days=60) if t.strategy == "a"]
    analysis = analyse(trades, [], Settings(), BacktestConfig(reps=100), progress=False)
    bayesian = [c for c in analysis.claims if c.label != "equal"]
    assert bayesian and all("there is one strategy (a), so its weight is always 1" in c.verdict for c in bayesian)
    text = summary(analysis)
    assert "There is one strategy (a)" in text and "longer half-life" not in text
    assert "bayes_min_trades" not in markdown(analysis, "", []).split("## Variants")[0]


# -- C5: what the notes say --------------------------------------------------------------------------------------


def test_a_short_span_is_warned_about():
    """A few days of daily P&L annualised: before, with no word of how little it rests on."""
    week = [
        Trade(("a", "b")[i % 2], "X", T0 + (i // 6) * SECONDS_PER_DAY, T0 + (i // 6) * SECONDS_PER_DAY + 3600, 0.1)
        for i in range(30)
    ]
    short = analyse(week, [], Settings(), BacktestConfig(reps=50), progress=False)
    warnings = [n for n in short.notes if n.startswith("warning:")]
    (days,) = [w for w in warnings if "too few days" in w]  # in blocks of the daily bootstrap, since a review
    assert "too few days (5: 0 blocks of 20, 10 needed)" in days and days in markdown(short, "", [])
    assert "annual return and Sharpe scale so short a window to a year" in days
    assert "annualised at" in short.notes[-1]  # the annualisation note stays last
    long = analyse(planted(days=200), [], Settings(), BacktestConfig(reps=50), progress=False)  # 10 blocks
    assert not [n for n in long.notes if n.startswith("warning:")]


def daily(day: int, pnl: float) -> Trade:
    """A trade of strategy a in X opened on day `day` after T0 and closed an hour later."""
    return Trade("a", "X", T0 + day * SECONDS_PER_DAY, T0 + day * SECONDS_PER_DAY + 3600, pnl)


def test_a_variant_that_loses_from_its_first_day_draws_down_from_its_starting_capital():
    """Daily P&L -1, -1, then +0.5: the starting capital is the first peak, so the drawdown is 2, not the 1 of a
    peak taken at the first day's close. A mutation audit: the starting capital left out of the peaks survived
    every test."""
    trades = [daily(d, p) for d, p in enumerate((-1.0, -1.0, 0.5))]
    days = day_grid(trades)
    stats = variant_stats("equal", trades, np.ones(3), days, BacktestConfig(reps=100))
    assert stats.total_return == pytest.approx(-1.5)
    assert stats.max_drawdown == pytest.approx(2.0)


def test_average_win_and_loss_are_per_unit_of_size_and_undefined_without_one():
    """Sized P&L over the sizes' sum: a win of +10 at size 0.5 averages 10 (5 over 0.5, not over 1), wins of +10
    and +6 at size 0.25 average 8. Without a losing trade the average loss is undefined (nan), not 0. A mutation
    audit: a denominator of at least 1 survived every test."""
    one = [Trade("a", "X", T0, T0 + 3600, 10.0)]
    alone = variant_stats("half", one, np.array([0.5]), day_grid(one), BacktestConfig(reps=100))
    assert alone.average_win == pytest.approx(10.0)
    assert math.isnan(alone.average_loss)
    trades = [daily(d, p) for d, p in enumerate((10.0, 6.0, -4.0))]
    sized = variant_stats(
        "quarter", trades, np.array([0.25, 0.25, 0.25]), day_grid(trades), BacktestConfig(reps=100)
    )
    assert sized.average_win == pytest.approx(8.0) and sized.average_loss == pytest.approx(-4.0)


def test_intervals_held_together_draw_replicates_in_proportion_to_their_smaller_tail():
    """Nine claims held together (0.025 / 9 in each tail) on 20 blocks: as many replicates as leave as many draws
    beyond each widened end as 95 % intervals have (about 11,900 for 500), at most MAX_REPS (reached on 10 blocks);
    a 95 % interval keeps its own. A mutation audit: the configured replicates used whatever the tail survived
    every test."""
    bases = [Basis(200, 10, "trades"), Basis(500, 20, "days")]
    wanted = _reps(500, TAIL / 9, bases)
    assert 500 < wanted < MAX_REPS
    assert wanted * expanded_tail(20, TAIL / 9) == pytest.approx(500 * expanded_tail(20, TAIL), rel=1e-3)
    assert _reps(500, TAIL, bases) == 500
    assert _reps(500, TAIL / 9, [Basis(100, 10, "trades")]) == MAX_REPS
