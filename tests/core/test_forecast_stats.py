"""Forecast evaluation maths: hand-computed cases, independent oracles from scipy.stats, invariants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import stats

from investiq.core.forecast_stats import (
    backtest,
    block_bootstrap_means,
    bootstrap_interval,
    buy_and_hold,
    column_estimates,
    errors,
    expanded_tail,
    hit_rate,
    observed_periods_per_year,
    pesaran_timmermann,
)

T, F = True, False


def bools(*values: bool) -> NDArray[np.bool_]:
    return np.array(values, dtype=bool)


# --- hit rate -----------------------------------------------------------------------------------


def test_hit_rate_counts_by_hand():
    hr = hit_rate(bools(T, T, F, F, T), bools(T, F, F, T, T))
    assert (hr.hits, hr.n, hr.rate, hr.base_rate) == (3, 5, 0.6, 0.6)
    # always-up scores 3 too; the down calls: one right, one wrong, so McNemar's 1 of 2 at even odds
    assert hr.p_vs_base == pytest.approx(1.0)


def test_hit_rate_p_value_by_hand():
    # 5 of 5 against 0.5: P(X = 5) + P(X = 0) = 2 / 32.
    hr = hit_rate(bools(T, T, T, F, F), bools(T, T, T, F, F))
    assert hr.p_vs_half == pytest.approx(2 / 32)
    assert hr.p_vs_base == pytest.approx(0.5)  # 2 right down calls, none wrong: 2 * (1/2)^2


def test_clopper_pearson_interval_matches_beta_quantiles():
    # The exact interval has a closed form through beta quantiles: an oracle independent of binomtest.
    k, n = 37, 60
    hr = hit_rate(np.arange(n) < k, np.ones(n, dtype=bool))
    assert hr.hits == k
    lo, hi = stats.beta.ppf(0.025, k, n - k + 1), stats.beta.ppf(0.975, k + 1, n - k)
    assert hr.ci95 == pytest.approx((lo, hi), rel=1e-9)
    assert hr.ci95[0] < hr.rate < hr.ci95[1]


def test_hit_rate_exactly_half_and_ninety_of_hundred():
    actual = np.ones(100, dtype=bool)
    half = hit_rate(np.arange(100) < 50, actual)
    assert half.p_vs_half == 1.0
    ninety = hit_rate(np.arange(100) < 90, actual)
    assert ninety.p_vs_half < 1e-15
    assert ninety.p_vs_base < 0.01  # 10 down calls, every one wrong: worse than always-up (100 of 100)


def test_calls_without_skill_are_not_called_different_from_always_up_more_than_5_percent_of_the_time():
    """The paired test holds its size where the unpaired one did not: 2,000 runs of 100 fair-coin outcomes,
    against coin-flip calls (the unpaired binomial test rejected ~14 % at 5 %) and a constant down call (~30 %)."""
    rng = np.random.default_rng(0)
    outcomes = rng.random((2000, 100)) < 0.5
    coin = rng.random((2000, 100)) < 0.5
    down = np.zeros(100, dtype=bool)
    for calls in (coin, np.broadcast_to(down, outcomes.shape)):
        rejected = np.mean([hit_rate(c, y).p_vs_base < 0.05 for c, y in zip(calls, outcomes, strict=True)])
        assert rejected <= 0.06, rejected


def test_hit_rate_without_data_is_no_evidence():
    hr = hit_rate(bools(), bools())
    assert hr.n == 0 and math.isnan(hr.rate) and math.isnan(hr.base_rate)
    assert (hr.ci95, hr.p_vs_half, hr.p_vs_base) == ((0.0, 1.0), 1.0, 1.0)


def test_hit_rate_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        hit_rate(bools(T, F), bools(T))
    with pytest.raises(ValueError, match="boolean"):
        hit_rate(np.array([0.01, -0.02]), bools(T, F))  # returns, not directions


def test_a_tie_is_a_miss_for_every_call_always_up_included():
    """The live resolver's rule: a call is right only if the close moved its way; a close that did not move is
    a miss for an up call and a down call alike. Before, every outcome not up was "down": a down call scored a
    hit on each tie while always-up missed it."""
    calls = bools(T, F, F, F, T, F)
    up = bools(T, F, F, T, F, F)
    tied = bools(F, F, T, F, T, T)  # the last three did not move
    hr = hit_rate(calls, up, tied)
    assert (hr.hits, hr.n, hr.rate, hr.base_rate, hr.ties) == (2, 6, 2 / 6, 2 / 6, 3)
    # against always-up (right on the two up outcomes): one right down call, one wrong; the ties agree (both miss)
    assert hr.p_vs_base == pytest.approx(1.0)
    down = hit_rate(np.zeros(6, dtype=bool), up, tied)  # a constant down call: right only where the close fell
    assert (down.hits, down.rate) == (1, 1 / 6)
    assert hit_rate(calls, up) == hit_rate(calls, up, np.zeros(6, dtype=bool))  # no ties given: none assumed
    with pytest.raises(ValueError, match="tied"):
        hit_rate(calls, up, bools(T, F, F, F, F, F))  # an up outcome cannot be a tie too


def test_with_many_ties_a_constant_down_call_does_not_beat_always_up():
    """A tick-bound series: 40 % of the closes do not move, the rest rise or fall alike. Scored as "down", the
    ties made a constant down call (and coin-flip calls) beat always-up at p ~ 1e-100."""
    rng = np.random.default_rng(1)
    move = rng.choice([-1, 0, 1], size=4000, p=[0.3, 0.4, 0.3])
    up, tied = move > 0, move == 0
    for calls in (np.zeros(4000, dtype=bool), rng.random(4000) < 0.5):
        hr = hit_rate(calls, up, tied)
        assert hr.ties == np.count_nonzero(tied)
        assert hr.p_vs_base > 0.01 and hr.rate < 0.5, hr


# --- Pesaran-Timmermann -------------------------------------------------------------------------


def test_pesaran_timmermann_by_hand():
    predicted = bools(T, T, T, T, T, T, F, F, F, F)  # Px = 0.6
    actual = bools(T, T, T, F, F, F, F, F, F, T)  # Py = 0.4
    # Hits: 3 of the 6 up calls, 3 of the 4 down calls -> P = 0.6.
    # P*    = 0.4 * 0.6 + 0.6 * 0.4 = 0.48
    # V(P)  = 0.48 * 0.52 / 10 = 0.02496
    # V(P*) = 0.2^2 * 0.24 / 10 + 0.2^2 * 0.24 / 10 + 4 * 0.0576 / 100
    #       = 0.00096 + 0.00096 + 0.002304 = 0.004224
    # S     = (0.6 - 0.48) / sqrt(0.02496 - 0.004224) = 0.12 / sqrt(0.020736) = 0.12 / 0.144 = 5/6
    pt = pesaran_timmermann(predicted, actual)
    assert pt.statistic == pytest.approx(5 / 6, rel=1e-12)
    assert pt.p_value == pytest.approx(1 - stats.norm.cdf(5 / 6), rel=1e-12)


@pytest.mark.parametrize(
    ("predicted", "actual"),
    [
        (bools(T, T, T, T), bools(T, F, T, F)),  # the forecaster always says up
        (bools(F, F, F, F), bools(T, F, T, F)),  # always down
        (bools(T, F, T, F), bools(T, T, T, T)),  # the market only rose
        (bools(T), bools(T)),
        (bools(), bools()),
    ],
)
def test_pesaran_timmermann_degenerate_margins_are_no_evidence(predicted, actual):
    pt = pesaran_timmermann(predicted, actual)
    assert (pt.statistic, pt.p_value) == (0.0, 1.0)


def test_pesaran_timmermann_separates_skill_from_chance():
    rng = np.random.default_rng(20240601)
    actual = rng.random(1000) < 0.5
    skilled = np.where(rng.random(1000) < 0.9, actual, ~actual)
    random_calls = rng.random(1000) < 0.5
    assert pesaran_timmermann(skilled, actual).p_value < 1e-6
    assert pesaran_timmermann(random_calls, actual).p_value > 0.01
    # Always wrong is anti-skill: strongly negative, no evidence for H1.
    wrong = pesaran_timmermann(~actual, actual)
    assert wrong.statistic < -10 and wrong.p_value > 0.999


def test_pesaran_timmermann_ignores_the_always_up_edge_of_a_rising_market():
    # 70% of periods rise; an 'up' call made at random 70% of the time hits often by construction.
    # The hit rate beats 0.5 comfortably, but PT (which conditions on both margins) sees no skill.
    rng = np.random.default_rng(7)
    actual = rng.random(2000) < 0.7
    calls = rng.random(2000) < 0.7
    assert hit_rate(calls, actual).p_vs_half < 1e-6
    assert pesaran_timmermann(calls, actual).p_value > 0.01


def test_pesaran_timmermann_leaves_tied_outcomes_out():
    """PT is a test of up against down: an outcome that did not move is neither, and is left out."""
    rng = np.random.default_rng(5)
    move = rng.choice([-1, 0, 1], size=1000, p=[0.3, 0.4, 0.3])
    up, tied = move > 0, move == 0
    coin = rng.random(1000) < 0.5
    assert pesaran_timmermann(coin, up, tied) == pesaran_timmermann(coin[~tied], up[~tied])
    assert pesaran_timmermann(coin, up, tied).p_value > 0.01
    # before, a tie was a right down call: calls of "down" wherever the close did not move looked like skill
    knows_ties = ~tied & (rng.random(1000) < 0.5)
    assert pesaran_timmermann(knows_ties, up, tied).p_value > 0.01
    assert pesaran_timmermann(bools(T, F), bools(F, F), bools(T, T)) == pesaran_timmermann(bools(), bools())


# --- errors and baselines -----------------------------------------------------------------------


def test_errors_by_hand():
    e = errors(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 5.0]))  # |e| = 1, 0, 2
    assert (e.mae, e.n) == (1.0, 3)
    assert e.mse == pytest.approx(5 / 3)
    paths = errors(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 4.0], [0.0, 4.0]]))  # 0, 2, 3, 0
    assert (paths.mae, paths.mse, paths.n) == (1.25, 13 / 4, 4)


def test_errors_edge_cases():
    empty = errors(np.array([]), np.array([]))
    assert empty.n == 0 and math.isnan(empty.mae) and math.isnan(empty.mse)
    with pytest.raises(ValueError, match="shape"):
        errors(np.zeros((2, 3)), np.zeros(6))


def test_backtest_by_hand():
    returns = np.array([0.10, -0.05, 0.02, 0.04])
    position = np.array([1.0, 1.0, 0.0, -1.0])
    # 10 bps per unit traded; trades of 1, 0, 1, 1 -> costs 0.001, 0, 0.001, 0.001.
    # Net: 0.099, -0.05, -0.001 (exit only), -0.041 (short into a rise, plus entry).
    bt = backtest(returns, position, cost_bps=10.0, periods_per_year=4)
    wealth = 1.099 * 0.95 * 0.999 * 0.959
    assert bt.total_return == pytest.approx(wealth - 1, rel=1e-12)
    assert bt.annual_return == pytest.approx(wealth - 1, rel=1e-9)  # one year of four periods
    assert bt.max_drawdown == pytest.approx(1 - 0.95 * 0.999 * 0.959, rel=1e-12)  # peak after period 0
    net = np.array([0.099, -0.05, -0.001, -0.041])
    assert bt.sharpe == pytest.approx(net.mean() / net.std(ddof=1) * 2.0, rel=1e-9)  # sqrt(4) = 2
    assert bt.trades == 2  # long at 0, short at 3
    assert bt.trade_win_rate == 1.0  # the long trip: 1.099 * 0.95 * (1 - 0.001) > 1; the short is open
    assert bt.exposure == 0.75


def test_backtest_annualises_geometrically():
    bt = backtest(np.full(126, 0.001), np.ones(126), cost_bps=0.0, periods_per_year=252)
    assert bt.annual_return == pytest.approx(1.001**252 - 1, rel=1e-9)
    assert bt.sharpe == 0.0  # constant returns: no variance, no Sharpe (not 1e15)


def test_drawdown_counts_from_starting_capital():
    bt = backtest(np.array([-0.1, 0.05]), np.ones(2), cost_bps=0.0, periods_per_year=252)
    assert bt.max_drawdown == pytest.approx(0.1, rel=1e-12)


def test_always_flat_earns_nothing():
    bt = backtest(np.array([0.03, -0.02, 0.05]), np.zeros(3), cost_bps=25.0, periods_per_year=252)
    assert (bt.total_return, bt.annual_return, bt.sharpe, bt.max_drawdown) == (0.0, 0.0, 0.0, 0.0)
    assert (bt.trades, bt.exposure) == (0, 0.0)
    assert math.isnan(bt.trade_win_rate)


def test_round_trip_accounting():
    # Long for two periods (+2%, +1%: a win), flip short into -3% then +5% (1.03 * 0.95 < 1: a loss),
    # then flat. Two entries, two closed trips, one won.
    bt = backtest(
        np.array([0.02, 0.01, -0.03, 0.05, 0.0]),
        np.array([1.0, 1.0, -1.0, -1.0, 0.0]),
        cost_bps=0.0,
        periods_per_year=252,
    )
    assert (bt.trades, bt.trade_win_rate) == (2, 0.5)
    # A resize within the same side is not a new trade.
    assert backtest(np.zeros(3), np.array([0.5, 1.0, 1.0]), 0.0, 252).trades == 1


def test_exit_cost_belongs_to_the_trip():
    # Gross +0.15% survives the 10 bps entry, not the 10 bps exit: (1.0015 - 0.001) * (1 - 0.001) < 1.
    bt = backtest(np.array([0.0015, 0.0]), np.array([1.0, 0.0]), cost_bps=10.0, periods_per_year=252)
    assert bt.trade_win_rate == 0.0
    # Net of the same two costs, +0.3% is a win: (1.003 - 0.001) * 0.999 > 1.
    assert backtest(np.array([0.003, 0.0]), np.array([1.0, 0.0]), 10.0, 252).trade_win_rate == 1.0


def test_a_flip_charges_each_trip_its_own_leg():
    # Short then flip long: the flip trades 2 units, 20 bps. The short trip pays 10 bps in and 10 out
    # and loses; the long trip pays 10 bps in, earns 0.25%, pays 10 bps out: 1.0015 * 0.999 > 1, a win.
    # Charging the whole flip to the long trip would make it (1.0025 - 0.002) * 0.999 < 1, a loss.
    bt = backtest(np.array([0.0, 0.0025, 0.0]), np.array([-1.0, 1.0, 0.0]), 10.0, 252)
    assert (bt.trades, bt.trade_win_rate) == (2, 0.5)


def test_shorting_through_a_doubling_ruins_the_account():
    bt = backtest(np.array([1.5, -0.5]), np.array([-1.0, -1.0]), cost_bps=0.0, periods_per_year=252)
    assert (bt.total_return, bt.annual_return, bt.max_drawdown) == (-1.0, -1.0, 1.0)


def seconds(times: pd.DatetimeIndex) -> NDArray[np.float64]:
    return np.asarray(times.as_unit("ns").asi8 / 1e9)


def us_trading_days(start: str, end: str) -> pd.DatetimeIndex:
    """Weekdays less the US federal holidays: about 250 a year, near an exchange's 252."""
    from pandas.tseries.holiday import USFederalHolidayCalendar
    from pandas.tseries.offsets import CustomBusinessDay

    return pd.date_range(start, end, freq=CustomBusinessDay(calendar=USFederalHolidayCalendar()), tz="UTC")


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        (pd.date_range("2020-01-06", periods=156, freq="W-MON", tz="UTC"), 52.18),  # a week: 7 / 365.25 years
        (pd.date_range("2024-01-01", periods=24 * 60, freq="h", tz="UTC"), 8766.0),  # crypto hours: 24 x 365.25
        (pd.date_range("2024-01-01", periods=400, freq="D", tz="UTC"), 365.25),  # crypto days
    ],
)
def test_periods_per_year_are_the_bar_rate_the_times_show(times: pd.DatetimeIndex, expected: float):
    """Before: 252 days of 6.5 hours for any series: weekly bars got 36, crypto hours 1,638, crypto days 252."""
    assert observed_periods_per_year(seconds(times)) == pytest.approx(expected, rel=1e-3)


