"""Probability calibration and scoring for P(up): pure maths, no I/O (issue: a price model worth acting on).

A forecaster's raw P(up) (or any score) is mapped to a calibrated probability by a map fitted on the
validation part only, then judged on the test part:

    platt = fit_platt(raw_val, up_val)          # p = sigmoid(a * logit(raw) + b): two numbers, smooth
    iso = fit_isotonic(raw_val, up_val)         # monotone step function (pool adjacent violators)
    brier(p_test, up_test), brier_skill(p_test, up_test, base_rate_from_training)

Scores are plain arrays: probabilities in [0, 1], outcomes as bools (close_{t+h} > close_t).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

EPS = 1e-6  # probabilities are kept in [EPS, 1 - EPS] so that logits stay finite


def _probabilities(p: ArrayLike) -> NDArray[np.float64]:
    values = np.asarray(p, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(values)):
        raise ValueError("probabilities must be finite")
    return np.clip(values, EPS, 1 - EPS)


def _outcomes(up: ArrayLike, n: int) -> NDArray[np.float64]:
    values = np.asarray(up, dtype=np.float64).reshape(-1)
    if values.size != n:
        raise ValueError(f"{values.size} outcomes for {n} probabilities")
    if not np.all((values == 0) | (values == 1)):
        raise ValueError("outcomes must be 0/1 (or bools)")
    return values


def logit(p: ArrayLike) -> NDArray[np.float64]:
    q = _probabilities(p)
    return np.asarray(np.log(q / (1 - q)))


def sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(0.5 * (1 + np.tanh(0.5 * z)))  # the tanh form does not overflow


@dataclass(frozen=True)
class Platt:
    """p = sigmoid(a * logit(raw) + b); a = 1, b = 0 is the identity."""

    a: float
    b: float

    def __call__(self, raw: ArrayLike) -> NDArray[np.float64]:
        return sigmoid(self.a * logit(raw) + self.b)


def fit_platt(raw: ArrayLike, up: ArrayLike, iterations: int = 50) -> Platt:
    """Maximum-likelihood (a, b) by Newton's method on the logistic log-loss, with a tiny ridge so that
    separable data still give finite numbers."""
    x = logit(raw)
    y = _outcomes(up, x.size)
    if x.size == 0:
        raise ValueError("no probabilities to calibrate on")
    design = np.column_stack([x, np.ones_like(x)])  # [n, 2]
    w = np.array([1.0, 0.0])
    ridge = 1e-6 * np.eye(2)
    for _ in range(iterations):
        p = sigmoid(design @ w)
        gradient = design.T @ (p - y) + ridge @ w
        hessian = (design * (p * (1 - p))[:, None]).T @ design + ridge
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    return Platt(float(w[0]), float(w[1]))


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


@dataclass(frozen=True)
class Isotonic:
    """A non-decreasing step function: raw scores at or above thresholds[i] map to values[i]."""

    thresholds: tuple[float, ...]
    values: tuple[float, ...]

    def __call__(self, raw: ArrayLike) -> NDArray[np.float64]:
        x = np.asarray(raw, dtype=np.float64).reshape(-1)
        index = np.searchsorted(np.asarray(self.thresholds), x, side="right") - 1
        return np.asarray(np.asarray(self.values)[np.clip(index, 0, len(self.values) - 1)])


def fit_isotonic(raw: ArrayLike, up: ArrayLike) -> Isotonic:
    """Least-squares non-decreasing fit of the outcomes on the raw scores (pool adjacent violators);
    values are kept in [EPS, 1 - EPS] so that a calibrated forecast is never certain."""
    x = np.asarray(raw, dtype=np.float64).reshape(-1)
    y = _outcomes(up, x.size)
    if x.size == 0:
        raise ValueError("no probabilities to calibrate on")
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    # blocks: [start x, sum of y, count]; ties in x share a block
    starts: list[float] = []
    sums: list[float] = []
    counts: list[float] = []
    for xi, yi in zip(xs, ys, strict=True):
        if starts and xi == starts[-1]:
            sums[-1] += yi
            counts[-1] += 1
        else:
            starts.append(float(xi))
            sums.append(float(yi))
            counts.append(1.0)
        while len(sums) > 1 and sums[-2] / counts[-2] >= sums[-1] / counts[-1]:
            merged_sum, merged_count = sums.pop(), counts.pop()
            starts.pop()
            sums[-1] += merged_sum
            counts[-1] += merged_count
    values = np.clip(np.asarray(sums) / np.asarray(counts), EPS, 1 - EPS)
    return Isotonic(tuple(starts), tuple(float(v) for v in values))


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
