"""What `training/calibrate.py` keeps of a network's P(up), median and spread, on synthetic validation answers: it
decides what a user is served. Each test here kills a mutant that every other test survived (a mutation audit)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from harness.tiny_patchtst import TINY
from investiq.core.calibration import sigmoid
from investiq.core.forecast_stats import bootstrap_interval
from investiq.core.patchtst import QUANTILE_LEVELS
from training import calibrate as calibration
from training import windows as splits
from training.forecaster import Forecaster

H, CONTEXT = 12, 32
LEVELS = np.array(QUANTILE_LEVELS)
CONFIG = dataclasses.replace(TINY, context_length=CONTEXT, prediction_length=H)


def _calibrated(
    monkeypatch: pytest.MonkeyPatch,
    u: NDArray[np.float64],
    target: NDArray[np.float64],
    sizes: list[int] | None = None,
    up_rate: float = 0.5,
    down_rate: float | None = None,
    forecaster: Forecaster | None = None,
) -> dict[str, Any]:
    """calibrate() on validation answers u [n, H, K] (the network's quantiles in units of sigma sqrt(h)) against
    targets [n, H], symbols of `sizes` windows (one where None) with flat context closes, a training up-rate
    `up_rate` and down-rate `down_rate` (not recorded where None), into `forecaster`'s buffers."""
    n = len(target)
    s = np.full((n, H), 0.01) * np.sqrt(np.arange(1, H + 1))
    monkeypatch.setattr(calibration, "_validation_answers", lambda *_: (u, target, s))
    closes = np.ones((n, CONTEXT, 1), np.float32)
    x, y = np.ones((2 * H, 2, 1), np.float32), np.ones((2 * H, H, 1), np.float32)
    data = splits.Dataset(
        (x, y),
        (closes, np.zeros((n, H, 1), np.float32)),
        val_sizes=sizes or [n],
        train_up_rate=[up_rate] * H,
        train_down_rate=[] if down_rate is None else [down_rate] * H,
    )
    result: dict[str, Any] = calibration.calibrate(forecaster or Forecaster(CONFIG), data, CONFIG)
    return result


def _overconfident_extremes(seed: int = 0) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(u, target) on 120 windows: the network's median calls each step's direction right 60 % of the time at a
    small size (0.3), but in 15 % of windows at a size of 8 and right only 65 % of the time there: an unbounded
    P(up) saturates on those and loses a Brier score near 1 when wrong."""
    rng = np.random.default_rng(seed)
    n = 120
    target = rng.normal(0, 1, (n, H))
    sign = np.where(target > 0, 1.0, -1.0)
    extreme = rng.random(n) < 0.15
    right = np.where(extreme[:, None], rng.random((n, H)) < 0.65, rng.random((n, H)) < 0.6)
    median = np.where(extreme[:, None], 8.0, 0.3) * np.where(right, sign, -sign)
    return median[..., None] + (LEVELS - 0.5)[None, None, :], target


def test_the_p_up_slope_is_judged_within_the_bounds_it_is_served_in(monkeypatch: pytest.MonkeyPatch):
    """P(up) is served clipped to the bounds most validation windows reached (`p_bounds`), and its slope is kept
    on the skill of that clipped P(up). Here the clipped P(up) shows skill (interval wholly above 0) and the
    unclipped one, saturating on a few overconfident windows, does not: the slope is kept and P(up) moves.
    A mutation audit: the slope judged on the unclipped P(up) survived every test."""
    u, target = _overconfident_extremes()
    c = _calibrated(monkeypatch, u, target)
    assert c["val_blocks"] >= 10 and c["base_up"] == [0.5] * H and c["slope_best"] > 0
    # the situation: unclipped, the same slope shows no skill over the base on these windows
    up = target > 0
    raw = sigmoid(c["slope_best"] * u[..., QUANTILE_LEVELS.index(0.5)])
    squared = np.column_stack([((raw - up) ** 2).mean(axis=1), ((0.5 - up) ** 2).mean(axis=1)])
    _, unclipped_ci = bootstrap_interval([squared], lambda v: 1 - v[..., 0] / v[..., 1], block=H, seed=CONFIG.seed)
    assert unclipped_ci[0] <= 0 < c["val_brier_skill_ci95"][0]
    assert c["slope"] == c["slope_best"] and "P(up) slope" in c["rule"]
