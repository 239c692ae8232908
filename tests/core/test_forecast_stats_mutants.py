"""Kill tests of a mutation audit of the forecast statistics (investiq/core/forecast_stats.py, intervals.py,
calibration.py): each fails with the mutant its docstring names applied, and passes on the code as it is."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from investiq.core.calibration import brier, brier_skill, reliability_bins
from investiq.core.forecast_stats import (
    backtest,
    block_bootstrap_means,
    bootstrap_interval,
    column_estimates,
    paired_ratio,
)
from investiq.core.intervals import covered, garch_forecast, pinball
from tests.core.test_intervals import LEVELS, simulated_garch


def ratio(means: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(means[..., 0] / means[..., 1])


# --- backtest -----------------------------------------------------------------------------------


def test_a_round_trip_that_breaks_even_is_not_a_win():
    """Mutant: a closed trip counted as won when its net return is exactly 0 (`>=` for `>`): a strategy that
    went in and out of a flat market without costs showed a trade win rate of 100% instead of 0%."""
    bt = backtest(np.zeros(2), np.array([1.0, 0.0]), cost_bps=0.0, periods_per_year=252)
    assert bt.trade_win_rate == 0.0


# --- paired ratios ------------------------------------------------------------------------------


def test_the_paired_ratio_reads_the_plain_percentile_interval():
    """Mutant: paired_ratio asking bootstrap_interval for the expanded interval: its 95% interval silently
    became wider than documented, and the evaluation report's verdicts (training/evaluate.py) more timid than
    their stated level."""
    rng = np.random.default_rng(5)
    base = np.abs(rng.normal(size=(60, 1)))
    rows = [np.column_stack([base[:, 0] * rng.uniform(0.7, 1.2, 60), base[:, 0]])]
    r = paired_ratio(rows, block=6, reps=500, seed=2)
    value, ci = bootstrap_interval(rows, ratio, 6, 500, 2)
    assert r.ratio == pytest.approx(value)
    assert r.ci95 == pytest.approx(ci)


# --- the block bootstrap ------------------------------------------------------------------------


def test_the_circular_block_bootstrap_is_unbiased_for_the_mean():
    """Every row is as likely to be drawn as any other, so the replicates' means average to the sample mean.
    Mutants: the block that starts at the last row wrapping onto the series' tail instead of its head; the
    last row never drawn as a block start; the replicate's sum divided by the rows instead of the rows drawn
    (ceil(n / block) whole blocks). Each moved every interval off the figure it was around (1/3 read as 1/6,
    1/4 or 4/9 here)."""
    x = np.array([[1.0], [0.0], [0.0]])
    draws = block_bootstrap_means([x], block=2, reps=20_000, seed=0)[:, 0]
    assert draws.mean() == pytest.approx(1 / 3, abs=0.01)


def test_a_group_shorter_than_a_block_is_resampled_whole():
    """Mutant: blocks of `block` rows even for a symbol with fewer rows (no `min(block, n)`): a symbol with
    3 forecasts beside one with many crashed the interval of the pooled figure."""
    long = np.random.default_rng(1).normal(size=(50, 1))
    short = np.array([[1.0], [2.0], [3.0]])
    est = column_estimates([long, short], block=10, reps=200)[0]
    assert est.value == pytest.approx(np.concatenate([long, short]).mean())
    assert est.ci95[0] <= est.value <= est.ci95[1]


def test_a_constant_column_gets_an_interval_of_zero_width_around_its_own_value():
    """Mutant: the clip of the interval to the estimate removed: rounding in the replicates' sums put a
    constant column's interval (coverage of 0.1 everywhere) a few ulps off its value, so it did not contain
    it."""
    col = np.full((37, 1), 0.1)
    est = column_estimates([col, col[:23]], block=5, reps=300)[0]
    assert est.ci95[0] <= est.value <= est.ci95[1]
    assert est.ci95 == pytest.approx((0.1, 0.1))


def test_an_infinite_draw_is_an_end_of_the_interval_not_nan():
    """Mutant: the fallback to the nearest infinite draw removed: a loss ratio whose baseline did not move over
    the stretches many replicates drew (a halt) read [x, nan] instead of [x, inf]."""
    baseline = np.r_[np.zeros(15), np.ones(5)]
    rows = [np.column_stack([np.ones(20), baseline])]
    value, (low, high) = bootstrap_interval(rows, ratio, block=5, reps=2000, seed=0)
    assert value == pytest.approx(4.0)
    assert high == math.inf
    assert math.isfinite(low)


# --- intervals ----------------------------------------------------------------------------------


def test_an_actual_on_a_bound_is_covered():
    """Mutant: `a > lower` for `a >= lower`: a close that landed exactly on the interval's lower bound (a
    tick-bound price) counted as a miss, understating coverage."""
    assert covered(np.array([1.0, 1.0]), np.array([2.0, 2.0]), np.array([1.0, 2.0])).all()


def test_quantile_levels_of_zero_or_one_are_refused():
    """Mutant: levels 0 and 1 let through (`<`/`>` for `<=`/`>=`): they are infinite quantiles, and the
    pinball loss at them is silently one-sided instead of refused."""
    for level in (0.0, 1.0):
        with pytest.raises(ValueError, match="levels"):
            pinball(np.array([1.0]), np.array(1.0), (level,))


def test_an_origin_before_the_first_return_is_refused():
    """Mutant: the check `origins >= 1` dropped: origin 0 has no return into it, and the call failed deep in
    arch/pandas ("Shape of passed values ...") instead of refusing the origins clearly."""
    closes = simulated_garch(300, seed=4)
    with pytest.raises(ValueError, match="origins"):
        garch_forecast(closes, 200, np.array([0, 10]), 2, LEVELS, dist="normal")


# --- calibration --------------------------------------------------------------------------------


def test_a_probability_on_a_bin_edge_falls_in_the_bin_above():
    """Mutant: `right=True` in the binning: p = 0.1 exactly fell in the [0, 0.1) bin, so the reliability
    diagram mixed forecasts of 10% into those of 0-10%."""
    rows = reliability_bins([0.05, 0.1, 0.5], [False, True, True])
    assert [r["n"] for r in rows] == [1, 1, 1]
    assert [r["forecast"] for r in rows] == [0.05, 0.1, 0.5]


def test_skill_against_a_base_rate_the_outcomes_all_equal_is_refused():
    """Mutant: the guard against a zero reference Brier removed: a bare ZeroDivisionError (not a ValueError, so
    callers that catch bad-input errors crashed) instead of an error saying the skill is undefined."""
    with pytest.raises(ValueError, match="undefined"):
        brier_skill([0.9, 0.8], [True, True], base_rate=1.0)


def test_outcomes_that_are_not_zero_or_one_are_refused():
    """Mutant: outcomes only checked to lie in [0, 1]: probabilities passed as outcomes (a swapped argument)
    were scored instead of refused."""
    with pytest.raises(ValueError, match="0/1"):
        brier([0.5, 0.5], [0.3, 0.7])


def test_a_group_with_no_rows_is_left_out_of_every_pooled_estimate():
    """A symbol with no forecast in a part (zero rows): column_estimates and bootstrap_interval failed with "cannot
    reshape array of size 0" where block_bootstrap_means left such a group out; now all three do."""
    x = np.random.default_rng(0).normal(size=(30, 2))
    empty = np.zeros((0, 2))
    assert column_estimates([x, empty], 3, 50) == column_estimates([x], 3, 50)
    with_empty, alone = (bootstrap_interval(g, lambda m: m[..., 0], 3, 50) for g in ([x, empty], [x]))
    assert with_empty == alone
    with pytest.raises(ValueError, match="no rows to resample"):
        column_estimates([empty], 3, 50)
