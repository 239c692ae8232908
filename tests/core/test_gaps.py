"""Gaps in the bars and the intervals of paths that cross them (investiq/core/gaps.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from investiq.core.gaps import (
    MIN_CELL,
    MIN_CROSSING,
    GapIntervals,
    ahead,
    crossings,
    fit_gaps,
    gap_before,
    gap_factors,
    widen,
)

LEVELS = np.array([0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95])


def sessions(days: int, bars: int, minutes: int = 60, opens: float = 14.5) -> pd.DatetimeIndex:
    """Stock bars: `bars` a weekday of `minutes` each from `opens` UTC."""
    dates = pd.bdate_range("2024-01-01", periods=days)
    step = pd.Timedelta(minutes=minutes)
    return pd.DatetimeIndex(
        [d + pd.Timedelta(hours=opens) + k * step for d in dates for k in range(bars)], tz="UTC"
    )


def test_nights_and_weekends_are_gaps_and_a_missing_bar_is_not():
    times = pd.to_datetime(["2024-01-02 15:00", "2024-01-02 16:00", "2024-01-03 10:00", "2024-01-03 11:00"])
    gap = gap_before(times)
    assert gap.tolist() == [False, False, True, False]
    assert crossings(gap, np.array([0, 1]), 2).tolist() == [[0, 1], [1, 1]]
    quarter = sessions(5, 26, minutes=15)
    assert np.flatnonzero(gap_before(quarter.delete([40, 41]))).tolist() == [26, 50, 76, 102]  # the nights only
    assert np.flatnonzero(gap_before(pd.bdate_range("2024-01-01", periods=10))).tolist() == [5]  # the weekend


def test_a_windows_sessions_tell_the_gaps_ahead_whatever_the_market():
    """The gaps ahead come from the window's own sessions: US hourly bars (7 a session), European 15-minute bars
    (34) and US 15-minute bars (26) each get their own; round-the-clock bars with holes in the data, or a window
    that shows too few sessions, none."""
    hourly = sessions(30, 7)
    last = len(hourly) - 1
    origins = np.array([last, last - 3, last - 6])  # a session's last bar, its fourth, its first
    assert ahead(gap_before(hourly), origins, 64, 4).tolist() == [[1, 1, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert ahead(gap_before(hourly), np.array([last - 7]), 64, 9).tolist() == [[1] * 7 + [2] * 2]
    for bars in (34, 26):
        quarter = sessions(30, bars, minutes=15, opens=8.0)
        end = len(quarter) - 1
        assert ahead(gap_before(quarter), np.array([end - 1]), 512, 3).tolist() == [[0, 1, 1]]
    assert ahead(gap_before(hourly), np.array([last]), 20, 2).tolist() == [[-1, -1]]  # 2 sessions in 20 bars
    clock = pd.date_range("2024-01-01", periods=3000, freq="15min", tz="UTC")
    holes = clock.delete(np.random.default_rng(0).choice(3000, 40, replace=False))
    assert not gap_before(holes).any()  # a missing bar is not a night
    hours = pd.date_range("2024-01-01", periods=3000, freq="h", tz="UTC")
    outages = hours.delete(np.concatenate([np.arange(k, k + 4) for k in (300, 700, 1500, 1700, 2600)]))
    gap = gap_before(outages)
    assert gap.sum() == 5 and (ahead(gap, np.arange(2800, 2900), 2800, 3) == -1).all()  # holes, not sessions


def test_the_factors_keep_the_pooled_widths_and_part_the_paths_by_the_gaps_they_cross():
    shares = np.array([[0.9, 0.5], [0.1, 0.5], [0.0, 0.0]])
    f = gap_factors(16.0, shares)
    np.testing.assert_allclose((shares * f**2).sum(axis=0), 1.0)  # the pooled variance, as the graph calibrated
    assert f[0, 0] < 1 < f[1, 0] and f[0, 1] < 1 < f[1, 1] and f[2, 0] == 1.0
    np.testing.assert_allclose(f[1, 0] / f[0, 0], 4.0)  # a night's step: 16 bars' variance, 4 times the sd


def crossing_windows(n: int, h: int, session: int, seed: int) -> np.ndarray:
    places = np.random.default_rng(seed).integers(0, session, n)
    return np.asarray((places[:, None] + np.arange(1, h + 1)[None, :]) // session, dtype=np.int64)


def test_a_gaps_variance_is_recovered_and_each_cell_thick_enough_gets_its_own_factor():
    """Paths whose gaps each add 9 bars' variance (a night's move 3 times a bar's): the fitted variance is 9 within
    the grid's step; a cell of MIN_CELL windows or more gets its own factor, near the truth, a thinner one (a
    night's first step in sessions of 200 bars) the model's; windows of unknown gaps and non-finite targets are
    left out; with fewer than MIN_CROSSING windows across a gap nothing is fitted."""
    rng = np.random.default_rng(0)
    n, h = 3000, 4
    z = np.broadcast_to(stats.norm.ppf(LEVELS), (n, h, len(LEVELS)))
    for session in (26, 200):
        crossed = crossing_windows(n, h, session, seed=1)
        counts = np.stack([(crossed == j).sum(axis=0) for j in range(h + 1)])
        truth = gap_factors(9.0, counts / n)
        target = rng.standard_normal((n, h)) * truth[crossed, np.arange(h)]
        crossed[:100] = -1
        target[100:110, 0] = np.nan
        fitted = fit_gaps(target, z, 3, LEVELS, crossed)
        assert fitted is not None
        rho, factors, windows = fitted
        assert 9 / 1.25 < rho < 9 * 1.25, rho
        assert windows.sum(axis=0).tolist() == [n - 110] * h
        own = windows >= MIN_CELL
        np.testing.assert_allclose(factors[own], truth[own], rtol=0.2)
        if session == 200:
            assert not own[1, 0] and factors[1, 0] == gap_factors(rho, windows / (n - 110))[1, 0] > 2
    assert fit_gaps(target[:400], z[:400], 3, LEVELS, np.zeros((400, h), dtype=np.int64)) is None
    assert MIN_CROSSING > 0


def test_a_window_is_served_the_factors_of_its_place_and_one_without_sessions_none():
    gaps = GapIntervals(4.0, gap_factors(4.0, np.array([[0.8, 0.6], [0.2, 0.4], [0.0, 0.0]])))
    times = sessions(20, 7)
    np.testing.assert_array_equal(gaps.for_window(times[:-1]), gaps.factors[[0, 1], [0, 1]])  # a session's 6th bar
    np.testing.assert_array_equal(gaps.for_window(times), gaps.factors[[1, 1], [0, 1]])  # its last
    np.testing.assert_array_equal(gaps.for_window(times[:-4]), gaps.factors[[0, 0], [0, 1]])
    assert gaps.for_window(pd.date_range("2024-01-01", periods=64, freq="h")) is None
    again = GapIntervals.from_calibration({"gaps": gaps.record(np.array([[40, 40], [40, 40], [0, 0]]))})
    assert again is not None and again.rho == 4.0
    np.testing.assert_allclose(again.factors, gaps.factors, atol=1e-4)
    records: list[dict[str, Any]] = [{}, {"gaps": {}}, {"gaps": {"rho": 1.0, "factors": []}}]
    for record in [*records, {"gaps": {"rho": 1.0, "factors": [1.0]}}]:
        assert GapIntervals.from_calibration(record) is None


def test_widening_keeps_the_median_and_the_order_of_the_quantiles():
    median = np.array([[100.0, 101.0]])
    quantiles = np.array([[[95.0, 100.0, 104.0], [96.0, 101.0, 107.0]]])
    wide = widen(median, quantiles, np.array([[2.0, 0.5]]))
    np.testing.assert_allclose(wide[0, :, 1], median[0])
    np.testing.assert_allclose(wide[0, 0], [100 * 0.95**2, 100, 100 * 1.04**2])
    np.testing.assert_allclose(wide[0, 1, 2], 101 * np.sqrt(107 / 101))
    assert (np.diff(wide, axis=-1) > 0).all()