def test_periods_per_year_of_an_exchange_are_its_trading_days_and_hours():
    from investiq.core.market import clean_bars, load_sample

    spx = clean_bars(load_sample("SPX"), "SPX", "1d")[0].index  # real NYSE days, 1999-2018
    assert observed_periods_per_year(seconds(pd.DatetimeIndex(spx))) == pytest.approx(252, rel=0.005)
    days = us_trading_days("2023-01-01", "2024-12-31")
    assert observed_periods_per_year(seconds(days)) == pytest.approx(250.4, rel=1e-3)
    # 15-minute bars 9:30-15:45 New York (14:30 UTC in winter: the hour does not matter here): 26 a day
    quarters = pd.DatetimeIndex([d + pd.Timedelta(minutes=870 + 15 * k) for d in days for k in range(26)])
    assert observed_periods_per_year(seconds(quarters)) == pytest.approx(26 * 252, rel=0.01)


def test_periods_per_year_need_a_span():
    for times in ([], [1.7e9], [1.7e9, 1.7e9]):
        with pytest.raises(ValueError, match="at least two bars"):
            observed_periods_per_year(np.array(times))


def test_buy_and_hold_is_backtest_long_everywhere():
    returns = np.array([0.01, -0.02, 0.03, 0.0, -0.01])
    for cost in (0.0, 5.0):
        assert buy_and_hold(returns, 252, cost) == backtest(returns, np.ones(5), cost, 252)
    bh = buy_and_hold(returns, 252, cost_bps=5.0)
    assert bh.total_return == pytest.approx(1.0095 * 0.98 * 1.03 * 1.0 * 0.99 - 1, rel=1e-12)  # 5 bps in once
    assert (bh.trades, bh.exposure) == (1, 1.0)
    assert math.isnan(bh.trade_win_rate)  # never closed


