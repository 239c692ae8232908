"""Probability calibration and scoring for P(up): pure maths, no I/O (issue: a price model worth acting on).

A forecaster's score is mapped to a calibrated probability by a slope fitted on the validation part only
(its intercept held at the base rate's logit), then judged on the test part:

    b = fit_slope(score_val, up_val, base_logit)    # p = sigmoid(base_logit + b * score), b >= 0
    brier(p_test, up_test), brier_skill(p_test, up_test, base_rate_from_training), reliability_bins(p, up)

Scores are plain arrays: probabilities in [0, 1], outcomes as bools (close_{t+h} > close_t).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _outcomes(up: ArrayLike, n: int) -> NDArray[np.float64]:
    values = np.asarray(up, dtype=np.float64).reshape(-1)
    if values.size != n:
        raise ValueError(f"{values.size} outcomes for {n} probabilities")
    if not np.all((values == 0) | (values == 1)):
        raise ValueError("outcomes must be 0/1 (or bools)")
    return values


def sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(0.5 * (1 + np.tanh(0.5 * z)))  # the tanh form does not overflow


def fit_slope(score: ArrayLike, up: ArrayLike, offset: ArrayLike, largest: float = 5.0) -> float:
    """The slope b in [0, largest] that minimises the Brier score of p = sigmoid(offset + b * score).

    Platt scaling with its intercept held at a prior's logit (`offset`, e.g. the training period's
    up-rate, per row) and its slope kept >= 0: b = 0 answers the prior whatever the score, so the fit
    can only shrink toward it, never invert the score. A 1-D bounded minimisation (Brent)."""
    from scipy.optimize import minimize_scalar

    x = np.asarray(score, dtype=np.float64).reshape(-1)
    y = _outcomes(up, x.size)
    base = np.broadcast_to(np.asarray(offset, dtype=np.float64).reshape(-1), x.shape)
    if x.size == 0:
        raise ValueError("no scores to calibrate on")

    def loss(b: float) -> float:
        return float(np.mean((sigmoid(base + b * x) - y) ** 2))

    best = minimize_scalar(loss, bounds=(0.0, largest), method="bounded", options={"xatol": 1e-6})
    b = float(best.x)
    return b if loss(b) < loss(0.0) else 0.0


def brier(p: ArrayLike, up: ArrayLike) -> float:
    """Mean squared error of the probabilities against the 0/1 outcomes (0 is perfect, 0.25 is a coin)."""
    q = np.asarray(p, dtype=np.float64).reshape(-1)
    y = _outcomes(up, q.size)
    return float(np.mean((q - y) ** 2))


def brier_skill(p: ArrayLike, up: ArrayLike, base_rate: float) -> float:
    """1 - Brier / Brier of always answering `base_rate` (e.g. the training period's up-rate):
    above 0 beats that climatology, 0 ties it, below 0 is worse."""
    y = np.asarray(up, dtype=np.float64).reshape(-1)
    reference = brier(np.full(y.size, base_rate), y)
    if reference == 0:
        raise ValueError("the outcomes are all equal to the base rate: skill is undefined")
    return 1 - brier(p, y) / reference


def reliability_bins(p: ArrayLike, up: ArrayLike, bins: int = 10) -> list[dict[str, float]]:
    """The reliability diagram: per equal-width bin of forecast probability, its mean forecast, the
    observed up-rate and the count (empty bins left out)."""
    q = np.asarray(p, dtype=np.float64).reshape(-1)
    y = _outcomes(up, q.size)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(q, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append(
                {"forecast": float(q[inside].mean()), "observed": float(y[inside].mean()), "n": int(inside.sum())}
            )
    return rows
