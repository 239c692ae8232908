"""Walk-forward evaluation of a trained PatchTST on its held-out test bars, against naive baselines.

    investiq evaluate patchtst [--model-dir models/patchtst] [--cost-bps 5] [--allow-short]

Every test origin (never seen in training or calibration: see training/windows.split_origins) is
forecast from the closes up to it. Per symbol and pooled over symbols:
- point error of the median path against the random walk (the last close) and the drift forecast:
  scale-free (|forecast - actual| / last close), as the ratio model / random walk of mean absolute
  and squared errors with a paired 95% block-bootstrap interval (blocks of one horizon);
- P(up): Brier score at horizon 1 and H, and Brier skill with its interval against two constant answers: the
  served base (what P(up) answers without skill: the training up-rate, or the no-drift rate, 0.5 where no close
  ties, at the steps where calibration did not keep it) and climatology (the training up-rate itself, as
  calibration recorded it); a P(up) equal to the training up-rate has no skill, so the bar's check uses
  climatology; reliability diagrams;
- intervals: coverage of the central 80% and 90% intervals at each step, with intervals, and their
  mean width as a share of price, for the model, GARCH(1,1) (fitted on the bars up to the end of the
  validation part only) and the empirical-volatility random walk; the pinball loss of all three;
- direction: hit rates at horizon 1 (every origin) and H (origins H apart) of two calls, the sign of
  the median and P(up) > 0.5, against always-up, with the Pesaran-Timmermann test; a call is right only if
  the close moved its way, so a close that did not move (a tie) is a miss for every call, always-up's
  included, as the live resolver scores it; the share of ties is reported, and Pesaran-Timmermann (up
  against down) leaves them out;
- a cost-aware backtest of the one-step P(up) > 0.5 call (long/flat, or long/short) vs buy-and-hold, its
  Sharpe ratio and annual return annualised at the symbol's own bar rate (`periods_per_year`).
Output: report.json, report.md (a headline first: training/evaluate_report.py) and PNG plots (forest
plots, coverage by step, reliability, equity curves in a grid: training/evaluate_plots.py) in the
output directory. The maths is in investiq/core.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from investiq.core.atomic import files_into
from investiq.core.calibration import reliability_bins
from investiq.core.errors import DataError
from investiq.core.forecast_stats import (
    SECONDS_PER_YEAR,
    backtest,
    bootstrap_interval,
    buy_and_hold,
    column_estimates,
    hit_rate,
    observed_periods_per_year,
    paired_ratio,
    pesaran_timmermann,
    ratio_verdict,
)
from investiq.core.gaps import as_served, crossings, gap_before
from investiq.core.intervals import (
    ConstantReturns,
    Innovations,
    covered,
    empirical_vol_quantiles,
    garch_forecast,
    interval_index,
    pinball,
    to_prices,
)
from investiq.core.market import INTERVAL_SECONDS
from investiq.core.patchtst import PatchTSTMeta, directions
from investiq.core.report_json import REPORT_JSON, dumps
from training.calibrate import drift_path
from training.windows import Split, calendar_splits, split_origins, training_up_rate, windows

COVERAGES = (0.8, 0.9)
TOO_SHORT = "too few bars for a window of the model's context and horizon"  # a symbol left out, and why
METHODS = ("model", "garch", "empirical_vol")
LABELS = {"model": "PatchTST", "garch": "GARCH(1,1)", "empirical_vol": "empirical-vol random walk"}
FIGURES = (
    "mae_ratio",
    "brier_skill",
    "coverage",
    "reliability",
    "hit_rate",
    "equity",
)  # the PNGs evaluate_plots writes, in report.md's order
REPS = 2000  # bootstrap replicates
# Where a P(up) baseline came from when the artifact's calibration does not record it.
RECOMPUTED = "recomputed from the training origins of this split (the artifact records none)"


class ForecastLike(Protocol):
    """What training.forecaster.predict returns (its Forecast), or a stand-in with the same arrays."""

    @property
    def median(self) -> NDArray[np.float64]: ...  # [n, H] closes
    @property
    def quantiles(self) -> NDArray[np.float64]: ...  # [n, H, K] closes at meta.quantile_levels
    @property
    def probability_up(self) -> NDArray[np.float64]: ...  # [n, H]
    @property
    def volatility(self) -> NDArray[np.float64]: ...  # [n]


Predict = Callable[[NDArray[np.float32]], ForecastLike]  # windows [n, C, 1] of closes -> forecasts


# --- annualisation ----------------------------------------------------------------------------

# Assumed only when no bar times are given: a US exchange's year, 252 trading days of 6.5 hours (9:30-16:00).
TRADING_DAYS_PER_YEAR = 252
TRADING_SECONDS_PER_DAY = 6.5 * 3600  # 23,400 s
FROM_TIMES = (
    "bar times: (bars - 1) / years from the symbol's first bar to its last, over the whole series evaluated "
    "(years of 365.25 days)"
)
FROM_INTERVAL = "the interval on a US exchange's calendar (252 days of 6.5 hours): no bar times were given"


def calendar_periods_per_year(interval: str) -> float:
    """Bars a year of `interval` on a US exchange's calendar: 252 daily bars, 26 x 252 15-minute bars; weekly
    bars by the calendar (52.2). Only the fallback without bar times: wrong for a 24/7 market (crypto: 365 days
    of 24 hours) and for FX (24 hours, 5 days a week)."""
    seconds = INTERVAL_SECONDS[interval]
    if seconds > 86_400:
        return SECONDS_PER_YEAR / seconds
    if seconds == 86_400:
        return TRADING_DAYS_PER_YEAR
    return TRADING_DAYS_PER_YEAR * TRADING_SECONDS_PER_DAY / seconds


def periods_per_year(closes: NDArray[np.float64], times: NDArray[Any] | None, interval: str) -> float:
    """Bars a year of one symbol: the rate its bar times show over its whole series (`times` [n], any datetime
    pandas reads, beside closes [n]), so that each market annualises on its own calendar; without times, the
    US exchange calendar of `interval`. The whole series rather than its test part: more bars, so a weekend more
    or less at the ends of a short test part does not move the figure."""
    if times is None:
        return calendar_periods_per_year(interval)
    if len(times) != len(closes):
        raise ValueError(f"{len(times)} bar times for {len(closes)} closes")
    stamps = pd.DatetimeIndex(times)
    return observed_periods_per_year(stamps.as_unit("ns").asi8 / 1e9)


# --- forecasts of one symbol ------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One symbol's test origins, rows in time order; prices are those of the windows the model saw."""

    last: NDArray[np.float64]  # [n] the origin's close: the random walk's forecast
    actual: NDArray[np.float64]  # [n, H]
    median: NDArray[np.float64]  # [n, H] the model's median path
    drift: NDArray[np.float64]  # [n, H] last + h * the mean one-step change over the context window
    probability_up: NDArray[np.float64]  # [n, H]
    last_up: NDArray[np.bool_]  # [n] the sign of the last one-step change
    quantiles: dict[str, NDArray[np.float64]]  # method -> [n, H, K] closes at the model's levels
    garch: dict[str, float]  # the fitted GARCH parameters
    crosses: NDArray[np.bool_] | None = None  # [n, H] the path to step h crosses a gap in the bars (core/gaps.py)


