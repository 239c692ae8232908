"""Walk-forward evaluation of a trained PatchTST on its held-out test bars, against naive baselines.

    investiq evaluate patchtst [--model-dir models/patchtst] [--cost-bps 5] [--allow-short]

Every test origin (never seen in training or calibration: see training/patchtst.split_origins) is
forecast from the closes up to it. Per symbol and pooled over symbols:
- point error of the median path against the random walk (the last close) and the drift forecast:
  scale-free (|forecast - actual| / last close), as the ratio model / random walk of mean absolute
  and squared errors with a paired 95% block-bootstrap interval (blocks of one horizon);
- P(up): Brier score at horizon 1 and H, and Brier skill against the training period's up-rate
  (what calibration recorded), with its interval; reliability diagrams;
- intervals: coverage of the central 80% and 90% intervals at each step, with intervals, and their
  mean width as a share of price, for the model, GARCH(1,1) (fitted on the bars up to the end of the
  validation part only) and the empirical-volatility random walk; the pinball loss of all three;
- direction: hit rates at horizon 1 (every origin) and H (origins H apart) of two calls, the sign of
  the median and P(up) > 0.5, against always-up, with the Pesaran-Timmermann test;
- a cost-aware backtest of the one-step P(up) > 0.5 call (long/flat, or long/short) vs buy-and-hold.
Output: report.json, report.md (a headline first) and PNG plots (forest plots, coverage by step,
reliability, equity curves in a grid) in the output directory. The maths is in investiq/core.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from investiq.core.calibration import reliability_bins
from investiq.core.forecast_stats import (
    backtest,
    buy_and_hold,
    column_estimates,
    hit_rate,
    paired_ratio,
    pesaran_timmermann,
    ratio_verdict,
)
from investiq.core.intervals import (
    Innovations,
    covered,
    empirical_vol_quantiles,
    garch_forecast,
    interval_index,
    pinball,
    to_prices,
)
from investiq.core.market import INTERVAL_SECONDS
from investiq.core.patchtst import FLAT_BAND, PatchTSTMeta
from training.patchtst import split_origins, windows

TRADING_SECONDS_PER_DAY = 6.5 * 3600
COVERAGES = (0.8, 0.9)
METHODS = ("model", "garch", "empirical_vol")
LABELS = {"model": "PatchTST", "garch": "GARCH(1,1)", "empirical_vol": "empirical-vol random walk"}
REPS = 2000  # bootstrap replicates
MAX_ROWS = 40  # symbols in a forest plot; beyond it, the 20 highest and 20 lowest
MAX_PANELS = 24  # equity panels; beyond it, the 12 best and 12 worst against buy-and-hold
NCOLS = 4
SUSPICIOUS_HIT_RATE = 0.55


class ForecastLike(Protocol):
    """What training.patchtst.predict returns (its Forecast), or a stand-in with the same arrays."""

    @property
    def median(self) -> NDArray[np.float64]: ...  # [n, H] closes
    @property
    def quantiles(self) -> NDArray[np.float64]: ...  # [n, H, K] closes at meta.quantile_levels
    @property
    def probability_up(self) -> NDArray[np.float64]: ...  # [n, H]
    @property
    def volatility(self) -> NDArray[np.float64]: ...  # [n]


Predict = Callable[[NDArray[np.float32]], ForecastLike]  # windows [n, C, 1] of closes -> forecasts


def periods_per_year(interval: str) -> float:
    seconds = INTERVAL_SECONDS[interval]
    if seconds >= 86_400:
        return 252 * 86_400 / seconds
    return 252 * TRADING_SECONDS_PER_DAY / seconds


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


def forecast_part(
    predict: Predict, meta: PatchTSTMeta, closes: NDArray[np.float64], split: dict[str, float], dist: Innovations
) -> Part:
    c, h = meta.context_length, meta.prediction_length
    parts = split_origins(len(closes), c, h, split["val_fraction"], split["test_fraction"])
    x, y = windows(closes, parts.test, c, h)
    f = predict(x)
    window = x[..., 0].astype(np.float64)
    last = window[:, -1]
    steps = np.arange(1, h + 1, dtype=np.float64)
    levels = meta.quantile_levels
    # GARCH sees the bars up to the last validation target, never a test bar, then runs forward fixed.
    garch = garch_forecast(closes, int(parts.val.max()) + h, parts.test, h, levels, dist)
    return Part(
        last=last,
        actual=y[..., 0].astype(np.float64),
        median=np.asarray(f.median, dtype=np.float64),
        drift=last[:, None] + steps[None, :] * ((last - window[:, 0]) / (c - 1))[:, None],
        probability_up=np.asarray(f.probability_up, dtype=np.float64),
        last_up=window[:, -1] > window[:, -2],
        quantiles={
            "model": np.asarray(f.quantiles, dtype=np.float64),
            "garch": to_prices(last, garch.quantiles),
            "empirical_vol": to_prices(last, empirical_vol_quantiles(window, h, levels)),
        },
        garch=garch.params,
    )


def training_up_rate(
    series: dict[str, NDArray[np.float64]], meta: PatchTSTMeta, split: dict[str, float]
) -> list[float]:
    """Share of up moves per horizon step over the training origins, pooled: the Brier baseline when
    the artifact's calibration does not record it."""
    c, h = meta.context_length, meta.prediction_length
    ups = []
    for closes in series.values():
        train = split_origins(len(closes), c, h, split["val_fraction"], split["test_fraction"]).train
        ups.append(closes[train[:, None] + np.arange(1, h + 1)] > closes[train][:, None])
    return [float(v) for v in np.concatenate(ups).mean(axis=0)]


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


