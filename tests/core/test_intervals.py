"""Interval baselines (investiq/core/intervals.py): GARCH(1,1) on simulated GARCH data covers at its nominal
rate and never reads past its cut-off; the empirical-volatility random walk; the pinball loss by hand."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats

from investiq.core.intervals import (
    covered,
    empirical_vol_quantiles,
    garch_forecast,
    interval_index,
    pinball,
    to_prices,
)

LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def simulated_garch(n: int, seed: int = 0, nu: float = 6.0) -> NDArray[np.float64]:
    """Closes whose daily log returns follow GARCH(1,1) with Student-t innovations (unit variance)."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 2e-6, 0.08, 0.9
    variance = omega / (1 - alpha - beta)
    z = rng.standard_t(nu, size=n) * np.sqrt((nu - 2) / nu)
    r = np.empty(n)
    for t in range(n):
        r[t] = np.sqrt(variance) * z[t]
        variance = omega + alpha * r[t] ** 2 + beta * variance
    return np.asarray(100 * np.exp(np.concatenate([[0.0], np.cumsum(r)])))


def coverage(
    closes: NDArray[np.float64], origins: NDArray[np.int64], q: NDArray[np.float64], horizon: int, level: float
) -> float:
    lo, hi = interval_index(LEVELS, level)  # type: ignore[misc]
    actual = closes[origins[:, None] + np.arange(1, horizon + 1)]
    prices = to_prices(closes[origins], q)
    return float(covered(prices[..., lo], prices[..., hi], actual).mean())


def test_garch_on_garch_data_covers_at_the_nominal_rate():
    closes = simulated_garch(8000)
    horizon = 5
    origins = np.arange(4000, len(closes) - horizon)
    g = garch_forecast(closes, 3999, origins, horizon, LEVELS, dist="t")
    assert g.variance.shape == (len(origins), horizon) and g.quantiles.shape == (len(origins), horizon, 7)
    assert np.all(np.diff(g.variance, axis=1) > 0)  # the h-step variance grows with h
    assert g.params["persistence"] == pytest.approx(0.98, abs=0.02)
    for level in (0.8, 0.9):
        assert coverage(closes, origins, g.quantiles, horizon, level) == pytest.approx(level, abs=0.03)


def test_garch_never_reads_a_bar_after_its_cut_off():
    closes = simulated_garch(3000, seed=1)
    origins = np.arange(2000, 2990)
    before = garch_forecast(closes, 1800, origins, 4, LEVELS, dist="normal")
    changed = closes.copy()
    changed[1801:] = changed[1801:] * np.exp(np.random.default_rng(9).normal(0, 0.05, len(closes) - 1801))
    after = garch_forecast(changed, 1800, origins, 4, LEVELS, dist="normal")
    assert after.params == before.params  # fitted on bars 0..1800 only
    assert after.fitted_returns == 1800
    # filtering forward does read the later bars (up to each origin): the variances follow them
    assert not np.allclose(after.variance, before.variance)


def test_garch_variance_at_an_origin_uses_closes_up_to_that_origin_only():
    closes = simulated_garch(2500, seed=2)
    origins = np.arange(2000, 2100)
    a = garch_forecast(closes, 1500, origins, 3, LEVELS, dist="normal")
    changed = closes.copy()
    changed[2051:] *= 1.5  # a jump after origin 2050
    b = garch_forecast(changed, 1500, origins, 3, LEVELS, dist="normal")
    np.testing.assert_allclose(a.variance[:51], b.variance[:51], rtol=1e-12)
    assert not np.allclose(a.variance[51:], b.variance[51:])


def test_garch_rejects_a_cut_off_outside_the_series():
    with pytest.raises(ValueError, match="fit_end"):
        garch_forecast(simulated_garch(100), 200, np.arange(50, 60), 2, LEVELS)


def test_empirical_vol_random_walk_is_normal_with_the_window_volatility():
    window = np.array([[100.0, 101.0, 99.0, 100.5, 102.0]])
    r = np.diff(np.log(window[0]))
    q = empirical_vol_quantiles(window, 3, (0.1, 0.5, 0.9))
    expected = r.std(ddof=1) * np.sqrt([1, 2, 3])[:, None] * stats.norm.ppf([0.1, 0.5, 0.9])[None, :]
    np.testing.assert_allclose(q[0], expected, rtol=1e-12)
    assert np.all(q[..., 1] == 0)  # the median is the random walk


def test_empirical_vol_covers_iid_normal_returns_at_the_nominal_rate():
    rng = np.random.default_rng(4)
    closes = 50 * np.exp(np.concatenate([[0.0], np.cumsum(rng.normal(0, 0.01, 20000))]))
    c, h = 128, 4
    origins = np.arange(c - 1, len(closes) - h, 3)
    windows = closes[origins[:, None] + np.arange(-c + 1, 1)]
    q = empirical_vol_quantiles(windows, h, LEVELS)
    for level in (0.8, 0.9):
        assert coverage(closes, origins, q, h, level) == pytest.approx(level, abs=0.02)


def test_pinball_by_hand():
    # y = 10; q = 8 at tau 0.1: 0.1 * 2 = 0.2; q = 12 at tau 0.9: 0.1 * 2 = 0.2; q = 10 at 0.5: 0
    loss = pinball(np.array([8.0, 10.0, 12.0]), np.array(10.0), (0.1, 0.5, 0.9))
    np.testing.assert_allclose(loss, [0.2, 0.0, 0.2])
    loss = pinball(np.array([[11.0, 9.0]]), np.array([10.0]), (0.25, 0.75))
    np.testing.assert_allclose(loss, [[0.75, 0.75]])


def test_interval_index_finds_the_bounds():
    assert interval_index(LEVELS, 0.8) == (1, 5)
    assert interval_index(LEVELS, 0.9) == (0, 6)
    assert interval_index((0.25, 0.5, 0.75), 0.8) is None