def forecast_part(
    predict: Predict,
    meta: PatchTSTMeta,
    closes: NDArray[np.float64],
    parts: Split,
    dist: Innovations,
    test: NDArray[np.int64] | None = None,
    times: NDArray[Any] | None = None,
) -> Part:
    """The forecasts from `test` origins (None: the split's test part; given: some of it, in time order);
    `times`, the bar times beside `closes`, tell which steps cross a gap in the bars, and give the model's
    intervals for the gaps ahead as the gateway serves them (investiq/core/gaps.py)."""
    c, h = meta.context_length, meta.prediction_length
    test = parts.test if test is None else test
    x, y = windows(closes, test, c, h)
    f = predict(x)
    window = x[..., 0].astype(np.float64)
    last = window[:, -1]
    served = (  # as the gateway serves a window whose bar times it knows
        np.asarray(f.quantiles, dtype=np.float64)
        if times is None
        else as_served(meta.calibration, times, test, c, x[:, -1, 0], f.median, f.quantiles)
    )
    levels = meta.quantile_levels
    # GARCH sees the bars up to the last validation target (a symbol without validation windows: up to the first
    # test origin), never a test target, then runs forward fixed.
    fit_end = min(int(parts.val.max()) + h, int(test.min())) if len(parts.val) else int(test.min())
    garch = garch_forecast(closes, fit_end, test, h, levels, dist)
    return Part(
        last=last,
        actual=y[..., 0].astype(np.float64),
        median=np.asarray(f.median, dtype=np.float64),
        drift=drift_path(window, h),
        probability_up=np.asarray(f.probability_up, dtype=np.float64),
        last_up=window[:, -1] > window[:, -2],
        quantiles={
            "model": served,
            "garch": to_prices(last, garch.quantiles),
            "empirical_vol": to_prices(last, empirical_vol_quantiles(window, h, levels)),
        },
        garch=garch.params,
        crosses=None if times is None else crossings(gap_before(times), test, h) > 0,
    )


