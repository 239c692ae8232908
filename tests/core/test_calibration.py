"""Calibration of P(up) on synthetic data whose answer is known."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from investiq.core.calibration import brier, brier_skill, fit_slope, reliability_bins, sigmoid


def logit(p: Any) -> Any:
    q = np.asarray(p, dtype=np.float64)
    return np.log(q / (1 - q))


def synthetic(n: int, a: float, b: float, seed: int = 0) -> tuple[Any, Any, Any]:
    """Raw scores whose true P(up) is sigmoid(a * logit(raw) + b), and outcomes drawn from it."""
    rng = np.random.default_rng(seed)
    raw = sigmoid(rng.normal(0, 1.5, n))
    truth = sigmoid(a * logit(raw) + b)
    return raw, truth, rng.random(n) < truth


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
