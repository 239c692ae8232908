"""Calibration of P(up) on synthetic data whose answer is known."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from investiq.core.calibration import (
    brier,
    brier_skill,
    fit_isotonic,
    fit_platt,
    fit_slope,
    logit,
    reliability_bins,
    sigmoid,
)


def synthetic(n: int, a: float, b: float, seed: int = 0) -> tuple[Any, Any, Any]:
    """Raw scores whose true P(up) is sigmoid(a * logit(raw) + b), and outcomes drawn from it."""
    rng = np.random.default_rng(seed)
    raw = sigmoid(rng.normal(0, 1.5, n))
    truth = sigmoid(a * logit(raw) + b)
    return raw, truth, rng.random(n) < truth


def test_platt_recovers_a_known_miscalibration():
    raw, _, up = synthetic(40_000, a=0.5, b=0.2)  # an overconfident forecaster, biased down
    platt = fit_platt(raw, up)
    assert platt.a == pytest.approx(0.5, abs=0.03)
    assert platt.b == pytest.approx(0.2, abs=0.03)


def test_platt_leaves_calibrated_probabilities_alone():
    raw, _, up = synthetic(40_000, a=1.0, b=0.0, seed=1)
    platt = fit_platt(raw, up)
    assert (platt.a, platt.b) == pytest.approx((1.0, 0.0), abs=0.04)


def test_isotonic_is_monotone_and_close_to_the_truth():
    raw, _, up = synthetic(40_000, a=0.5, b=0.0, seed=2)
    iso = fit_isotonic(raw, up)
    assert np.all(np.diff(iso.values) >= 0)
    grid = np.linspace(0.05, 0.95, 19)
    assert np.abs(iso(grid) - sigmoid(0.5 * logit(grid))).max() < 0.06
    assert min(iso.values) > 0 and max(iso.values) < 1  # never certain


def test_isotonic_pools_violators_exactly():
    iso = fit_isotonic([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1])
    assert iso.values == pytest.approx((1e-6, 0.5, 1 - 1e-6))
    assert iso([0.25, 0.35]) == pytest.approx([0.5, 0.5])


def test_brier_and_skill_against_hand_counts():
    up = np.array([1, 0, 1, 1])
    assert brier([1, 0, 1, 1], up) == 0
    assert brier([0.5] * 4, up) == 0.25
    assert brier_skill([0.75] * 4, up, base_rate=0.75) == pytest.approx(0.0)
    assert brier_skill([0.9, 0.1, 0.9, 0.9], up, 0.75) == pytest.approx(1 - 0.01 / 0.1875)
    assert brier_skill([0.1, 0.9, 0.1, 0.1], up, 0.75) < 0


def test_reliability_bins_of_calibrated_forecasts_lie_on_the_diagonal():
    _, truth, up = synthetic(40_000, a=1.0, b=0.0, seed=3)
    rows = reliability_bins(truth, up, bins=10)
    assert sum(r["n"] for r in rows) == 40_000
    assert all(abs(r["forecast"] - r["observed"]) < 0.05 for r in rows if r["n"] > 500)


def test_reliability_bins_say_the_up_rate_observed_not_the_forecast():
    """Ten forecasts of 0.9 of which half rose, and four of 0.2 of which one rose: the diagram shows 0.5 and 0.25
    observed, where a diagram of the forecasts alone would lie on the diagonal. A mutation audit: "observed" read
    from the forecasts survived every test."""
    rows = reliability_bins([0.9] * 10 + [0.2] * 4, [1, 0] * 5 + [1, 0, 0, 0], bins=10)
    assert rows == [
        {"forecast": pytest.approx(0.2), "observed": 0.25, "n": 4},
        {"forecast": pytest.approx(0.9), "observed": 0.5, "n": 10},
    ]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="finite"):
        fit_platt([0.5, float("nan")], [1, 0])
    with pytest.raises(ValueError, match="outcomes"):
        brier([0.5, 0.5], [1])


def test_fit_slope_recovers_a_known_slope_and_never_inverts_a_score():
    """Outcomes drawn from sigmoid(offset + 0.8 * score): the fitted slope is near 0.8; an uninformative
    score gets 0 (the prior alone), and a score that points the wrong way is not inverted (0, not < 0)."""
    rng = np.random.default_rng(7)
    score = rng.normal(size=20_000)
    offset = np.full(score.size, 0.2)
    up = rng.random(score.size) < sigmoid(offset + 0.8 * score)
    assert fit_slope(score, up, offset) == pytest.approx(0.8, abs=0.08)
    noise = rng.random(score.size) < sigmoid(offset)
    assert fit_slope(score, noise, offset) < 0.05
    assert fit_slope(-score, up, offset) == 0.0