def evaluation_splits(
    series: dict[str, NDArray[np.float64]],
    meta: PatchTSTMeta,
    split: dict[str, float],
    times: dict[str, NDArray[Any]] | None,
) -> dict[str, Split]:
    """The split training made: at dates shared by all symbols given their bar `times` (calendar_splits), else at
    each series' own fractions. A symbol too short for any window is left out of it."""
    c, h, fractions = meta.context_length, meta.prediction_length, (split["val_fraction"], split["test_fraction"])
    if times is not None:
        return calendar_splits({s: times[s] for s in series}, c, h, *fractions)[0]
    return {s: split_origins(len(closes), c, h, *fractions) for s, closes in series.items()}


# --- scores (per symbol: one part; pooled: all) -----------------------------------------------


def _ratio(r: Any) -> dict[str, Any]:
    return {**asdict(r), "ci95": list(r.ci95), "verdict": ratio_verdict(r)}


def point_scores(parts: Sequence[Part], h: int) -> dict[str, Any]:
    """Scale-free MAE and MSE of the median and the drift path against the random walk, paired CIs."""
    model = [np.abs(p.median - p.actual) / p.last[:, None] for p in parts]
    walk = [np.abs(p.last[:, None] - p.actual) / p.last[:, None] for p in parts]
    drift = [np.abs(p.drift - p.actual) / p.last[:, None] for p in parts]

    def paired(a: list[NDArray[np.float64]], b: list[NDArray[np.float64]], power: int) -> dict[str, Any]:
        groups = [
            np.column_stack([(x**power).mean(axis=1), (y**power).mean(axis=1)]) for x, y in zip(a, b, strict=True)
        ]
        return _ratio(paired_ratio(groups, block=h, reps=REPS))

    by_step = np.concatenate(model).mean(axis=0) / np.concatenate(walk).mean(axis=0)
    return {
        "mae_ratio": paired(model, walk, 1),
        "mse_ratio": paired(model, walk, 2),
        "drift_mae_ratio": paired(drift, walk, 1),
        "drift_mse_ratio": paired(drift, walk, 2),
        "mae_ratio_by_step": [float(v) for v in by_step],
    }


def horizon_steps(h: int) -> dict[str, int]:
    """The horizons reported separately: 'h1' and 'hH' -> column index."""
    return {"h1": 0, f"h{h}": h - 1}


def per_step(value: float | Sequence[float], h: int, name: str) -> list[float]:
    """A calibration figure per horizon step: a list of h values as it is, a single value (a scalar, or a list
    of one: older artifacts) at every step."""
    v = np.asarray(value, dtype=np.float64).reshape(-1)
    if v.size == 1:
        v = np.repeat(v, h)
    if v.size != h:
        raise ValueError(f"calibration {name} has {v.size} values for a horizon of {h}")
    return [float(x) for x in v]