def probability_scores(
    parts: Sequence[Part], base_up: Sequence[float], h: int, bins: bool = False
) -> dict[str, Any]:
    """Brier score of P(up) at h1 and hH and its skill over always answering the training up-rate."""
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
            }
        out[f"{coverage:.0%}"] = scores
    return out


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
    of the median-sign and P(up) > 0.5 calls, against always-up and the last return's sign."""
    out: dict[str, Any] = {}
    for name, col in horizon_steps(h).items():
        rows = slice(None, None, col + 1)

        def pooled(arrays: list[NDArray[Any]], rows: slice = rows) -> NDArray[np.bool_]:
            return np.concatenate([np.asarray(a[rows], dtype=bool) for a in arrays])

        actual = pooled([p.actual[:, col] > p.last for p in parts])
        calls = {
            "median": pooled([p.median[:, col] > p.last for p in parts]),
            "probability_up": pooled([p.probability_up[:, col] > 0.5 for p in parts]),
            "always_up": np.ones_like(actual),
            "last_return_sign": pooled([p.last_up for p in parts]),
        }
        flat = pooled([np.abs(p.median[:, col] / p.last - 1) < FLAT_BAND for p in parts])
        base = float(actual.mean()) if actual.size else math.nan
        out[name] = {k: asdict(hit_rate(v, actual, base)) for k, v in calls.items()}
        out[name]["median_flat_share"] = float(flat.mean()) if flat.size else math.nan
        for k in ("median", "probability_up"):
            out[name][f"pesaran_timmermann_{k}"] = asdict(pesaran_timmermann(calls[k], actual))
    return out


