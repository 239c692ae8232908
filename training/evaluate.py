"""Walk-forward evaluation of a trained PatchTST on its held-out test bars, against naive baselines.

    investiq evaluate patchtst [--model-dir models/patchtst] [--cost-bps 5]

Every test origin (never seen in training: see training/patchtst.split_origins) is forecast
from the closes up to it. Reported, pooled over symbols:
- direction hit rate at horizon 1 (every origin) and at horizon H (origins H apart, so that the
  outcomes do not overlap), with exact 95% intervals and p-values against 0.5 and against the
  always-up rate of the same period, and the Pesaran-Timmermann test of directional skill;
- MAE/MSE of the forecast path against the last-value (random walk) and drift baselines, and the
  hit rates of the always-up and last-return-sign calls;
- per symbol, a cost-aware backtest of the one-step direction signal against buy-and-hold.
Output: report.json, report.md and PNG plots in the output directory.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from investiq.core.forecast_stats import (
    backtest,
    baseline_forecasts,
    buy_and_hold,
    direction_baselines,
    errors,
    hit_rate,
    pesaran_timmermann,
)
from investiq.core.market import INTERVAL_SECONDS
from investiq.core.patchtst import PatchTSTMeta
from training.patchtst import Forecaster, split_origins, windows

TRADING_SECONDS_PER_DAY = 6.5 * 3600


def periods_per_year(interval: str) -> float:
    seconds = INTERVAL_SECONDS[interval]
    if seconds >= 86_400:
        return 252 * 86_400 / seconds
    return 252 * TRADING_SECONDS_PER_DAY / seconds


def forecast(forecaster: Forecaster, x: NDArray[np.float32], batch: int = 256) -> NDArray[np.float64]:
    """Price paths [n, H] for inputs [n, C, 1]."""
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            out.append(forecaster(torch.from_numpy(x[start : start + batch])).numpy()[..., 0])
    return np.asarray(np.concatenate(out), dtype=np.float64)


def evaluate_series(
    forecaster: Forecaster,
    meta: PatchTSTMeta,
    closes: NDArray[np.float64],
    split: dict[str, float],
    cost_bps: float,
    allow_short: bool,
) -> dict[str, Any]:
    """Everything measured on one symbol's test origins (arrays kept for pooling and plots)."""
    c, h = meta.context_length, meta.prediction_length
    origins = split_origins(len(closes), c, h, split["val_fraction"], split["test_fraction"]).test
    x, y = windows(closes, origins, c, h)
    pred, actual = forecast(forecaster, x), y[..., 0].astype(np.float64)
    last = closes[origins]
    naive = [baseline_forecasts(closes[: o + 1], h, drift_window=c) for o in origins]
    calls = [direction_baselines(closes[: o + 1]) for o in origins]
    position = np.where(pred[:, 0] > last, 1.0, -1.0 if allow_short else 0.0)
    returns = np.asarray(actual[:, 0] / last - 1, dtype=np.float64)  # consecutive origins: one period each
    ppy = periods_per_year(meta.interval)
    return {
        "origins": len(origins),
        "pred": pred,
        "actual": actual,
        "last": last,
        "last_sign_up": np.array([k["last_return_sign"] for k in calls]),
        "errors": {
            "patchtst": asdict(errors(pred, actual)),
            "last_value": asdict(errors(np.stack([n["last_value"] for n in naive]), actual)),
            "drift": asdict(errors(np.stack([n["drift"] for n in naive]), actual)),
        },
        "backtest": asdict(backtest(returns, position, cost_bps, ppy)),
        "buy_and_hold": asdict(buy_and_hold(returns, ppy, cost_bps)),
        "equity": np.cumprod(1 + position * returns - cost_bps / 1e4 * np.abs(np.diff(position, prepend=0.0))),
        "equity_hold": np.cumprod(1 + returns),
    }


def direction_report(parts: list[dict[str, Any]], h: int) -> dict[str, Any]:
    """Hit rates pooled over symbols at horizon 1 (all origins) and horizon h (every h-th origin)."""
    out: dict[str, Any] = {}
    for name, step, col in (("h1", 1, 0), (f"h{h}", h, h - 1)):
        pred_up = np.concatenate([(p["pred"][::step, col] > p["last"][::step]) for p in parts])
        actual_up = np.concatenate([(p["actual"][::step, col] > p["last"][::step]) for p in parts])
        base = float(actual_up.mean())
        out[name] = {
            "patchtst": asdict(hit_rate(pred_up, actual_up, base)),
            "always_up": asdict(hit_rate(np.ones_like(actual_up), actual_up, base)),
            "last_return_sign": asdict(
                hit_rate(np.concatenate([p["last_sign_up"][::step] for p in parts]), actual_up, base)
            ),
            "pesaran_timmermann": asdict(pesaran_timmermann(pred_up, actual_up)),
        }
    return out


