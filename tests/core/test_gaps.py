"""Gaps in the bars and the intervals of paths that cross them (investiq/core/gaps.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from investiq.core.gaps import (
    MIN_CROSSING,
    GapIntervals,
    ahead,
    as_served,
    crossings,
    fit_gaps,
    gap_before,
    model_factors,
    usual_spacing,
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


def test_the_model_parts_the_paths_by_the_gaps_they_cross_around_the_anchors_own_factors():
    anchor, at = np.array([[0.8, 1.2], [0.9, 1.1]]), np.array([0, 1])  # 2 levels; step 2's commonest case crosses
    f = model_factors(16.0, anchor, at)
    assert f.shape == (3, 2, 2)
    np.testing.assert_array_equal(f[0, 0], [0.8, 1.2])
    np.testing.assert_array_equal(f[1, 1], [0.9, 1.1])
    np.testing.assert_array_equal(f[2, 0], [1.0, 1.0])  # no path crosses two gaps in one step
    np.testing.assert_allclose(
        [f[1, 0], f[0, 1], f[2, 1]], [anchor[0] * 4, anchor[1] * np.sqrt(2 / 17), anchor[1] * np.sqrt(32 / 17)]
    )


def crossing_windows(n: int, h: int, session: int, seed: int) -> np.ndarray:
    places = np.random.default_rng(seed).integers(0, session, n)
    return np.asarray((places[:, None] + np.arange(1, h + 1)[None, :]) // session, dtype=np.int64)


def test_each_kind_of_path_is_covered_where_the_graphs_pooled_widths_are_not():
    """Hourly sessions of 7 bars, a night adding 9 bars' variance; the graph's quantiles the pooled ones of every
    path (its conformal widths), in units of sigma sqrt(h). Fitted on one sample, the factors cover the 50, 80 and
    90 % intervals within 2 points of their levels on another, for paths within a session and across a night (one
    factor for every level kept the pooled mixture's shape: 50 % intervals covered 46 %): with many nights from
    their own cells, a factor per level; with 60, one factor on the shape of the step's commonest cell (fewer than
    MIN_LEVELS); with 6 (the validation of 60 days of 15m bars) from the model around each step's commonest
    cell (a review: a model normalised to the pooled variance covered 69-78 %, for the mixture's quantiles are not
    its root mean square's). Windows of unknown gaps and non-finite targets are left out; with fewer than
    MIN_CROSSING windows across a gap nothing is fitted."""
    rng = np.random.default_rng(0)
    n, h = 6000, 4
    steps = np.arange(1, h + 1)

    def draw(seed: int) -> tuple[np.ndarray, np.ndarray]:
        crossed = crossing_windows(n, h, 7, seed)
        return crossed, rng.standard_normal((n, h)) * np.sqrt((steps - crossed + 9.0 * crossed) / steps)

    crossed, target = draw(1)
    z = np.broadcast_to(np.quantile(target, LEVELS, axis=0).T, (n, h, len(LEVELS)))
    fresh, later = draw(2)
    crossed[:100] = -1
    target[100:110, 0] = np.nan
    for nights in (400, 60, 6):
        events = np.where(crossed > 0, rng.integers(0, nights, (n, 1)), -1)
        fitted = fit_gaps(target, z, 3, LEVELS, crossed, events)
        assert fitted is not None
        rho, factors, windows = fitted
        across = factors[1, 0] / factors[0, 0]  # step 1: within a session the commonest case, per level
        assert np.ptp(np.delete(across, 3)) > 0.01 if nights == 400 else np.ptp(np.delete(across, 3)) < 1e-9
        assert 9 / 1.3 < rho < 9 * 1.3, rho
        assert windows.sum(axis=0).tolist() == [n - 110] * h
        f = factors[fresh, steps - 1]
        for (low, high), nominal in (((1, 5), 0.8), ((2, 4), 0.5), ((0, 6), 0.9)):
            lower, upper = (z[..., 3] + f[..., k] * (z[..., k] - z[..., 3]) for k in (low, high))
            inside = (later >= lower) & (later <= upper)
            for kind in (fresh == 0, fresh > 0):
                assert abs(inside[kind].mean() - nominal) < 0.02, (nights, nominal, inside[kind].mean())
    assert fit_gaps(target[:400], z[:400], 3, LEVELS, np.zeros((400, h), dtype=np.int64), events[:400]) is None
    assert MIN_CROSSING > 0


def test_a_window_is_served_the_factors_of_its_place_and_one_without_sessions_none():
    gaps = GapIntervals(4.0, model_factors(4.0, np.array([[0.8, 0.9], [0.7, 0.6]]), np.array([0, 0])))
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
    older = GapIntervals.from_calibration({"gaps": {"rho": 4.0, "factors": [[0.8, 0.7], [3.2, 1.4], [1.0, 2.8]]}})
    assert older is not None and older.factors.shape == (3, 2, 1)  # one factor for every level, recorded before
    np.testing.assert_array_equal(older.for_window(times), [[3.2], [1.4]])


def test_evaluation_widens_each_window_as_the_gateway_does_where_the_spacing_changes():
    """as_served (the evaluation's intervals) read each window's gaps against the whole series' usual spacing: on
    years of daily bars followed by hourly sessions, that median is a day, so the hourly windows' nights were no
    gaps (pooled intervals) where the gateway, sent the same window, sees its sessions and widens across them."""
    daily = pd.bdate_range("2020-01-01", periods=300, tz="UTC") + pd.Timedelta(hours=21)
    times = daily.append(sessions(30, 7))  # 300 daily bars, then 210 hourly bars in sessions of 7
    made = GapIntervals(4.0, model_factors(4.0, np.array([[0.8, 0.9], [0.7, 0.6]]), np.array([0, 0])))
    calibration = {"gaps": made.record(np.array([[40, 40], [40, 40], [0, 0]]))}
    gaps = GapIntervals.from_calibration(calibration)  # as an artifact's record is read back
    assert gaps is not None
    context, origins = 64, np.arange(400, len(times) - 2)
    rng = np.random.default_rng(0)
    last = 100.0 + rng.random(len(origins))
    median = last[:, None] + rng.normal(0.0, 0.1, (len(origins), 2))
    quantiles = median[..., None] + np.array([-1.0, 1.0])  # two levels, as the factors
    served = as_served(calibration, times, origins, context, last, median, quantiles)
    widened = 0
    for row, o in enumerate(origins):
        factors = gaps.for_window(times[o - context + 1 : o + 1])  # what the gateway serves for this window
        expected = quantiles[row] if factors is None else widen(last[row], median[row], quantiles[row], factors)
        np.testing.assert_allclose(served[row], expected, err_msg=f"origin {o}")
        widened += factors is not None and not np.allclose(expected, quantiles[row])
    assert widened > 50  # the hourly windows' nights are gaps: most rows are widened


def test_calibration_reads_each_validation_windows_gaps_as_the_gateway_will():
    """Training fits the gap factors per the gaps each validation window expects to cross; it read them against
    the whole series' usual spacing, serving against the window's own: on daily years then hourly sessions the
    hourly windows expected none (a day's median spacing hides their nights), so their cells went unfitted."""
    import dataclasses

    from harness.tiny_patchtst import TINY
    from training.windows import make_dataset, symbol_splits

    daily = pd.bdate_range("2020-01-01", periods=1500, tz="UTC") + pd.Timedelta(hours=21)
    times = daily.append(sessions(150, 7))  # 1,500 daily bars, then 1,050 hourly bars in sessions of 7
    closes = 100 * np.exp(np.cumsum(np.random.default_rng(5).normal(0, 0.01, len(times))))
    config = dataclasses.replace(TINY, context_length=64, prediction_length=4)
    series = {"MIX": (closes, times.to_numpy())}
    val = symbol_splits(series, config)["MIX"].val
    assert val.min() > 1500 + 64  # every validation window is hourly
    crossed = make_dataset(series, config).val_crossed
    assert crossed is not None
    for row, o in enumerate(val):
        window = times[o - 63 : o + 1]
        expected = ahead(gap_before(window), np.array([63]), 64, 4)[0]  # what the gateway reads from it
        np.testing.assert_array_equal(crossed[row], expected, err_msg=f"origin {o}")
    assert np.mean(crossed >= 0) > 0.5


def test_widening_keeps_the_median_and_the_order_of_the_quantiles():
    median = np.array([[100.0, 101.0]])
    quantiles = np.array([[[95.0, 100.0, 104.0], [96.0, 101.0, 107.0]]])
    wide = widen(np.array([90.0]), median, quantiles, np.array([[[2.0], [0.5]]]))
    np.testing.assert_allclose(wide[0, :, 1], median[0])
    np.testing.assert_allclose(wide[0, 0], [100 * 0.95**2, 100, 100 * 1.04**2])
    np.testing.assert_allclose(wide[0, 1, 2], 101 * np.sqrt(107 / 101))
    assert (np.diff(wide, axis=-1) > 0).all()
    crossing = widen(np.array([90.0]), median, quantiles, np.array([[[1.0, 1.0, 0.5], [1.0, 1.0, 1.0]]]))
    np.testing.assert_allclose(crossing[0, 0], [95.0, 100.0, 100 * 1.04**0.5])
    five = np.array([[[95.0, 97.0, 100.0, 103.0, 105.0]]])
    per_level = widen(np.array([90.0]), np.array([[100.0]]), five, np.array([[[1.0, 1.0, 1.0, 3.0, 0.5]]]))
    np.testing.assert_allclose(per_level[0, 0], [95.0, 97.0, 100.0, 100 * 1.05**0.5, 100 * 1.03**3])  # sorted


def test_widening_carries_no_quantile_across_the_last_close():
    """The graph holds the quantiles to P(up) (a level above 1 - P(up) at or above the last close): widening
    around a median above the last close leaves a quantile at it there, and narrowing stops one from below at
    it."""
    last = np.array([100.0, 100.0])
    median = np.array([[102.0], [101.0]])
    quantiles = np.array([[[99.0, 100.0, 102.0, 105.0]], [[99.5, 99.9, 101.0, 103.0]]])
    wide = widen(last, median, quantiles, np.array([[[3.0]], [[0.1]]]))
    assert wide[0, 0, 0] == pytest.approx(102 * (99 / 102) ** 3)  # below it, and further below
    assert wide[0, 0, 1] == 100.0  # at it: 102 * (100/102)**3 would be below it
    assert wide[1, 0, 0] == 100.0 and wide[1, 0, 1] == 100.0  # 0.1 of the distance would lift them above it
    np.testing.assert_allclose(wide[0, 0, 2:], [102.0, 102 * (105 / 102) ** 3])
    assert (np.diff(wide, axis=-1) >= 0).all()


def test_spacing_of_centuries_apart_does_not_wrap_round():
    """Bar times 420 years apart: their spacing in int64 nanoseconds wrapped round to a negative one (a review)."""
    times = pd.DatetimeIndex(["1600-01-03", "1600-01-04", "1600-01-05", "2020-01-06"]).as_unit("s")
    assert usual_spacing(times) == 86_400.0
    assert gap_before(times).tolist() == [False, False, False, True]


def test_widening_keeps_a_quantile_that_is_not_a_number_so():
    """A NaN quantile neither above, below nor at the last close stays NaN, for the gateway's check to refuse the
    forecast; keeping quantiles on their side of the last close had made it the last close (a review)."""
    quantiles = np.array([[[97.0, 99.0, 100.5, 101.0, 102.0, np.nan, 105.0]]])
    wide = widen(np.array([100.0]), np.array([[101.0]]), quantiles, np.array([[[1.2]]]))
    assert np.isnan(wide[0, 0, 5]) and np.isfinite(np.delete(wide[0, 0], 5)).all()


def test_a_cells_factor_covers_at_the_conformal_rank_not_the_plain_quantile():
    """Ten windows, a 0.9 quantile one unit from the median: the plain weighted quantile of the ratios is the 9th
    (in-sample 90 %, about 0.6 points under it out of sample, a review's random walks), the conformal rank
    ceil((n + 1) 0.9) = the 10th, as the graph's pooled offsets are ranked."""
    from investiq.core.gaps import cell_factors

    target = np.arange(1, 11) / 10.0  # ratios 0.1 ... 1.0 to the quantile's distance
    z = np.column_stack([np.zeros(10), np.ones(10)])  # median 0, the 0.9 quantile at 1
    assert cell_factors(target, z, 0, np.array([0.5, 0.9]))[1] == pytest.approx(1.0)
    # below the median (one minus its level is the side covered) alike
    below = cell_factors(-target, -z, 0, np.array([0.5, 0.1]))
    assert below[1] == pytest.approx(1.0)


def test_narrowing_stops_a_quantile_above_the_last_close_at_it():
    """A median below the last close and a quantile above it: a factor under 1 draws the quantile towards the
    median, across the last close, where it would contradict the P(up) it was held to. It stops at the last close.
    A mutation audit: the quantiles above the last close left unbounded survived every test."""
    wide = widen(
        np.array([100.0]), np.array([[99.0]]), np.array([[[95.0, 100.5, 103.0]]]), np.array([[[1, 0.1, 1]]])
    )
    np.testing.assert_allclose(wide[0, 0], [95.0, 100.0, 103.0])  # 99 (100.5 / 99) ** 0.1 = 99.15 would cross it


def test_a_cells_factor_is_kept_within_its_range():
    """Every window of a cell 50 times as far from the median as its quantile says (or 1,000 times nearer): the
    factor is held to FACTOR_RANGE (10 and 0.1), not carried out to what a few freak windows ask. A mutation audit:
    the clip survived every test."""
    from investiq.core.gaps import FACTOR_RANGE, cell_factors

    z = np.column_stack([np.zeros(30), np.ones(30)])  # median 0, the 0.9 quantile at 1
    assert cell_factors(np.full(30, 50.0), z, 0, np.array([0.5, 0.9]))[1] == FACTOR_RANGE[1] == 10.0
    assert cell_factors(np.full(30, 1e-3), z, 0, np.array([0.5, 0.9]))[1] == FACTOR_RANGE[0] == 0.1


def test_a_cell_across_too_few_different_nights_gets_the_models_factors_not_its_own():
    """One-step paths from hourly sessions of 7 bars: a seventh cross a night. Those crossing, over 5 different
    nights (under MIN_CELL), are one path's worth of evidence 5 times: their cell takes the model's factors, the
    anchor's times sqrt(v[1, 1] / v[0, 1]) = sqrt(rho), not factors fitted on those few nights. Over MIN_CELL
    nights it gets its own. A mutation audit: MIN_CELL lowered to 1 survived every test."""
    from investiq.core.gaps import MIN_CELL

    rng = np.random.default_rng(4)
    n = 1400
    crossed = crossing_windows(n, 1, 7, seed=4)
    target = rng.standard_normal((n, 1)) * np.where(crossed > 0, 3.0, 1.0)
    z = np.broadcast_to(np.quantile(target, LEVELS, axis=0).T, (n, 1, len(LEVELS)))
    few = np.where(crossed > 0, rng.integers(0, 5, (n, 1)), -1)
    fitted = fit_gaps(target, z, 3, LEVELS, crossed, few)
    assert fitted is not None
    rho, factors, _ = fitted
    np.testing.assert_allclose(factors[1, 0], factors[0, 0] * np.sqrt(rho))
    many = np.where(crossed > 0, rng.integers(0, 4 * MIN_CELL, (n, 1)), -1)
    fitted = fit_gaps(target, z, 3, LEVELS, crossed, many)
    assert fitted is not None
    rho, factors, _ = fitted
    assert not np.allclose(factors[1, 0], factors[0, 0] * np.sqrt(rho))


def test_an_origin_past_a_sessions_usual_end_is_served_the_pooled_intervals():
    """Hourly sessions of 7 bars, the last one 8 long: from its 8th bar the window cannot tell where the night
    falls (an early close missed, a late bar), so no gaps ahead (-1, the pooled intervals), not factors that assume
    a night next. A mutation audit: `place <= usual` for `place < usual` survived every test."""
    hourly = sessions(30, 7)
    longer = hourly.append(pd.DatetimeIndex([hourly[-1] + pd.Timedelta(hours=1)]))
    assert ahead(gap_before(longer), np.array([len(longer) - 1]), 64, 3).tolist() == [[-1, -1, -1]]
    assert ahead(gap_before(longer), np.array([len(longer) - 2]), 64, 3).tolist() == [[1, 1, 1]]  # its 7th bar