def trading(
    part: Part, ppy: float, cost_bps: float, allow_short: bool
) -> tuple[dict[str, Any], NDArray[np.float64]]:
    """Backtest of the one-step P(up) > 0.5 call and buy-and-hold; with the two equity curves [2, n]."""
    position = np.where(part.probability_up[:, 0] > 0.5, 1.0, -1.0 if allow_short else 0.0)
    returns = part.actual[:, 0] / part.last - 1  # consecutive origins: one period each
    turnover = np.abs(np.diff(position, prepend=0.0))
    equity = np.stack(
        [
            np.cumprod(np.maximum(1 + position * returns - cost_bps / 1e4 * turnover, 0.0)),
            np.cumprod(1 + returns),
        ]
    )
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
) -> dict[str, Any]:
    """Evaluate `predict` (windows [n, C, 1] -> forecasts) on each series' test part; write report.json,
    report.md and the PNGs into out_dir; return the report."""
    from tqdm import tqdm

    h, levels = meta.prediction_length, meta.quantile_levels
    base_up = meta.calibration.get("base_up") or training_up_rate(series, meta, split)
    ppy = periods_per_year(meta.interval)
    bar = tqdm(series.items(), desc="evaluating", unit="symbol", leave=False, disable=None)
    parts = {s: forecast_part(predict, meta, closes, split, garch_dist) for s, closes in bar}
    symbols: dict[str, Any] = {}
    equity: dict[str, NDArray[np.float64]] = {}
    for s, p in tqdm(parts.items(), desc="scoring", unit="symbol", leave=False, disable=None):
        traded, equity[s] = trading(p, ppy, cost_bps, allow_short)
        symbols[s] = {
            "origins": len(p.last),
            "point": point_scores([p], h),
            "probability_up": probability_scores([p], base_up, h),
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
        "pooled": {
            "origins": sum(len(p.last) for p in pooled),
            "point": point_scores(pooled, h),
            "probability_up": probability_scores(pooled, base_up, h, bins=True),
            "intervals": interval_scores(pooled, levels, h),
            "pinball": pinball_scores(pooled, levels, h),
        },
        "direction": direction_scores(pooled, h),
        "symbols": symbols,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=_json) + "\n")
    (out_dir / "report.md").write_text(render(report))
    plot(report, equity, out_dir)
    return report


def _json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    return float(value)


# --- report.md ----------------------------------------------------------------------------------


def _ci(x: Sequence[float], fmt: str = ".4f") -> str:
    return f"[{x[0]:{fmt}}, {x[1]:{fmt}}]"


def _symbols(n: int) -> str:
    return f"{n} symbol" + ("" if n == 1 else "s")


def _rate(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.1%}"


def _pct(x: float) -> str:
    return f"{x:.1%}"


def headline(r: dict[str, Any]) -> list[str]:
    """The top of report.md: the figures that say whether the model is worth acting on."""
    pooled, h = r["pooled"], r["horizon"]
    mae = pooled["point"]["mae_ratio"]
    worse = [s for s, v in r["symbols"].items() if v["point"]["mae_ratio"]["verdict"] == "significantly above 1"]
    lines = [
        "## Headline",
        "",
        f"- **Point forecast**: pooled MAE ratio to the random walk {mae['ratio']:.4f} {_ci(mae['ci95'])} "
        f"({mae['verdict']}); MSE ratio {pooled['point']['mse_ratio']['ratio']:.4f} "
        f"{_ci(pooled['point']['mse_ratio']['ci95'])}; the drift forecast's MAE ratio "
        f"{pooled['point']['drift_mae_ratio']['ratio']:.4f}.",
        "- **Worse than the random walk**: "
        + (
            f"{len(worse)} of {_symbols(len(r['symbols']))} significantly (95% CI above 1): {', '.join(worse)}."
            if worse
            else f"no symbol of {len(r['symbols'])} is significantly worse (no 95% CI wholly above 1)."
        ),
    ]
    brier = [f"{name} {v['skill']:+.4f} {_ci(v['ci95'], '+.4f')}" for name, v in pooled["probability_up"].items()]
    lines.append(f"- **P(up)**: Brier skill vs the training up-rate {'; '.join(brier)}.")
    for key, v in pooled["intervals"].items():
        m, g, e = v["model"], v["garch"], v["empirical_vol"]
        lines.append(
            f"- **{key} intervals** cover {_pct(m['coverage'])} {_ci(m['ci95'], '.1%')} (nominal {key}; "
            f"GARCH {_pct(g['coverage'])}, empirical-vol random walk {_pct(e['coverage'])}), mean width "
            f"{m['width']:.2%} of price (GARCH {g['width']:.2%}, empirical vol {e['width']:.2%})."
        )
    d = r["direction"]["h1"]
    flat = d["median_flat_share"]
    lines.append(
        f"- **Direction at h1**: median-sign call {d['median']['rate']:.3f} {_ci(d['median']['ci95'], '.3f')}"
        + (
            f" (the median is flat, within 1 bp of the last close, at {flat:.0%} of origins: a flat call "
            "counts as not up)"
            if flat > 0.5
            else ""
        )
        + f", P(up) > 0.5 call {d['probability_up']['rate']:.3f} {_ci(d['probability_up']['ci95'], '.3f')}, "
        f"always-up {d['always_up']['rate']:.3f}."
    )
    if f"h{h}" != "h1":
        dh = r["direction"][f"h{h}"]
        lines.append(
            f"- **Direction at h{h}** (non-overlapping origins): median-sign {dh['median']['rate']:.3f}, "
            f"P(up) {dh['probability_up']['rate']:.3f}, always-up {dh['always_up']['rate']:.3f}."
        )
    lines += [f"- **Validation chose**: {validation_choice(r['calibration'])}", ""]
    lines += bar_checks(r)
    if max(d["median"]["rate"], d["probability_up"]["rate"]) > SUSPICIOUS_HIT_RATE:
        lines += [
            "",
            "**Warning: a hit rate above 55% on market data is suspicious; check for leakage first.**",
        ]
    return [*lines, ""]