def test_backtest_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        backtest(np.array([]), np.array([]), 0.0, 252)
    with pytest.raises(ValueError, match="non-empty"):
        backtest(np.zeros(3), np.zeros(2), 0.0, 252)
    with pytest.raises(ValueError, match="finite"):
        backtest(np.array([0.01, np.nan]), np.ones(2), 0.0, 252)
    with pytest.raises(ValueError, match="cost_bps"):
        backtest(np.zeros(2), np.ones(2), -1.0, 252)


period_returns = st.lists(st.floats(-0.99, 2.0), min_size=1, max_size=40)
positions = st.one_of(st.sampled_from([-1.0, 0.0, 1.0]), st.floats(-1.0, 1.0))


@settings(max_examples=200, deadline=None)
@given(st.data(), period_returns, st.floats(0.0, 100.0), st.floats(0.0, 100.0))
def test_drawdown_bounded_and_costs_never_help(data, returns, cost_a, cost_b):
    pos = data.draw(st.lists(positions, min_size=len(returns), max_size=len(returns)))
    r, p = np.array(returns), np.array(pos)
    cheap, dear = sorted((cost_a, cost_b))
    low, high = backtest(r, p, cheap, 252), backtest(r, p, dear, 252)
    for bt in (low, high):
        assert 0.0 <= bt.max_drawdown <= 1.0
        assert bt.total_return >= -1.0
        assert 0.0 <= bt.exposure <= 1.0
    assert high.total_return <= low.total_return
    assert high.trades == low.trades


