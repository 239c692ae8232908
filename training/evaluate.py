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
Output: report.json, report.md (a headline first: training/evaluate_report.py, training/evaluate_headline.py)
and PNG plots (forest plots, coverage by step, reliability, equity curves in a grid: training/evaluate_plots.py)
in the output directory. The scores are training/evaluate_scores.py's; the maths under them is in investiq/core.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from investiq.core.atomic import files_into
from investiq.core.errors import DataError
from investiq.core.forecast_stats import (
    SECONDS_PER_YEAR,
    observed_periods_per_year,
)
from investiq.core.gaps import as_served, crossings, gap_before
from investiq.core.intervals import (
    ConstantReturns,
    Innovations,
    empirical_vol_quantiles,
    garch_forecast,
    to_prices,
)
from investiq.core.market import INTERVAL_SECONDS
from investiq.core.patchtst import PatchTSTMeta
from investiq.core.report_json import REPORT_JSON, dumps
from training.calibrate import drift_path
from training.evaluate_scores import (
    REPS,
    Part,
    direction_scores,
    interval_scores,
    per_step,
    pinball_scores,
    point_scores,
    probability_scores,
    trading,
)
from training.windows import Split, calendar_splits, split_origins, training_up_rate, windows

TOO_SHORT = "too few bars for a window of the model's context and horizon"  # a symbol left out, and why
LABELS = {"model": "PatchTST", "garch": "GARCH(1,1)", "empirical_vol": "empirical-vol random walk"}
FIGURES = (
    "mae_ratio",
    "brier_skill",
    "coverage",
    "reliability",
    "hit_rate",
    "equity",
)  # the PNGs evaluate_plots writes, in report.md's order
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