def validation_choice(calibration: dict[str, Any]) -> str:
    alpha, slope = calibration.get("alpha"), calibration.get("slope")
    if alpha is None:
        return "the artifact records no calibration."
    median = (
        "alpha = 0: serves the random walk: validation did not confirm skill"
        if alpha == 0
        else f"median shrinkage alpha = {alpha:g}"
    )
    p_up = (
        "P(up) slope = 0: P(up) is the training up-rate"
        if not slope
        else f"P(up) slope {slope:.3g} over the training up-rate"
    )
    rule = calibration.get("rule")
    return f"{median}; {p_up}." + (f" Rule: {rule}." if rule else "")


def bar_checks(r: dict[str, Any]) -> list[str]:
    """Issue 13's bar, met or not, from this report's figures."""
    pooled = r["pooled"]
    mae = pooled["point"]["mae_ratio"]
    worse = any(v["point"]["mae_ratio"]["verdict"] == "significantly above 1" for v in r["symbols"].values())
    skill = [v["skill"] for v in pooled["probability_up"].values()]
    cover = [
        f"{k} {'yes' if abs(v['model']['coverage'] - v['nominal']) <= 0.03 else 'no'}"
        for k, v in pooled["intervals"].items()
    ]

    def yes(ok: bool) -> str:
        return "yes" if ok else "no"

    return [
        "| the bar | met |",
        "| --- | --- |",
        f"| pooled MAE ratio <= 1.00 and its CI's upper end <= 1.01 | "
        f"{yes(mae['ratio'] <= 1.0 and mae['ci95'][1] <= 1.01)} |",
        f"| no symbol's MAE ratio significantly above 1 | {yes(not worse)} |",
        f"| Brier skill >= 0 at h1 and hH | {yes(all(s >= 0 for s in skill))} |",
        f"| 80% and 90% intervals cover within 3 points | {', '.join(cover) or 'not reported'} |",
    ]


def render(r: dict[str, Any]) -> str:
    """report.md from a report (what `evaluate` returns and writes as report.json)."""
    h = r["horizon"]
    lines = [
        f"# PatchTST walk-forward evaluation (version {r['model_version']})",
        "",
        f"{r['interval']} bars, context {r['context_length']}, horizon {h}, {_symbols(len(r['symbols']))}, "
        f"{r['pooled']['origins']} held-out test origins; costs {r['cost_bps']} bps per unit of turnover. "
        f"Errors are scale-free (share of the last close). 95% intervals by the block bootstrap "
        f"(blocks of {r['bootstrap']['block']} origins, {r['bootstrap']['reps']} replicates, paired where "
        "two forecasts are compared); hit-rate intervals are exact binomial.",
        "",
        *headline(r),
        *point_section(r),
        *probability_section(r),
        *interval_section(r),
        *direction_section(r),
        *backtest_section(r),
        "## Figures",
        "",
        *[f"![{name}]({name}.png)" for name in FIGURES],
        "",
    ]
    return "\n".join(lines)


