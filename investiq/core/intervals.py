"""Forecast intervals for prices: two baselines and how intervals are scored. Pure maths, no I/O.

Baselines a probabilistic price model must beat (issue: a price model worth acting on), both centred on
the random walk (a zero log return) and both giving quantiles of the cumulative log return
log(close[o + h] / close[o]) from an origin o for h = 1..H:

- `garch_forecast`: GARCH(1,1) (`arch`), Student-t or Normal innovations, fitted on one series' returns
  up to a cut-off bar only (the end of its validation part), then run forward over the later bars with
  those parameters fixed. The h-step log return's variance is the sum of the 1..h-step conditional
  variances (GARCH returns are uncorrelated); its quantiles are those of the innovation distribution
  scaled to that variance (exact for Normal innovations, an approximation for the sum of Student-t's).
- `empirical_vol_quantiles`: Normal, sigma = the sample standard deviation of the one-step log returns
  over the context window, times sqrt(h).

Scores: `covered` (inside a central interval, bounds included), `pinball` (quantile loss per level).
Prices from log-return quantiles: `to_prices`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

Innovations = Literal["t", "normal"]


class ConstantReturns(ValueError):
    """The prices GARCH would be fitted on never move (a halted or pinned symbol): there is nothing to fit."""


@dataclass(frozen=True)
class GarchForecast:
    params: dict[str, float]  # omega (raw log-return units), alpha, beta, persistence, nu (Student-t only)
    dist: Innovations
    fitted_returns: int  # one-step returns the parameters were fitted on
    variance: NDArray[np.float64]  # [n, H] variance of log(close[o + h] / close[o]) per origin o
    quantiles: NDArray[np.float64]  # [n, H, K] its quantiles at the requested levels


def _levels(levels: Sequence[float]) -> NDArray[np.float64]:
    q = np.asarray(levels, dtype=np.float64).reshape(-1)
    if q.size == 0 or np.any((q <= 0) | (q >= 1)):
        raise ValueError(f"quantile levels must lie in (0, 1), got {list(q)}")
    return q


def garch_forecast(
    closes: NDArray[np.float64],
    fit_end: int,
    origins: NDArray[np.int64],
    horizon: int,
    levels: Sequence[float],
    dist: Innovations = "t",
) -> GarchForecast:
    """GARCH(1,1) with zero mean fitted on the log returns of closes[0 .. fit_end] (bar indices, inclusive)
    and filtered forward with fixed parameters: the h-step log-return distribution at each origin o
    (1 <= o, o + horizon < len(closes) is not needed: only closes up to o are read for origin o).

    Returns are rescaled to unit variance over the fit for the optimiser; variances come back in raw
    log-return units."""
    from arch import arch_model

    q = _levels(levels)
    c = np.asarray(closes, dtype=np.float64).reshape(-1)
    o = np.asarray(origins, dtype=np.int64).reshape(-1)
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if not 2 <= fit_end < c.size:
        raise ValueError(f"fit_end must index a bar in [2, {c.size - 1}], got {fit_end}")
    if o.size == 0 or o.min() < 1 or o.max() >= c.size:
        raise ValueError(f"origins must index bars in [1, {c.size - 1}]")
    r = np.diff(np.log(c))  # r[i] = log(c[i + 1] / c[i]): known at bar i + 1
    scale = float(np.std(r[:fit_end]))
    if not scale > 0:
        raise ConstantReturns("the returns up to fit_end are constant: GARCH cannot be fitted")
    model = arch_model(r / scale, mean="Zero", vol="GARCH", p=1, q=1, dist=dist, rescale=False)
    fit = model.fit(last_obs=fit_end, disp="off", show_warning=False)
    first = int(o.min()) - 1  # row o - 1 (the return into bar o) forecasts the returns after bar o
    ahead = fit.forecast(horizon=horizon, start=first, reindex=False).variance.to_numpy()
    variance = np.cumsum(ahead[o - 1 - first], axis=1) * scale**2  # [n, H]
    k = model.distribution.num_params
    shape = fit.params.to_numpy()[-k:] if k else None
    z = np.asarray(model.distribution.ppf(q, shape), dtype=np.float64)  # unit-variance quantiles
    params = {
        "omega": float(fit.params["omega"]) * scale**2,
        "alpha": float(fit.params["alpha[1]"]),
        "beta": float(fit.params["beta[1]"]),
    }
    params["persistence"] = params["alpha"] + params["beta"]
    if dist == "t":
        params["nu"] = float(fit.params["nu"])
    return GarchForecast(params, dist, fit_end, variance, np.sqrt(variance)[..., None] * z)


def empirical_vol_quantiles(
    windows: NDArray[np.floating[Any]], horizon: int, levels: Sequence[float]
) -> NDArray[np.float64]:
    """Quantiles [n, H, K] of the h-step log return of the empirical-volatility random walk, for context
    windows [n, C] (or [n, C, 1]) of closes: Normal(0, sigma * sqrt(h)), sigma the sample std (ddof=1)
    of the window's one-step log returns."""
    w = np.asarray(windows, dtype=np.float64)
    w = w.reshape(len(w), -1)
    if w.shape[1] < 3:
        raise ValueError(f"need at least 3 closes per window, got {w.shape[1]}")
    sigma = np.diff(np.log(w), axis=1).std(axis=1, ddof=1)  # [n]
    root_h = np.sqrt(np.arange(1, horizon + 1, dtype=np.float64))
    from scipy import stats

    z = stats.norm.ppf(_levels(levels))
    return np.asarray(sigma[:, None, None] * root_h[None, :, None] * z[None, None, :])


def to_prices(last: NDArray[np.float64], log_quantiles: NDArray[np.float64]) -> NDArray[np.float64]:
    """Closes [n, H, K] from the last close [n] and quantiles of the cumulative log return [n, H, K]."""
    return np.asarray(np.asarray(last, dtype=np.float64)[:, None, None] * np.exp(log_quantiles))


def interval_index(levels: Sequence[float], coverage: float) -> tuple[int, int] | None:
    """Positions of the central interval's bounds ((1 - c) / 2 and (1 + c) / 2) among `levels`, or None."""
    q = np.asarray(levels, dtype=np.float64)
    low = np.flatnonzero(np.isclose(q, (1 - coverage) / 2, atol=1e-9))
    high = np.flatnonzero(np.isclose(q, (1 + coverage) / 2, atol=1e-9))
    return (int(low[0]), int(high[0])) if low.size and high.size else None


def covered(
    lower: NDArray[np.float64], upper: NDArray[np.float64], actual: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Whether each actual value lies in [lower, upper] (same shapes)."""
    a = np.asarray(actual)
    return np.asarray((a >= lower) & (a <= upper))


def pinball(
    quantiles: NDArray[np.float64], actual: NDArray[np.float64], levels: Sequence[float]
) -> NDArray[np.float64]:
    """The quantile (pinball) loss [..., K] of quantiles [..., K] at `levels` against actual values [...]:
    tau * (y - q) if y >= q else (1 - tau) * (q - y). Its mean over levels approximates the CRPS / 2."""
    tau = _levels(levels)
    diff = np.asarray(actual, dtype=np.float64)[..., None] - np.asarray(quantiles, dtype=np.float64)
    return np.asarray(np.maximum(tau * diff, (tau - 1) * diff))
