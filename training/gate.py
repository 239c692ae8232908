"""The promotion gate: candidate and serving PatchTST forecast the same fresh hold-out, as exported.

Both models are run as the ONNX graphs that would serve (not as PyTorch), on the candidate's test
origins of the refreshed bars, keeping only origins after the last bar the serving model trained
on, so neither model has seen a hold-out target. Per origin:
    error = mean over the horizon of |forecast - actual| / last close     (scale-free across symbols)
    hit   = the one-step forecast's direction (vs the last close) matches the market's
The random walk (last close) is reported beside them. The confidence interval of the paired
difference first averages the symbols' differences at each bar time (SPX and NASDAQ on one day are
one observation, not two), then keeps every H-th time only, so that the forecasts it averages do
not overlap, and uses Student's t for the few that remain.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from investiq.core.errors import InvestIQError
from investiq.core.patchtst import INPUT, ONNX_FILE, OUTPUT, PatchTSTMeta, TrainConfig
from training.patchtst import split_origins, windows

Predict = Callable[[NDArray[np.float32]], NDArray[np.float32]]  # [n, context, 1] -> [n, horizon, 1]
Series = dict[str, tuple[NDArray[np.float64], NDArray[Any]]]  # symbol -> (closes, bar times)
MIN_ORIGINS = 30


class GateError(InvestIQError):
    """The two models cannot be compared fairly (too little fresh data, different horizons)."""


def onnx_model(directory: Path) -> tuple[Predict, PatchTSTMeta]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(directory / ONNX_FILE), providers=["CPUExecutionProvider"])

    def predict(x: NDArray[np.float32]) -> NDArray[np.float32]:
        out = [session.run([OUTPUT], {INPUT: x[i : i + 512]})[0] for i in range(0, len(x), 512)]
        return np.asarray(np.concatenate(out), dtype=np.float32)

    return predict, PatchTSTMeta.load(directory)


def holdout(series: Series, config: TrainConfig, after: str, context: int) -> dict[str, NDArray[np.int64]]:
    """The candidate's test origins per symbol, later than `after` (ISO time) and with `context` bars."""
    cutoff = pd.Timestamp(after)
    cutoff = cutoff.tz_convert("UTC").tz_localize(None) if cutoff.tzinfo else cutoff
    out = {}
    for symbol, (closes, stamps) in series.items():
        test = split_origins(
            len(closes), config.context_length, config.prediction_length, config.val_fraction, config.test_fraction
        ).test
        times = pd.DatetimeIndex(stamps)
        times = times.tz_convert("UTC").tz_localize(None) if times.tz is not None else times
        keep = test[(times[test] > cutoff) & (test >= context - 1)]
        if len(keep):
            out[symbol] = keep
    return out


def score(
    predict: Predict, meta: PatchTSTMeta, series: Series, origins: dict[str, NDArray[np.int64]]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per origin (pooled over symbols, in symbol order): relative path error and one-step hit (0/1)."""
    errors, hits = [], []
    for symbol, chosen in origins.items():
        closes = series[symbol][0]
        x, y = windows(closes, chosen, meta.context_length, meta.prediction_length)
        pred = predict(x)[..., 0].astype(np.float64)
        actual, last = y[..., 0].astype(np.float64), closes[chosen][:, None]
        errors.append(np.mean(np.abs(pred - actual) / last, axis=1))
        hits.append(((pred[:, 0] > last[:, 0]) == (actual[:, 0] > last[:, 0])).astype(np.float64))
    return np.concatenate(errors), np.concatenate(hits)


def independent(
    diff: NDArray[np.float64], series: Series, origins: dict[str, NDArray[np.int64]], horizon: int
) -> NDArray[np.float64]:
    """The paired differences (pooled as `score` pools them) averaged over symbols per bar time, then
    every `horizon`-th time: observations whose forecast paths do not overlap."""
    times = np.concatenate([np.asarray(series[symbol][1])[chosen] for symbol, chosen in origins.items()])
    per_time = pd.Series(diff).groupby(pd.Index(times)).mean().sort_index()
    return np.asarray(per_time.to_numpy()[::horizon], dtype=np.float64)


def random_walk(series: Series, origins: dict[str, NDArray[np.int64]], horizon: int) -> float:
    errs = []
    for symbol, chosen in origins.items():
        closes = series[symbol][0]
        _, y = windows(closes, chosen, 1, horizon)
        last = closes[chosen][:, None]
        errs.append(np.mean(np.abs(y[..., 0] - last) / last, axis=1))
    return float(np.mean(np.concatenate(errs)))


def paired_interval(diff: NDArray[np.float64]) -> tuple[float, float]:
    """95% Student-t interval of the mean of independent paired differences."""
    from scipy import stats

    if len(diff) < 2:
        return (-math.inf, math.inf)
    half = float(stats.t.ppf(0.975, len(diff) - 1)) * float(np.std(diff, ddof=1)) / math.sqrt(len(diff))
    return (float(np.mean(diff)) - half, float(np.mean(diff)) + half)


def compare(
    candidate: tuple[Predict, PatchTSTMeta],
    serving: tuple[Predict, PatchTSTMeta],
    series: Series,
    config: TrainConfig,
    metric: Literal["mae", "hit_rate"],
    tolerance: float,
) -> dict[str, Any]:
    """Both models on the same fresh hold-out; `promote` says whether the candidate passes."""
    (cand, cmeta), (serv, smeta) = candidate, serving
    if cmeta.prediction_length != smeta.prediction_length:
        raise GateError(
            f"the candidate forecasts {cmeta.prediction_length} steps, the serving model "
            f"{smeta.prediction_length}: they cannot be compared on one hold-out"
        )
    origins = holdout(series, config, smeta.trained_until, max(cmeta.context_length, smeta.context_length))
    count = sum(len(o) for o in origins.values())
    if count < MIN_ORIGINS:
        raise GateError(
            f"only {count} hold-out forecasts lie after {smeta.trained_until}, the last bar the serving model "
            f"trained on (at least {MIN_ORIGINS} needed for a fair comparison): retrain later, on more bars"
        )
    c_err, c_hit = score(cand, cmeta, series, origins)
    s_err, s_hit = score(serv, smeta, series, origins)
    horizon = cmeta.prediction_length
    mae_diff, hit_diff = (independent(d, series, origins, horizon) for d in (c_err - s_err, c_hit - s_hit))
    result: dict[str, Any] = {
        "origins": count,
        "independent_origins": len(mae_diff),
        "holdout_after": smeta.trained_until,
        "candidate": {"version": cmeta.version, "mae": float(c_err.mean()), "hit_rate": float(c_hit.mean())},
        "serving": {"version": smeta.version, "mae": float(s_err.mean()), "hit_rate": float(s_hit.mean())},
        "random_walk_mae": random_walk(series, origins, cmeta.prediction_length),
        "metric": metric,
        "tolerance": tolerance,
    }
    result["beats_random_walk"] = result["candidate"]["mae"] < result["random_walk_mae"]
    c, s = result["candidate"][metric], result["serving"][metric]
    if metric == "mae":
        result["difference_ci95"] = paired_interval(mae_diff)
        result["promote"] = c <= s * (1 + tolerance)
        result["rule"] = f"candidate MAE {c:.5f} <= serving MAE {s:.5f} x (1 + {tolerance:g})"
    else:
        result["difference_ci95"] = paired_interval(hit_diff)
        result["promote"] = c >= s - tolerance
        result["rule"] = f"candidate hit rate {c:.4f} >= serving hit rate {s:.4f} - {tolerance:g}"
    return result
