"""The PNGs of `investiq backtest`, readable however many symbols or variants: lines per variant (never per
symbol), one panel per filter set; win rates as a forest plot; weights with one panel per method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from investiq.core.names import shortened
from investiq.core.plotting import pyplot
from investiq.ops.backtest.analysis import Analysis
from investiq.ops.backtest.daily import daily_pnl
from investiq.ops.report_plots import HEADROOM, MAX_SERIES, grey_others, palette

DPI = 100
FIGURES = ("equity.png", "win_rate.png", "weights.png")
MIN_HALF_WIDTH = 0.05  # of the win-rate axis around its figures


def plot(analysis: Analysis, out: Path) -> list[str]:
    """Write FIGURES into `out`; their names."""
    equity(analysis, out / FIGURES[0])
    win_rate(analysis, out / FIGURES[1])
    weights(analysis, out / FIGURES[2])
    return list(FIGURES)


def equity(analysis: Analysis, path: Path) -> None:
    """Cumulative daily P&L of every variant; one panel per filter set (the first: no filter)."""
    plt = pyplot()
    groups: dict[tuple[str, ...], list[Any]] = {}
    for run in analysis.runs:
        groups.setdefault(run.variant.filters, []).append(run)
    fig, axes = plt.subplots(len(groups), 1, figsize=(10, 3.6 * len(groups)), sharex=True, squeeze=False)
    days = analysis.days.tz_localize(None)
    for ax, (filters, runs) in zip(axes[:, 0], groups.items(), strict=True):
        for run in runs:
            curve = np.cumsum(daily_pnl(run.trades, run.sizes, analysis.days))
            style = {"color": "black", "lw": 2} if run.variant.allocation == "equal" else {"lw": 1.2}
            ax.plot(days, curve, label=run.variant.label.split(" + ")[0], **style)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(ylabel="cumulative P&L", title="no filter" if not filters else "behind " + " + ".join(filters))
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("Equity by allocation (sum of sized trade P&L at each close)")
    _save(plt, fig, path)


def win_rate(analysis: Analysis, path: Path) -> None:
    """Size-weighted win rate of every variant with its 95% bootstrap interval; the line is equal weights."""
    plt = pyplot()
    rows = analysis.stats[::-1]  # the first variant on top
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.35 * len(rows)))
    y = np.arange(len(rows))
    values = np.array([s.win_rate.value for s in rows])
    bounds = np.array([s.win_rate.ci95 for s in rows], dtype=np.float64).reshape(len(rows), 2)
    banded = np.isfinite(bounds).all(axis=1) & (bounds[:, 1] > bounds[:, 0])  # else too few blocks: no interval
    low, high = np.where(banded, values - bounds[:, 0], 0.0), np.where(banded, bounds[:, 1] - values, 0.0)
    ax.errorbar(values, y, xerr=[low, high], fmt="o", capsize=3)
    ax.axvline(analysis.stats[0].win_rate.value, color="grey", ls="--", lw=1, label="equal weights")
    ax.set_yticks(y, [s.label for s in rows], fontsize=8)
    # at least 10 points wide: without intervals, 0.390-0.400 filled the plot with a 1-point difference (a review)
    shown = np.concatenate([values, bounds[banded].ravel()])
    shown = shown[np.isfinite(shown)]
    if shown.size:
        middle, half = (shown.min() + shown.max()) / 2, max((shown.max() - shown.min()) / 2 * 1.1, MIN_HALF_WIDTH)
        ax.set_xlim(max(middle - half, 0.0), min(middle + half, 1.0))
    unbanded = "" if banded.all() else "; no interval where the trades fall in fewer than 10 bootstrap blocks"
    ax.set(xlabel=f"win rate (size-weighted), 95% CI{unbanded}", title="Win rate by variant")
    ax.legend(fontsize=8, loc="best")
    _save(plt, fig, path)


def weights(analysis: Analysis, path: Path) -> None:
    """Each strategy's weight at every decision, one panel per Bayesian variant without filters."""
    plt = pyplot()
    runs = [r for r in analysis.runs if r.variant.allocation != "equal" and not r.variant.filters]
    cols = 2 if len(runs) > 1 else 1
    rows = -(-max(len(runs), 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.2 * rows), sharex=True, sharey=True, squeeze=False)
    # labelled: the MAX_SERIES strategies whose weight left the equal share the most in any panel, each in one
    # colour in every panel; the rest thin and grey (40 strategies drew 40 legend entries over the panels, in ten
    # colours repeated: a quant's review; ranked per panel, one strategy was blue, orange and green: a review)
    # A journal's strategy is weighed from its first trade (engine.py): before, it is not drawn, and the equal
    # share is that of the strategies known then (its 0 read as a move from a fixed 1/K, a review)
    moved: dict[str, float] = {}
    for run in runs:
        known = np.ones(run.weights.shape, dtype=bool) if run.known is None else run.known
        share = 1 / np.maximum(known.sum(axis=1, keepdims=True), 1)
        away = np.where(known, np.abs(run.weights - share), 0.0).max(axis=0, initial=0.0)
        for name, distance in zip(run.strategies, away, strict=True):
            moved[name] = max(moved.get(name, 0.0), float(distance))
    top = sorted(moved, key=lambda name: (-moved[name], name))[:MAX_SERIES]
    colours = dict(zip(top, palette(len(top)), strict=True))
    highest = max((float(np.nanmax(run.weights, initial=0.0)) for run in runs), default=1.0)
    for ax, run in zip(axes.ravel(), runs, strict=False):
        when = pd.to_datetime(run.decision_ts, unit="s")
        known = np.ones(run.weights.shape, dtype=bool) if run.known is None else run.known
        shown = np.where(known, run.weights, np.nan)  # not drawn before the strategy is known
        for k, name in enumerate(run.strategies):
            if name not in colours:
                ax.step(when, shown[:, k], where="post", lw=0.6, color="lightgrey", zorder=1)
        for name in (n for n in top if n in run.strategies):  # in the legend's order, the same in every panel
            k = list(run.strategies).index(name)
            ax.step(when, shown[:, k], where="post", lw=1, color=colours[name], label=shortened(name))
        grey_others(ax, sum(name not in colours for name in run.strategies), "strategy", "strategies")
        share = 1 / np.maximum(known.sum(axis=1), 1)  # of the strategies known at each decision
        ax.step(when, share, where="post", color="grey", ls=":", lw=0.8)
        # a tenth above the highest weight: on 0-1, 60 strategies' weights were flat lines at the bottom (a review)
        ax.set(ylim=(0, HEADROOM * max(highest, 1e-9)), title=run.variant.label, ylabel="weight")
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes.ravel()[len(runs) :]:
        ax.set_visible(False)
    fig.suptitle("Strategy weights at each decision (dotted: equal share)")
    _save(plt, fig, path)


def _save(plt: Any, fig: Any, path: Path) -> None:
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