def test_two_copies_of_one_series_carry_no_more_evidence_than_one():
    """Groups are symbols over one calendar: their blocks are drawn at the same times, so perfectly correlated
    symbols (here one series twice) give the interval of one (drawn apart, it was 0.72x as wide: a probe)."""
    x = np.random.default_rng(3).normal(0, 1, (500, 1))
    one = column_estimates([x], block=12)[0]
    two = column_estimates([x, x], block=12)[0]
    assert two.ci95 == pytest.approx(one.ci95)
    apart = column_estimates([x, x[::-1].copy()], block=12)[0]  # the same values, not at the same times
    assert apart.ci95[1] - apart.ci95[0] < 0.85 * (one.ci95[1] - one.ci95[0])


def test_the_expanded_interval_widens_its_tails_by_the_number_of_blocks_not_of_rows():
    """120 rows in blocks of 12 are 10 blocks: the expanded percentile interval reads the replicates at the tail
    of 10 blocks (0.0086 for 0.025), not of 120 rows (0.023, nearly the plain interval). A mutation audit: the
    rows' count passed for the blocks' survived every test, and skill, the retrain gate and the backtest would
    have called skill significant on too little evidence."""
    x = np.random.default_rng(7).normal(0, 1, (120, 1))

    def mean(m: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(m[..., 0])

    draws = block_bootstrap_means([x], 12, 2000, 0)[:, 0]
    tail = expanded_tail(10)
    assert tail == pytest.approx(0.0086, abs=1e-4)
    value, ci = bootstrap_interval([x], mean, block=12, reps=2000, seed=0, expanded=True)
    assert value == pytest.approx(x.mean())
    assert ci == pytest.approx(tuple(np.percentile(draws, [100 * tail, 100 * (1 - tail)])))
    # a block count rounds up: 121 rows are 11 blocks (the last one short)
    y = np.random.default_rng(8).normal(0, 1, (121, 1))
    draws = block_bootstrap_means([y], 12, 2000, 0)[:, 0]
    eleven = expanded_tail(11)
    wide = bootstrap_interval([y], mean, block=12, reps=2000, seed=0, expanded=True)[1]
    assert wide == pytest.approx(tuple(np.percentile(draws, [100 * eleven, 100 * (1 - eleven)])))
