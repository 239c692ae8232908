"""Gaps in the bars and the intervals of paths that cross them (investiq/core/gaps.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from investiq.core.gaps import (
    MIN_CELL,
    GapIntervals,
    ahead_table,
    crossings,
    fit_factors,
    gap_before,
    since_gap,
    widen,
)

LEVELS = np.array([0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95])


def hourly(days: int) -> pd.DatetimeIndex:
    """Hourly stock bars: 7 a weekday from 14:30 UTC."""
    dates = pd.bdate_range("2024-01-01", periods=days)
    return pd.DatetimeIndex([d + pd.Timedelta(hours=14.5 + k) for d in dates for k in range(7)], tz="UTC")


def test_places_in_a_session_and_the_gaps_ahead_come_from_the_bar_times():
    times = pd.to_datetime(["2024-01-02 15:00", "2024-01-02 16:00", "2024-01-03 10:00", "2024-01-03 11:00"])
    gap = gap_before(times)
    assert gap.tolist() == [False, False, True, False]
    assert crossings(gap, np.array([0, 1]), 2).tolist() == [[0, 1], [1, 1]]
    assert since_gap(gap, np.array([0, 1, 2, 3]), 10).tolist() == [-1, -1, 0, 1]
    assert since_gap(gap, np.array([3]), 3).tolist() == [1]  # a window of bars 1-3 shows the gap
    assert since_gap(gap, np.array([3]), 2).tolist() == [-1]  # one of bars 2-3 does not


def test_each_place_in_a_session_gets_the_pattern_training_saw_most():
    times = hourly(30)
    gap = gap_before(times)
    origins = np.arange(7, len(times) - 3)
    table = ahead_table(since_gap(gap, origins, 64), crossings(gap, origins, 3))
    assert table == dict.fromkeys(range(4), (0, 0, 0)) | {4: (0, 0, 1), 5: (0, 1, 1), 6: (1, 1, 1)}
    round_the_clock = pd.date_range("2024-01-01", periods=200, freq="h")
    flat = gap_before(round_the_clock)
    assert not flat.any()
    assert ahead_table(since_gap(flat, origins[:100], 64), crossings(flat, origins[:100], 3)) == {}


def test_factors_recover_how_much_wider_each_cell_really_is():
    """Served quantiles of one width for every path; the paths across a gap really three times as wide, the others
    0.8 times: the fitted factors say so, per step; a cell with fewer than MIN_CELL windows keeps 1."""
    rng = np.random.default_rng(0)
    n, h = 4000, 2
    z = np.broadcast_to(stats.norm.ppf(LEVELS), (n, h, len(LEVELS)))
    crossed = np.zeros((n, h), dtype=np.int64)
    crossed[: n // 2, 1] = 1
    crossed[:10, 0] = 1  # too few to fit
    truth = np.where(crossed == 1, 3.0, 0.8)
    target = rng.standard_normal((n, h)) * truth
    factors, windows = fit_factors(target, z, 3, LEVELS, crossed)
    assert windows.tolist() == [[n - 10, n // 2], [10, n // 2]]
    assert MIN_CELL > 10 and factors[1, 0] == 1.0
    np.testing.assert_allclose([factors[0, 0], factors[0, 1], factors[1, 1]], [0.8, 0.8, 3.0], rtol=0.06)


def test_a_window_is_served_the_factors_of_its_place_and_a_window_without_gaps_none():
    gaps = GapIntervals({5: (0, 1), 6: (1, 1)}, np.array([[0.8, 0.7], [2.0, 1.5]]))
    times = hourly(20)
    assert np.array_equal(gaps.for_window(times[:-1]), [0.8, 1.5])  # type: ignore[arg-type]  # a session's sixth bar
    assert np.array_equal(gaps.for_window(times), [2.0, 1.5])  # type: ignore[arg-type]  # its last
    assert gaps.for_window(times[:-3]) is None  # place 3: not in the table
    assert gaps.for_window(pd.date_range("2024-01-01", periods=64, freq="h")) is None
    again = GapIntervals.from_calibration({"gaps": gaps.record(np.array([[40, 40], [40, 40]]))})
    assert again is not None and again.ahead == gaps.ahead
    np.testing.assert_array_equal(again.factors, gaps.factors)
    assert GapIntervals.from_calibration({}) is None and GapIntervals.from_calibration({"gaps": {}}) is None


def test_widening_keeps_the_median_and_the_order_of_the_quantiles():
    median = np.array([[100.0, 101.0]])
    quantiles = np.array([[[95.0, 100.0, 104.0], [96.0, 101.0, 107.0]]])
    wide = widen(median, quantiles, np.array([[2.0, 0.5]]))
    np.testing.assert_allclose(wide[0, :, 1], median[0])
    np.testing.assert_allclose(wide[0, 0], [100 * 0.95**2, 100, 100 * 1.04**2])
    np.testing.assert_allclose(wide[0, 1, 2], 101 * np.sqrt(107 / 101))
    assert (np.diff(wide, axis=-1) > 0).all()