def evaluate(
    forecaster: Forecaster,
    meta: PatchTSTMeta,
    series: dict[str, NDArray[np.float64]],
    split: dict[str, float],
    out_dir: Path,
    cost_bps: float = 5.0,
    allow_short: bool = False,
) -> dict[str, Any]:
    parts = {
        s: evaluate_series(forecaster, meta, closes, split, cost_bps, allow_short) for s, closes in series.items()
    }
    h = meta.prediction_length
    report = {
        "model_version": meta.version,
        "interval": meta.interval,
        "transform": meta.transform,
        "context_length": meta.context_length,
        "horizon": h,
        "cost_bps": cost_bps,
        "allow_short": allow_short,
        "direction": direction_report(list(parts.values()), h),
        "symbols": {
            s: {k: p[k] for k in ("origins", "errors", "backtest", "buy_and_hold")} for s, p in parts.items()
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=float) + "\n")
    (out_dir / "report.md").write_text(render(report))
    plot(parts, report, out_dir)
    return report


def render(r: dict[str, Any]) -> str:
    lines = [
        f"# PatchTST walk-forward evaluation (version {r['model_version']})",
        "",
        f"{r['interval']} bars, input {r['transform']}, context {r['context_length']}, horizon {r['horizon']}; "
        f"held-out test origins only; costs {r['cost_bps']} bps per unit of turnover.",
        "",
        "## Direction (pooled over symbols)",
        "",
        "| horizon | caller | hits / n | hit rate | 95% CI | p vs 0.5 | p vs always-up rate |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for horizon, d in r["direction"].items():
        for caller in ("patchtst", "always_up", "last_return_sign"):
            x = d[caller]
            lines.append(
                f"| {horizon} | {caller} | {x['hits']} / {x['n']} | {x['rate']:.3f} | "
                f"[{x['ci95'][0]:.3f}, {x['ci95'][1]:.3f}] | {x['p_vs_half']:.3g} | {x['p_vs_base']:.3g} |"
            )
        pt = d["pesaran_timmermann"]
        lines.append(
            f"| {horizon} | Pesaran-Timmermann | | S = {pt['statistic']:.2f} | | p = {pt['p_value']:.3g} | |"
        )
    lines += [
        "",
        "## Price error (all horizon steps)",
        "",
        "| symbol | PatchTST MAE | last-value MAE | drift MAE | PatchTST MSE | last-value MSE | drift MSE |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s, p in r["symbols"].items():
        e = p["errors"]
        lines.append(
            f"| {s} | {e['patchtst']['mae']:.4g} | {e['last_value']['mae']:.4g} | {e['drift']['mae']:.4g} | "
            f"{e['patchtst']['mse']:.4g} | {e['last_value']['mse']:.4g} | {e['drift']['mse']:.4g} |"
        )
    lines += [
        "",
        "## Backtest of the one-step signal vs buy-and-hold",
        "",
        "| symbol | strategy return | Sharpe | max drawdown | trades | trade win rate | hold return | hold Sharpe "
        "| hold max drawdown |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s, p in r["symbols"].items():
        b, k = p["backtest"], p["buy_and_hold"]
        lines.append(
            f"| {s} | {b['total_return']:+.1%} | {b['sharpe']:.2f} | {b['max_drawdown']:.1%} | {b['trades']} | "
            f"{b['trade_win_rate']:.1%} | {k['total_return']:+.1%} | {k['sharpe']:.2f} | {k['max_drawdown']:.1%} |"
        )
    h1 = r["direction"]["h1"]["patchtst"]
    verdict = "beats" if h1["ci95"][0] > r["direction"]["h1"]["patchtst"]["base_rate"] else "does not beat"
    lines += [
        "",
        f"Verdict: at horizon 1 the model {verdict} the always-up rate with 95% confidence "
        f"(hit rate {h1['rate']:.3f}, CI [{h1['ci95'][0]:.3f}, {h1['ci95'][1]:.3f}], "
        f"always-up rate {h1['base_rate']:.3f}).",
        "",
    ]
    if h1["rate"] > 0.55:
        lines.append("Warning: a hit rate above 55% on market data is suspicious; check for leakage first.")
    return "\n".join(lines)


def plot(parts: dict[str, dict[str, Any]], report: dict[str, Any], out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(parts), figsize=(6 * len(parts), 3.5), squeeze=False)
    for ax, (symbol, p) in zip(axes[0], parts.items(), strict=True):
        ax.plot(p["equity"], label="PatchTST signal (net of costs)")
        ax.plot(p["equity_hold"], label="buy and hold")
        ax.set(title=f"{symbol}: growth of 1 over the test period", xlabel="test bar")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "equity.png", dpi=100)
    plt.close(fig)
    h = report["horizon"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    rates, lows, highs, bases = [], [], [], []
    for step in range(h):
        pred_up = np.concatenate([p["pred"][:, step] > p["last"] for p in parts.values()])
        actual_up = np.concatenate([p["actual"][:, step] > p["last"] for p in parts.values()])
        hr = hit_rate(pred_up, actual_up, float(actual_up.mean()))
        rates.append(hr.rate)
        lows.append(hr.rate - hr.ci95[0])
        highs.append(hr.ci95[1] - hr.rate)
        bases.append(hr.base_rate)
    steps = np.arange(1, h + 1)
    ax.errorbar(steps, rates, yerr=[lows, highs], fmt="o", capsize=3, label="PatchTST (95% CI)")
    ax.plot(steps, bases, "s--", label="always up")
    ax.axhline(0.5, color="grey", lw=0.8)
    ax.set(
        xlabel="horizon step",
        ylabel="direction hit rate",
        title="Direction hit rate by horizon step\n(all test origins; CIs as if outcomes were independent)",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "hit_rate.png", dpi=100)
    plt.close(fig)