def probability_scores(
    parts: Sequence[Part],
    base_up: Sequence[float],
    h: int,
    bins: bool = False,
    climatology: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Brier score of P(up) at h1 and hH and its skill over always answering the served base `base_up` (per step:
    the training up-rate, or the no-drift rate at the steps where calibration did not keep it), under `skill`,
    `ci95`, `brier_base`; and, given `climatology` (the training up-rate per step), over always answering that,
    under `skill_climatology`, `ci95_climatology`, `brier_climatology`, `training_up_rate`. "Up" is a close above
    the last: a tie is not up."""
    out: dict[str, Any] = {}
    for name, col in horizon_steps(h).items():
        base = float(base_up[col])
        p = [q.probability_up[:, col] for q in parts]
        up = [(q.actual[:, col] > q.last).astype(np.float64) for q in parts]
        groups = [np.column_stack([(a - y) ** 2, (base - y) ** 2]) for a, y in zip(p, up, strict=True)]
        r = paired_ratio(groups, block=h, reps=REPS)
        out[name] = {
            "brier": r.model,
            "brier_base": r.baseline,
            "skill": _snap(1 - r.ratio),
            "ci95": [_snap(1 - r.ci95[1]), _snap(1 - r.ci95[0])],
            "base_up": base,
        }
        if climatology is not None:
            rate = float(climatology[col])
            groups = [np.column_stack([(a - y) ** 2, (rate - y) ** 2]) for a, y in zip(p, up, strict=True)]
            c = paired_ratio(groups, block=h, reps=REPS)
            out[name] |= {
                "training_up_rate": rate,
                "brier_climatology": c.baseline,
                "skill_climatology": _snap(1 - c.ratio),
                "ci95_climatology": [_snap(1 - c.ci95[1]), _snap(1 - c.ci95[0])],
            }
        out[name] |= {
            "up_rate": float(np.concatenate(up).mean()),
            "mean_probability_up": float(np.concatenate(p).mean()),
            "n": r.n,
        }
        if bins:
            out[name]["reliability"] = reliability(np.concatenate(p), np.concatenate(up))
    return out


def _snap(skill: float) -> float:
    """0 for a skill within 1e-6 of it: a P(up) equal to the base rate up to the float32 graph's rounding
    ties it, rather than losing by 1e-8."""
    return 0.0 if abs(skill) < 1e-6 else skill


def reliability(p: NDArray[np.float64], up: NDArray[np.float64]) -> list[dict[str, float]]:
    """Reliability bins of equal width, about ten across the range the forecasts span (a calibrated P(up)
    of market direction stays near the base rate: tenths of [0, 1] would put it all in one or two bins)."""
    spread = float(p.max() - p.min()) if p.size else 0.0
    return reliability_bins(p, up, bins=int(np.clip(np.ceil(10 / max(spread, 0.1)), 10, 100)))


def interval_scores(parts: Sequence[Part], levels: Sequence[float], h: int) -> dict[str, Any]:
    """Coverage (pooled over steps and at each step, with block-bootstrap CIs) and mean width (share of
    price) of the central 80% and 90% intervals, per method."""
    out: dict[str, Any] = {}
    for coverage in COVERAGES:
        index = interval_index(levels, coverage)
        if index is None:
            continue
        lo, hi = index
        scores: dict[str, Any] = {"nominal": coverage}
        for method in METHODS:
            inside, width = [], []
            for p in parts:
                q = p.quantiles[method]
                hit = covered(q[..., lo], q[..., hi], p.actual).astype(np.float64)
                inside.append(np.column_stack([hit, hit.mean(axis=1)]))  # last column: all steps
                width.append((q[..., hi] - q[..., lo]) / p.last[:, None])
            est = column_estimates(inside, block=h, reps=REPS)
            widths = np.concatenate(width)
            scores[method] = {
                "coverage": est[-1].value,
                "ci95": list(est[-1].ci95),
                "by_step": [e.value for e in est[:-1]],
                "by_step_ci95": [list(e.ci95) for e in est[:-1]],
                "width": float(widths.mean()),
                "width_by_step": [float(v) for v in widths.mean(axis=0)],
                **across_gaps(parts, [hit[:, :-1] for hit in inside], h),
            }
        out[f"{coverage:.0%}"] = scores
    return out


def across_gaps(parts: Sequence[Part], hits: Sequence[NDArray[np.float64]], h: int) -> dict[str, Any]:
    """Coverage of the forecast steps whose path crosses a gap in the bars and of those that do not (`crossings`),
    with block-bootstrap intervals; {} without bar times, or where every step is of one kind (crypto, round the
    clock). Pooled by step, the two average out: on hourly stock bars 80 % intervals covered 92 % of the steps
    from a session's first bar and 55 % from its last (a review's simulation)."""
    if any(p.crosses is None for p in parts):
        return {}
    crosses = [np.asarray(p.crosses, dtype=np.float64) for p in parts]
    if not 0 < sum(float(c.sum()) for c in crosses) < sum(c.size for c in crosses):
        return {}
    rows = [  # per origin: covered and counted, crossing then not
        np.column_stack([(hit * c).sum(1), c.sum(1), (hit * (1 - c)).sum(1), (1 - c).sum(1)])
        for hit, c in zip(hits, crosses, strict=True)
    ]
    out = {}
    for name, col in {"crossing_a_gap": 0, "not_crossing": 2}.items():

        def share(m: NDArray[np.float64], col: int = col) -> NDArray[np.float64]:
            return np.asarray(m[..., col] / m[..., col + 1])

        value, ci = bootstrap_interval(rows, share, block=h)
        out[name] = {"coverage": value, "ci95": list(ci), "steps": int(sum(r[:, col + 1].sum() for r in rows))}
    return {"across_gaps": out}


def pinball_scores(parts: Sequence[Part], levels: Sequence[float], h: int) -> dict[str, Any]:
    """Pinball loss averaged over levels and steps (share of price), and the model's paired ratio to
    each baseline."""
    loss = {
        m: [pinball(p.quantiles[m], p.actual, levels).mean(axis=(1, 2)) / p.last for p in parts] for m in METHODS
    }
    out: dict[str, Any] = {m: float(np.concatenate(v).mean()) for m, v in loss.items()}
    for baseline in METHODS[1:]:
        groups = [np.column_stack([a, b]) for a, b in zip(loss["model"], loss[baseline], strict=True)]
        out[f"ratio_to_{baseline}"] = _ratio(paired_ratio(groups, block=h, reps=REPS))
    return out


def direction_scores(parts: Sequence[Part], h: int) -> dict[str, Any]:
    """Hit rates at horizon 1 (every origin) and horizon H (every H-th origin, outcomes not overlapping)
    of the median-sign and P(up) > 0.5 calls, against always-up and the last return's sign. A flat median
    (within FLAT_BAND) and a P(up) of exactly 0.5 call no direction and are left out of their call's hit rate,
    as the journal leaves out flat forecasts: the random walk's median is not a "down" call.

    A call is right only if the close moved its way (up: above the last close, down: below it), as the live
    resolver scores it: a tie, a close equal to the last, is a miss for every call, always-up's included, so a
    down call gains nothing from prices that did not move. `tied_share` is the share of such origins (of those
    scored at that step); each call's `ties` how many of its origins. Pesaran-Timmermann, a test of up against
    down, leaves the tied origins out (its `n`: the origins it used, `ties_left_out`: those it left out)."""
    out: dict[str, Any] = {}
    for name, col in horizon_steps(h).items():
        rows = slice(None, None, col + 1)

        def pooled(arrays: list[NDArray[Any]], rows: slice = rows) -> NDArray[np.bool_]:
            return np.concatenate([np.asarray(a[rows], dtype=bool) for a in arrays])

        actual = pooled([p.actual[:, col] > p.last for p in parts])
        tied = pooled([p.actual[:, col] == p.last for p in parts])
        calls = {
            "median": pooled([p.median[:, col] > p.last for p in parts]),
            "probability_up": pooled([p.probability_up[:, col] > 0.5 for p in parts]),
            "always_up": np.ones_like(actual),
            "last_return_sign": pooled([p.last_up for p in parts]),
        }
        flat = pooled([directions(p.last, p.median[:, col]) == 0 for p in parts])
        called = {
            "median": ~flat,
            "probability_up": pooled([p.probability_up[:, col] != 0.5 for p in parts]),
            "always_up": np.ones_like(actual),
            "last_return_sign": np.ones_like(actual),
        }
        out[name] = {
            k: asdict(hit_rate(v[called[k]], actual[called[k]], tied[called[k]])) for k, v in calls.items()
        }
        for k in ("median", "probability_up"):
            out[name][k]["vs_always_up"] = against_always_up(parts, col, k, h)
        out[name]["median_flat_share"] = float(flat.mean()) if flat.size else math.nan
        out[name]["tied_share"] = float(tied.mean()) if tied.size else math.nan
        for k in ("median", "probability_up"):
            c = called[k]
            out[name][f"pesaran_timmermann_{k}"] = {
                **asdict(pesaran_timmermann(calls[k][c], actual[c], tied[c])),
                "n": int(np.count_nonzero(c & ~tied)),
                "ties_left_out": int(np.count_nonzero(c & tied)),
            }
    return out


def against_always_up(parts: Sequence[Part], col: int, call: str, h: int) -> dict[str, Any]:
    """The call's hit rate less always-up's on the origins it called at step `col` (every origin at h1, every
    H-th at hH, as `direction_scores`), with a block-bootstrap 95% interval in which every symbol's blocks are
    drawn at the same times: symbols that move together count as the evidence they are. McNemar's test pools
    their origins as if they were independent: with 4 symbols correlated 0.6-0.9 a call without skill was told
    from always-up at 5 % in 16-22 % of simulated runs (a review); the report's verdict rested on it until
    2026-12-04. A tie is a miss for both, as in `hit_rate`."""
    rows = []
    for p in parts:
        moved = (p.actual[:, col] - p.last)[:: col + 1]
        if call == "median":
            forecast = directions(p.last, p.median[:, col])[:: col + 1]
            called, says_up = forecast != 0, forecast > 0
        else:
            p_up = p.probability_up[:: col + 1, col]
            called, says_up = p_up != 0.5, p_up > 0.5
        right = np.where(says_up, moved > 0, moved < 0)
        rows.append(np.column_stack([(right.astype(float) - (moved > 0)) * called, called]))
    if not any(r[:, 1].any() for r in rows):
        return {"difference": math.nan, "ci95": [math.nan, math.nan], "beats": False}

    def difference(m: NDArray[np.float64]) -> NDArray[np.float64]:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(m[..., 0] / m[..., 1])

    value, ci = bootstrap_interval(rows, difference, block=h if col == 0 else 1)
    return {"difference": value, "ci95": list(ci), "beats": bool(ci[0] > 0)}


def trading(
    part: Part, ppy: float, cost_bps: float, allow_short: bool
) -> tuple[dict[str, Any], NDArray[np.float64]]:
    """Backtest of the one-step P(up) > 0.5 call and buy-and-hold; with the two equity curves [2, n + 1], from 1 at
    the first origin to the close after the last. Long above 0.5; below it short (`allow_short`) or flat; flat at
    exactly 0.5, which calls no direction (as `direction_scores` leaves it out): a model serving the training
    up-rate of 0.5 was short throughout."""
    up = part.probability_up[:, 0]
    position = np.where(up > 0.5, 1.0, np.where((up < 0.5) & allow_short, -1.0, 0.0))
    returns = part.actual[:, 0] / part.last - 1  # consecutive origins: one period each

    def growth(held: NDArray[np.float64]) -> NDArray[np.float64]:  # net of costs, as `backtest` counts them
        turnover = np.abs(np.diff(held, prepend=0.0))
        return np.cumprod(
            np.r_[1.0, np.maximum(1 + held * returns - cost_bps / 1e4 * turnover, 0.0)], dtype=np.float64
        )

    equity = np.stack([growth(position), growth(np.ones_like(returns))])
    result = {
        "backtest": asdict(backtest(returns, position, cost_bps, ppy)),
        "buy_and_hold": asdict(buy_and_hold(returns, ppy, cost_bps)),
    }
    return result, equity


# --- the evaluation -----------------------------------------------------------------------------


def evaluate(
    predict: Predict,
    meta: PatchTSTMeta,
    series: dict[str, NDArray[np.float64]],
    split: dict[str, float],
    out_dir: Path,
    cost_bps: float = 5.0,
    allow_short: bool = False,
    garch_dist: Innovations = "t",
    origins: dict[str, NDArray[np.int64]] | None = None,
    left_out: dict[str, str] | None = None,
    times: dict[str, NDArray[Any]] | None = None,
    splits: dict[str, Split] | None = None,
    data_warnings: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Evaluate `predict` (windows [n, C, 1] -> forecasts) on each series' test part (or, given `origins`, on
    those of its origins, per symbol); write report.json, report.md and the PNGs into out_dir; return the report.

    `times` (per symbol, the bar times beside its closes) sets each symbol's periods a year, which annualise its
    Sharpe ratios and returns: the bar rate of its own series (see `periods_per_year`). `splits`: training's split
    of each symbol (None: `evaluation_splits` of these series). Only per-symbol figures
    are annualised, each at its symbol's rate: nothing pooled over symbols is, as symbols of different markets
    (crypto beside stocks) have no common rate. Without `times`, the interval's US exchange calendar, and the
    report says so.

    A symbol whose prices never move before its test part is left out (GARCH cannot be fitted to it, and a model
    is not judged on a pinned price); the report names it and why under `left_out`, beside the `left_out` given
    (symbols the caller left out). DataError when no symbol is left to evaluate.

    `data_warnings` (per symbol, what cleaning its bars found: investiq/core/bars.py CleaningReport.warnings) go
    into the report under `data_warnings`, and report.md's "Data warnings": a split-like jump, rows dropped or gaps
    change what the figures mean, and were only logged."""
    from tqdm import tqdm

    h, levels = meta.prediction_length, meta.quantile_levels
    recorded, recorded_climatology = meta.calibration.get("base_up"), meta.calibration.get("training_up_rate")
    recomputed: list[float] = []
    splits = evaluation_splits(series, meta, split, times) if splits is None else splits
    if not recorded or recorded_climatology is None:
        recomputed = training_up_rate(series, splits, h)
    base_up = per_step(recorded or recomputed, h, "base_up")
    climatology = per_step(recomputed if recorded_climatology is None else recorded_climatology, h, "up-rate")
    baselines = {
        "served_base": base_up,
        "served_base_from": "artifact" if recorded else RECOMPUTED,
        "training_up_rate": climatology,
        "training_up_rate_from": RECOMPUTED if recorded_climatology is None else "artifact",
    }
    bar = tqdm(series.items(), desc="evaluating", unit="symbol", leave=False, disable=None)
    left = dict(left_out or {})
    parts = {}
    for s, closes in bar:
        if s not in splits:
            left[s] = TOO_SHORT
            continue
        test = None if origins is None else origins[s]
        try:
            stamps = None if times is None else times[s]
            parts[s] = forecast_part(predict, meta, closes, splits[s], garch_dist, test, stamps)
        except ConstantReturns:
            left[s] = "its price does not move over the bars before the test part"
    if not parts:
        raise DataError(
            "nothing to evaluate: "
            + "; ".join(f"{s}: {why}" for s, why in left.items())
            + ": evaluate on other symbols or a longer file"
        )
    symbols: dict[str, Any] = {}
    equity: dict[str, NDArray[np.float64]] = {}
    when: dict[
        str, NDArray[Any]
    ] = {}  # the equity curves' times: the first origin's bar, then the bar each period ends at
    ppy = {s: periods_per_year(series[s], None if times is None else times[s], meta.interval) for s in parts}
    for s, p in tqdm(parts.items(), desc="scoring", unit="symbol", leave=False, disable=None):
        traded, equity[s] = trading(p, ppy[s], cost_bps, allow_short)
        if times is not None:
            test = splits[s].test if origins is None else origins[s]
            when[s] = np.asarray(pd.DatetimeIndex(times[s])[np.r_[test[0], test + 1]])
        symbols[s] = {
            "origins": len(p.last),
            "periods_per_year": ppy[s],
            "point": point_scores([p], h),
            "probability_up": probability_scores([p], base_up, h, climatology=climatology),
            "intervals": interval_scores([p], levels, h),
            "direction_h1": {k: v for k, v in direction_scores([p], h)["h1"].items() if "pesaran" not in k},
            **traded,
            "garch": p.garch,
        }
    pooled = list(parts.values())
    report = {
        "model_version": meta.version,
        "interval": meta.interval,
        "context_length": meta.context_length,
        "horizon": h,
        "quantile_levels": list(levels),
        "calibration": meta.calibration,
        "cost_bps": cost_bps,
        "allow_short": allow_short,
        "garch_dist": garch_dist,
        "bootstrap": {"block": h, "reps": REPS},
        "p_up_baselines": baselines,
        "annualisation": {"periods_per_year": ppy, "from": FROM_INTERVAL if times is None else FROM_TIMES},
        "pooled": {
            "origins": sum(len(p.last) for p in pooled),
            "point": point_scores(pooled, h),
            "probability_up": probability_scores(pooled, base_up, h, bins=True, climatology=climatology),
            "intervals": interval_scores(pooled, levels, h),
            "pinball": pinball_scores(pooled, levels, h),
        },
        "direction": direction_scores(pooled, h),
        "symbols": symbols,
        "left_out": left,
        "data_warnings": {s: list(said) for s, said in (data_warnings or {}).items() if said},
    }
    from training.evaluate_plots import plot
    from training.evaluate_report import render

    # Written beside the folder, then moved in file by file, report.json last: written in place, an interrupt left
    # a report.json of this run beside the report.md and plots of the one before (a review). What else the folder
    # holds stays (the committed reports' README)
    with files_into(out_dir, last=REPORT_JSON) as folder:
        (folder / REPORT_JSON).write_text(dumps(report, default=_json) + "\n")
        (folder / "report.md").write_text(render(report))
        plot(report, equity, folder, when)
    return report


def _json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    return float(value)
