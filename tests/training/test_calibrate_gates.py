"""The skill gates of `training/calibrate.py` on synthetic validation answers: what calibration keeps of a network
(the median's shrinkage, its quantiles' spread) decides what a user is served. Each test here kills a mutant of a
gate that every other test survived (a mutation audit)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.stats import norm

from harness.tiny_patchtst import TINY
from investiq.core.patchtst import QUANTILE_LEVELS
from training import calibrate as calibration
from training import windows as splits
from training.forecaster import Forecaster

H, CONTEXT = 12, 32
LEVELS = np.array(QUANTILE_LEVELS)


def _calibrated(
    monkeypatch: pytest.MonkeyPatch,
    u: NDArray[np.float64],
    target: NDArray[np.float64],
    closes: NDArray[np.float64] | None = None,
    forecaster: Forecaster | None = None,
) -> dict[str, Any]:
    """calibrate() on validation answers u [n, H, K] (the network's quantiles in units of sigma sqrt(h)) against
    targets [n, H], one symbol, the context closes [n, C] (flat where None), a training up-rate of 0.5, into
    `forecaster`'s buffers (a new one where None)."""
    n = len(target)
    config = dataclasses.replace(TINY, context_length=CONTEXT, prediction_length=H)
    s = np.full((n, H), 0.01) * np.sqrt(np.arange(1, H + 1))
    monkeypatch.setattr(calibration, "_validation_answers", lambda *_: (u, target, s))
    closes = np.ones((n, CONTEXT)) if closes is None else closes
    x, y = np.ones((2 * H, 2, 1), np.float32), np.ones((2 * H, H, 1), np.float32)
    val = (closes[..., None].astype(np.float32), np.zeros((n, H, 1), np.float32))
    data = splits.Dataset((x, y), val, val_sizes=[n], train_up_rate=[0.5] * H)
    result: dict[str, Any] = calibration.calibrate(forecaster or Forecaster(config), data, config)
    return result


def _foreseen_spread(windows: int, rho: float, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(u, target): paths whose volatility differs by window (x exp(0.5 z)), a network whose quantiles' spread
    knows z with correlation `rho` and whose median is 0 (the random walk's)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1, windows)
    steps = np.cumsum(rng.normal(0, 1, (windows, H)), axis=1) / np.sqrt(np.arange(1, H + 1))
    target = np.exp(0.5 * z)[:, None] * steps
    guess = np.exp(0.5 * (rho * z + np.sqrt(1 - rho**2) * rng.normal(0, 1, windows)))
    u = guess[:, None, None] * norm.ppf(LEVELS)[None, None, :] * np.ones((windows, H, 1))
    return u, target


def test_a_median_whose_mae_ratio_interval_reaches_one_is_the_random_walk_even_beside_a_poor_drift(
    monkeypatch: pytest.MonkeyPatch,
):
    """Alpha is kept only where the validation MAE ratio to the random walk has its 95% interval's upper end
    below 1. Here the best shrinkage's ratio is below 1 and the drift forecast (a trend in the context that the
    paths do not follow) is far worse, but the interval reaches past 1: the median served is the last close.
    A mutation audit: `ratio_ci[1] < 1` -> `ratio_ci[0] < 1` survived every test."""
    rng = np.random.default_rng(0)
    n = 120
    target = np.cumsum(rng.normal(0, 1, (n, H)), axis=1) / np.sqrt(np.arange(1, H + 1))
    median = 0.2 * target + rng.normal(0, 1, (n, 1))  # a weak signal, the same noise across a window's steps
    u = median[..., None] + (LEVELS - 0.5)[None, None, :]
    closes = 100 * np.exp(0.003 * np.arange(CONTEXT))[None, :].repeat(n, axis=0)
    c = _calibrated(monkeypatch, u, target, closes)
    low, high = c["val_mae_ratio_ci95"]
    assert c["alpha_best"] > 0 and c["val_mae_ratio"] < 1 and low < 1 <= high
    assert c["val_mae_ratio_to_drift_ci95"][1] < 1  # the drift forecast's bar alone would have let it through
    assert c["alpha"] == 0.0 and "median = the random walk" in c["rule"]


def test_the_networks_spread_is_kept_only_where_its_pinball_ratios_interval_is_wholly_below_one(
    monkeypatch: pytest.MonkeyPatch,
):
    """On ten horizons of validation, a network that knows each window's volatility keeps its spread (interval
    wholly below 1); one that half knows it has a pinball ratio below 1 whose interval reaches past 1, and the
    quantiles served are the random walk's.
    A mutation audit: `spread_ci[1] < 1` -> `spread_ratio < 1`, and the random walk's offsets
    served with the network's spread, survived every test."""
    u, target = _foreseen_spread(120, rho=1.0, seed=2)
    forecaster = Forecaster(dataclasses.replace(TINY, context_length=CONTEXT, prediction_length=H))
    kept = _calibrated(monkeypatch, u, target, forecaster=forecaster)
    assert kept["spread"] == 1.0 and kept["val_pinball_ratio_ci95"][1] < 1
    # served with the conformal offsets of the network's own quantiles, not the random walk's
    m = forecaster.median_index
    network, walk = calibration.conformal(target, u, LEVELS, m), calibration.conformal(target, 0 * u, LEVELS, m)
    np.testing.assert_allclose(forecaster.offsets.numpy(), network, rtol=1e-6, atol=1e-6)
    assert not np.allclose(network, walk, atol=1e-3)
    unsure = _calibrated(monkeypatch, *_foreseen_spread(120, rho=0.6, seed=2))
    assert unsure["val_pinball_ratio"] < 1 <= unsure["val_pinball_ratio_ci95"][1]
    assert unsure["spread"] == 0.0 and "quantiles: the random walk's" in unsure["rule"]


def test_the_networks_spread_is_not_kept_on_fewer_than_ten_horizons_of_validation(monkeypatch: pytest.MonkeyPatch):
    """On 3 horizons (36 windows of 12 steps) the bootstrap interval is too narrow to show skill (MIN_BLOCKS): a
    spread whose pinball ratio's interval lies wholly below 1 there is still not served.
    A mutation audit: `enough and spread_ci[1] < 1` -> `spread_ci[1] < 1` survived every
    test."""
    c = _calibrated(monkeypatch, *_foreseen_spread(36, rho=1.0, seed=1))
    assert c["val_blocks"] == 3 and c["val_pinball_ratio_ci95"][1] < 1
    assert c["spread"] == 0.0 and "too few to show skill" in c["rule"]