def point_section(r: dict[str, Any]) -> list[str]:
    lines = [
        "## Point error of the median vs the random walk",
        "",
        "| symbol | origins | MAE (share of price) | random-walk MAE | MAE ratio [95% CI] | verdict "
        "| MSE ratio [95% CI] | drift MAE ratio |",
        "| --- | ---: | ---: | ---: | --- | --- | --- | ---: |",
    ]
    rows = [*r["symbols"].items(), ("**pooled**", r["pooled"])]
    for s, v in rows:
        p = v["point"]
        mae, mse = p["mae_ratio"], p["mse_ratio"]
        lines.append(
            f"| {s} | {v['origins']} | {mae['model']:.4%} | {mae['baseline']:.4%} | {mae['ratio']:.4f} "
            f"{_ci(mae['ci95'])} | {mae['verdict']} | {mse['ratio']:.4f} {_ci(mse['ci95'])} | "
            f"{p['drift_mae_ratio']['ratio']:.4f} |"
        )
    by_step = ", ".join(f"{v:.4f}" for v in r["pooled"]["point"]["mae_ratio_by_step"])
    return [*lines, "", f"Pooled MAE ratio by horizon step: {by_step}.", ""]


def probability_section(r: dict[str, Any]) -> list[str]:
    lines = [
        "## P(up): Brier score and skill vs the training up-rate",
        "",
        "| symbol | horizon | Brier | Brier of the up-rate | skill [95% CI] | training up-rate | test up-rate "
        "| mean P(up) |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for s, v in [*r["symbols"].items(), ("**pooled**", r["pooled"])]:
        for name, b in v["probability_up"].items():
            lines.append(
                f"| {s} | {name} | {b['brier']:.4f} | {b['brier_base']:.4f} | {b['skill']:+.4f} "
                f"{_ci(b['ci95'], '+.4f')} | {b['base_up']:.3f} | {b['up_rate']:.3f} | "
                f"{b['mean_probability_up']:.3f} |"
            )
    return [*lines, ""]


def interval_section(r: dict[str, Any]) -> list[str]:
    pooled = r["pooled"]
    lines = [
        "## Intervals: coverage and width",
        "",
        f"GARCH(1,1) with {'Student-t' if r['garch_dist'] == 't' else 'Normal'} innovations, fitted per symbol on "
        "the bars up to the end of its validation part, then run forward with fixed parameters; the "
        "empirical-volatility random walk is Normal with the context window's one-step volatility times sqrt(h).",
        "",
        "| interval | method | coverage [95% CI] | mean width (share of price) |",
        "| --- | --- | --- | ---: |",
    ]
    for key, v in pooled["intervals"].items():
        for m in METHODS:
            x = v[m]
            lines.append(
                f"| {key} | {LABELS[m]} | {_pct(x['coverage'])} {_ci(x['ci95'], '.1%')} | {x['width']:.2%} |"
            )
    lines += [
        "",
        "Coverage by horizon step (pooled):",
        "",
        "| interval | method | " + " | ".join(f"h{k}" for k in range(1, r["horizon"] + 1)) + " |",
        "| --- | --- |" + " ---: |" * r["horizon"],
    ]
    for key, v in pooled["intervals"].items():
        for m in METHODS:
            lines.append(f"| {key} | {LABELS[m]} | " + " | ".join(_pct(c) for c in v[m]["by_step"]) + " |")
    p = pooled["pinball"]
    g, e = p["ratio_to_garch"], p["ratio_to_empirical_vol"]
    lines += [
        "",
        f"Pinball loss averaged over the {len(r['quantile_levels'])} quantile levels and all steps (share of "
        f"price): PatchTST {p['model']:.4%}, GARCH {p['garch']:.4%}, empirical vol {p['empirical_vol']:.4%}; "
        f"ratio to GARCH {g['ratio']:.4f} {_ci(g['ci95'])}, to empirical vol {e['ratio']:.4f} {_ci(e['ci95'])}.",
        "",
        "Per symbol, coverage over all steps:",
        "",
        "| symbol | " + " | ".join(f"{k} {LABELS[m]}" for k in pooled["intervals"] for m in METHODS) + " |",
        "| --- |" + " ---: |" * (len(pooled["intervals"]) * len(METHODS)),
    ]
    for s, v in r["symbols"].items():
        cells = [_pct(v["intervals"][k][m]["coverage"]) for k in pooled["intervals"] for m in METHODS]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def direction_section(r: dict[str, Any]) -> list[str]:
    lines = [
        "## Direction (pooled over symbols)",
        "",
        "| horizon | call | hits / n | hit rate | 95% CI | p vs 0.5 | p vs always-up rate |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    names = {
        "median": "sign of the median",
        "probability_up": "P(up) > 0.5",
        "always_up": "always up",
        "last_return_sign": "last return's sign",
    }
    for horizon, d in r["direction"].items():
        for call, label in names.items():
            x = d[call]
            lines.append(
                f"| {horizon} | {label} | {x['hits']} / {x['n']} | {x['rate']:.3f} | {_ci(x['ci95'], '.3f')} | "
                f"{x['p_vs_half']:.3g} | {x['p_vs_base']:.3g} |"
            )
        for call in ("median", "probability_up"):
            pt = d[f"pesaran_timmermann_{call}"]
            lines.append(
                f"| {horizon} | Pesaran-Timmermann, {names[call]} | | S = {pt['statistic']:.2f} | | "
                f"p = {pt['p_value']:.3g} | |"
            )
    lines += [
        "",
        "Per symbol at h1:",
        "",
        "| symbol | sign of the median | P(up) > 0.5 | always up |",
        "| --- | ---: | ---: | ---: |",
    ]
    for s, v in r["symbols"].items():
        d = v["direction_h1"]
        lines.append(
            f"| {s} | {d['median']['rate']:.3f} | {d['probability_up']['rate']:.3f} | "
            f"{d['always_up']['rate']:.3f} |"
        )
    h1 = r["direction"]["h1"]
    for call in ("median", "probability_up"):
        x = h1[call]
        verdict = "beats" if x["ci95"][0] > x["base_rate"] else "does not beat"
        lines += [
            "",
            f"At horizon 1 the {names[call]} call {verdict} the always-up rate with 95% confidence "
            f"(hit rate {x['rate']:.3f}, CI {_ci(x['ci95'], '.3f')}, always-up rate {x['base_rate']:.3f}).",
        ]
    return [*lines, ""]


def backtest_section(r: dict[str, Any]) -> list[str]:
    side = "long/short" if r["allow_short"] else "long/flat"
    lines = [
        f"## Backtest of the one-step P(up) > 0.5 call ({side}) vs buy-and-hold, net of costs",
        "",
        "| symbol | strategy return | Sharpe | max drawdown | trades | trade win rate | exposure | hold return "
        "| hold Sharpe | hold max drawdown |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s, p in r["symbols"].items():
        b, k = p["backtest"], p["buy_and_hold"]
        lines.append(
            f"| {s} | {b['total_return']:+.1%} | {b['sharpe']:.2f} | {b['max_drawdown']:.1%} | {b['trades']} | "
            f"{_rate(b['trade_win_rate'])} | {b['exposure']:.0%} | {k['total_return']:+.1%} | {k['sharpe']:.2f} | "
            f"{k['max_drawdown']:.1%} |"
        )
    return [*lines, ""]


# --- plots ----------------------------------------------------------------------------------------

FIGURES = ("mae_ratio", "brier_skill", "coverage", "reliability", "hit_rate", "equity")
DPI = 100


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot(report: dict[str, Any], equity: dict[str, NDArray[np.float64]], out_dir: Path) -> None:
    """The PNGs of FIGURES into out_dir; each stays readable (and under 2000 px wide) for any number of symbols."""
    h = report["horizon"]
    hH = f"h{h}"
    symbols = report["symbols"]
    forest(
        [(s, v["point"]["mae_ratio"]) for s, v in symbols.items()],
        ("pooled", report["pooled"]["point"]["mae_ratio"]),
        "ratio",
        1.0,
        "MAE ratio to the random walk (95% paired block-bootstrap CI)",
        out_dir / "mae_ratio.png",
    )
    forest(
        [(s, v["probability_up"][hH]) for s, v in symbols.items()],
        ("pooled", report["pooled"]["probability_up"][hH]),
        "skill",
        0.0,
        f"Brier skill of P(up) at {hH} vs the training up-rate (95% CI)",
        out_dir / "brier_skill.png",
    )
    coverage_plot(report["pooled"]["intervals"], h, out_dir / "coverage.png")
    reliability_plot(report["pooled"]["probability_up"], out_dir / "reliability.png")
    hit_rate_plot(report["direction"], out_dir / "hit_rate.png")
    equity_grid(equity, symbols, out_dir / "equity.png")


def _extremes(keys: list[str], score: Callable[[str], float], most: int) -> tuple[list[str], str]:
    """All keys if they fit, else the most/2 highest and most/2 lowest by score, and a note saying so."""
    if len(keys) <= most:
        return keys, ""
    ranked = sorted(keys, key=score)
    half = most // 2
    return ranked[:half] + ranked[-half:], f" ({half} lowest and {half} highest of {len(keys)})"


def forest(
    rows: list[tuple[str, dict[str, Any]]],
    pooled: tuple[str, dict[str, Any]],
    key: str,
    reference: float,
    title: str,
    path: Path,
) -> None:
    """One row per symbol (and pooled, at the bottom): the estimate with its 95% CI, a line at `reference`."""
    plt = _pyplot()
    values = dict(rows)
    shown, note = _extremes(list(values), lambda s: float(values[s][key]), MAX_ROWS)
    shown = sorted(shown, key=lambda s: float(values[s][key]), reverse=True)
    items = [(s, values[s]) for s in shown] + [pooled]
    fig, ax = plt.subplots(figsize=(7.5, 1.4 + 0.3 * len(items)))
    for y, (name, v) in enumerate(reversed(items)):
        est, (lo, hi) = float(v[key]), (float(v["ci95"][0]), float(v["ci95"][1]))
        beyond = lo > reference if key == "ratio" else hi < reference  # worse than the baseline
        colour = "tab:red" if beyond else ("black" if name == pooled[0] else "tab:blue")
        ax.errorbar(
            est,
            y,
            xerr=[[max(est - lo, 0)], [max(hi - est, 0)]],
            fmt="D" if name == pooled[0] else "o",
            color=colour,
            capsize=3,
        )
    ax.axvline(reference, color="grey", lw=1)
    ax.set_yticks(range(len(items)), [name for name, _ in reversed(items)])
    ax.set_ylim(-0.7, len(items) - 0.3)
    ax.set_title(title + note, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def coverage_plot(intervals: dict[str, Any], h: int, path: Path) -> None:
    """Coverage by horizon step of each interval (model, GARCH, empirical vol) with nominal lines, and widths."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(intervals) + 1, figsize=(5 * (len(intervals) + 1), 4), squeeze=False)
    steps = np.arange(1, h + 1)
    markers = {"model": "o", "garch": "s", "empirical_vol": "^"}
    for ax, (key, v) in zip(axes[0], intervals.items(), strict=False):
        for i, m in enumerate(METHODS):
            c = np.asarray(v[m]["by_step"])
            ci = np.asarray(v[m]["by_step_ci95"])
            x = steps + (i - 1) * 0.1
            ax.errorbar(x, c, yerr=[c - ci[:, 0], ci[:, 1] - c], fmt=markers[m], capsize=2, label=LABELS[m])
        ax.axhline(v["nominal"], color="grey", ls="--", lw=1, label=f"nominal {key}")
        ax.set(title=f"{key} interval coverage (pooled, 95% CI)", xlabel="horizon step", ylabel="coverage")
        ax.set_xticks(steps)
        ax.legend(fontsize=8)
    ax = axes[0][-1]
    for key, v in intervals.items():
        for m in METHODS:
            ax.plot(steps, np.asarray(v[m]["width_by_step"]) * 100, marker=markers[m], label=f"{key} {LABELS[m]}")
    ax.set(title="mean interval width", xlabel="horizon step", ylabel="% of price")
    ax.set_xticks(steps)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def reliability_plot(probability: dict[str, Any], path: Path) -> None:
    """Observed up-rate against mean forecast P(up) per bin (pooled), for h1 and hH."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(probability), figsize=(5 * len(probability), 4.5), squeeze=False)
    for ax, (name, v) in zip(axes[0], probability.items(), strict=True):
        bins = v["reliability"]
        if bins:
            n = np.array([b["n"] for b in bins], dtype=np.float64)
            ax.plot([b["forecast"] for b in bins], [b["observed"] for b in bins], "-", color="tab:blue", lw=1)
            ax.scatter(
                [b["forecast"] for b in bins],
                [b["observed"] for b in bins],
                s=20 + 200 * n / n.max(),
                color="tab:blue",
                label="bins (area ~ count)",
                zorder=3,
            )
        seen = [b["forecast"] for b in bins] + [b["observed"] for b in bins] + [v["base_up"], v["up_rate"]]
        low, high = max(min(seen) - 0.05, 0.0), min(max(seen) + 0.05, 1.0)
        ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfectly calibrated")
        ax.axhline(v["up_rate"], color="tab:green", lw=1, label=f"test up-rate {v['up_rate']:.3f}")
        ax.axvline(v["base_up"], color="tab:orange", lw=1, label=f"training up-rate {v['base_up']:.3f}")
        ax.set(
            xlim=(low, high),
            ylim=(low, high),
            xlabel="forecast P(up)",
            ylabel="observed up-rate",
            title=f"Reliability at {name} (Brier skill {v['skill']:+.4f})",
        )
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def hit_rate_plot(direction: dict[str, Any], path: Path) -> None:
    """Pooled hit rates with 95% CIs of both calls, and always-up, at h1 and hH."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    names = list(direction)
    for i, (call, label) in enumerate((("median", "sign of the median"), ("probability_up", "P(up) > 0.5"))):
        rates = np.array([direction[n][call]["rate"] for n in names])
        ci = np.array([direction[n][call]["ci95"] for n in names])
        ax.errorbar(
            np.arange(len(names)) + (i - 0.5) * 0.15,
            rates,
            yerr=[rates - ci[:, 0], ci[:, 1] - rates],
            fmt="o",
            capsize=3,
            label=label,
        )
    ax.plot(
        range(len(names)),
        [direction[n]["always_up"]["rate"] for n in names],
        "s",
        color="tab:green",
        label="always up",
    )
    ax.axhline(0.5, color="grey", lw=0.8)
    ax.set_xticks(range(len(names)), names)
    ax.set(ylabel="direction hit rate", title="Direction hit rate (pooled, exact 95% CI)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def equity_grid(equity: dict[str, NDArray[np.float64]], symbols: dict[str, Any], path: Path) -> None:
    """Growth of 1 for the P(up) call and buy-and-hold: small multiples, NCOLS per row."""
    plt = _pyplot()

    def excess(s: str) -> float:
        return float(symbols[s]["backtest"]["total_return"] - symbols[s]["buy_and_hold"]["total_return"])

    shown, note = _extremes(list(equity), excess, MAX_PANELS)
    ncols = min(NCOLS, len(shown))
    nrows = -(-len(shown) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 1.2 + 2.4 * nrows), squeeze=False)
    for ax, s in zip(axes.flat, shown, strict=False):
        ax.plot(equity[s][0], lw=1, label="P(up) call, net")
        ax.plot(equity[s][1], lw=1, label="buy and hold")
        ax.set_title(s, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(shown) :]:
        ax.set_visible(False)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"Growth of 1 over the test period{note}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
