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
from investiq.ops.backtest.stats import daily_pnl
from investiq.ops.report_plots import MAX_SERIES, grey_others, palette

DPI = 100
FIGURES = ("equity.png", "win_rate.png", "weights.png")


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
    low = values - np.array([s.win_rate.ci95[0] for s in rows])
    high = np.array([s.win_rate.ci95[1] for s in rows]) - values
    ax.errorbar(values, y, xerr=[low, high], fmt="o", capsize=3)
    ax.axvline(analysis.stats[0].win_rate.value, color="grey", ls="--", lw=1, label="equal weights")
    ax.set_yticks(y, [s.label for s in rows], fontsize=8)
    ax.set(xlabel="win rate (size-weighted), 95% CI", title="Win rate by variant")
    ax.legend(fontsize=8, loc="best")
    _save(plt, fig, path)


def weights(analysis: Analysis, path: Path) -> None:
    """Each strategy's weight at every decision, one panel per Bayesian variant without filters."""
    plt = pyplot()
    runs = [r for r in analysis.runs if r.variant.allocation != "equal" and not r.variant.filters]
    cols = 2 if len(runs) > 1 else 1
    rows = -(-max(len(runs), 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.2 * rows), sharex=True, sharey=True, squeeze=False)
    for ax, run in zip(axes.ravel(), runs, strict=False):
        when = pd.to_datetime(run.decision_ts, unit="s")
        # labelled: the MAX_SERIES strategies whose weight left the equal share the most; the rest thin and grey
        # (40 strategies drew 40 legend entries over the panels, in ten colours repeated: a quant's review)
        moved = np.abs(run.weights - 1 / len(run.strategies)).max(axis=0, initial=0.0)
        top = sorted(range(len(run.strategies)), key=lambda k: (-moved[k], run.strategies[k]))[:MAX_SERIES]
        for k in sorted(set(range(len(run.strategies))) - set(top)):
            ax.step(when, run.weights[:, k], where="post", lw=0.6, color="lightgrey", zorder=1)
        for k, colour in zip(top, palette(len(top)), strict=True):
            ax.step(when, run.weights[:, k], where="post", lw=1, color=colour, label=shortened(run.strategies[k]))
        grey_others(ax, len(run.strategies) - len(top), "strategy", "strategies")
        ax.axhline(1 / len(run.strategies), color="grey", ls=":", lw=0.8)
        ax.set(ylim=(0, 1), title=run.variant.label, ylabel="weight")
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
