"""The PNGs of `investiq report`: one figure per signal, all on the same day axis.

Each function draws only when there is something to draw and returns the file name it wrote, or
None, so that an empty section leaves no empty plot behind.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np

from investiq.core.finbert import LABELS
from investiq.ops.report_data import WEIGHT_METHOD, JournalView

COLOURS = {"positive": "tab:green", "neutral": "tab:grey", "negative": "tab:red"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must be chosen before pyplot is imported
    import matplotlib.pyplot as plt

    return plt


def _noon(days: list[date]) -> list[datetime]:
    """Where a day's point or bar is drawn: its middle, so a bar (0.8 day wide) sits inside its day and
    never straddles the midnight tick that names the day."""
    return [datetime.combine(d, time(12)) for d in days]


def _legend(ax: Any, **options: Any) -> None:
    """A legend only when something is labelled (else matplotlib warns and draws an empty box)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**options)


def _save(fig: Any, out: Path, name: str) -> str:
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out / name, dpi=100)
    _pyplot().close(fig)
    return name


def hit_rate_plot(view: JournalView, days: list[date], out: Path) -> str | None:
    """The hit rate of the resolved forecasts made each day, and of those made from the window's start to each
    day's end with its 95% interval (block bootstrap over horizon periods: a day holds too few to have one) and
    the always-up rate of the same calls, forecasts per day, and where the model version changed."""
    if not view.price_days:
        return None
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    made = [(d, view.scored_by_day.get(d)) for d in days]
    scored = [(d, s) for d, s in made if s is not None and s.hit_rate.value is not None]
    if scored:
        x = _noon([d for d, _ in scored])
        running = [view.scored_until_day[d].hit_rate for d, _ in scored]
        banded = [(xi, f.ci95) for xi, f in zip(x, running, strict=True) if f.ci95 is not None]
        if len(banded) == 1:  # one day (a backfill): a band of one point draws nothing
            (xi, (low, high)), value = banded[0], running[x.index(banded[0][0])].value or 0.0
            top.errorbar([xi], [value], [[value - low], [high - value]], fmt="none", ecolor="tab:blue", alpha=0.5,
                         capsize=6, label="since the window's start: 95% interval")  # fmt: skip
        elif banded:
            top.fill_between(
                [xi for xi, _ in banded],
                [c[0] for _, c in banded],
                [c[1] for _, c in banded],
                alpha=0.2,
                label="since the window's start: 95% interval",
            )
        top.plot(x, [f.value for f in running], "-", color="tab:blue", label="since the window's start")
        days_rate = [s.hit_rate.value for _, s in scored]
        top.plot(x, days_rate, "o", ms=4, color="tab:blue", label="that day's forecasts")
        ups = [view.scored_until_day[d].always_up_rate.value for d, _ in scored]
        label = "always up on the same calls, since the window's start"
        top.plot(x, ups, "s--", ms=3, color="tab:orange", label=label)  # a marker: one day is one point
    else:
        top.text(0.5, 0.5, "no forecast resolved yet", ha="center", transform=top.transAxes)
    top.axhline(0.5, color="grey", lw=0.8)
    for i, (day, version) in enumerate(view.version_changes):
        if i:  # the first run is where the data starts, not a change
            top.axvline(day, color="tab:purple", ls=":", lw=1)
        top.annotate(version, (day, 1.0), xytext=(2, -12), textcoords="offset points", fontsize=8)
    top.set(
        ylim=(0, 1.05),
        ylabel="direction hit rate",
        title="Price direction hit rate by the day forecasts were made",
    )
    _legend(top, loc="lower left", fontsize=8)
    tallies = [view.price_days.get(d) for d in days]
    resolved = np.array([t.resolved if t else 0 for t in tallies])
    pending = np.array([t.forecasts - t.resolved if t else 0 for t in tallies])
    bottom.bar(_noon(days), resolved, width=0.8, label="resolved")
    bottom.bar(_noon(days), pending, width=0.8, bottom=resolved, color="lightgrey", label="not resolved")
    bottom.set(ylabel="forecasts")
    _legend(bottom, loc="upper left", fontsize=8)
    return _save(fig, out, "price_hit_rate.png")


def sentiment_plot(view: JournalView, days: list[date], out: Path) -> str | None:
    """Predictions per label per day (stacked) and the histogram of the score p_pos - p_neg."""
    if not view.sentiment_days:
        return None
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [2, 1]})
    below = np.zeros(len(days))
    for label in LABELS:
        counts = np.array([view.sentiment_days.get(d, {}).get(label, 0) for d in days])
        left.bar(_noon(days), counts, width=0.8, bottom=below, color=COLOURS[label], label=label)
        below += counts
    left.set(ylabel="predictions", title="Sentiment predictions per day")
    _legend(left, fontsize=8)
    right.hist(view.scores, bins=np.linspace(-1, 1, 41), color="tab:blue")
    right.set(xlabel="score (p_positive - p_negative)", ylabel="predictions", title="Score distribution")
    return _save(fig, out, "sentiment.png")


def weights_plot(view: JournalView, days: list[date], out: Path) -> str | None:
    """Each strategy's weight at the end of each day, replayed from the trades."""
    if not view.weight_days:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4))
    names = sorted({n for w in view.weight_days.values() for n in w})
    for name in names:
        # nan before a strategy's first trade: a gap, not a weight of zero
        ax.plot(_noon(days), [view.weight_days.get(d, {}).get(name, np.nan) for d in days], ".-", label=name)
    ax.set(
        ylim=(0, 1),
        ylabel="weight",
        title=f"Strategy weights at the end of each day ({WEIGHT_METHOD} win rate, as GET /bayesian/weights)",
    )
    _legend(ax, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, out, "strategy_weights.png")


def skill_plot(view: JournalView, out: Path) -> str | None:
    """Each model version's live record as it grew: MAE ratio to the random walk and Brier skill of
    P(up), with their 95% intervals as bands, by the day the counted forecasts were made."""
    if not view.skill:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for version, points in view.skill.items():
        for ax, name in zip(axes, ("mae_ratio", "brier_skill"), strict=True):
            shown = [(d, getattr(s, name)) for d, s in points if getattr(s, name).value is not None]
            if not shown:
                continue
            x = [d for d, _ in shown]
            line = ax.plot(x, [f.value for _, f in shown], "o-", ms=3, label=version)[0]
            banded = [(d, f.ci95) for d, f in shown if f.ci95 is not None]
            if banded:
                ax.fill_between(
                    [d for d, _ in banded],
                    [c[0] for _, c in banded],
                    [c[1] for _, c in banded],
                    color=line.get_color(),
                    alpha=0.15,
                )
    axes[0].axhline(1.0, color="grey", lw=0.8)
    axes[0].set(ylabel="MAE ratio to the random walk", title="Live skill by model version (95% intervals)")
    axes[1].axhline(0.0, color="grey", lw=0.8)
    axes[1].set(ylabel="Brier skill of P(up)", xlabel="forecasts from bars up to (their origin day)")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            _legend(ax, loc="upper left", fontsize=8, title="model version")
        else:
            ax.text(0.5, 0.5, "no forecast with this figure resolved yet", ha="center", transform=ax.transAxes)
    from matplotlib.dates import AutoDateLocator, DateFormatter

    axes[1].xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=10))  # type: ignore[no-untyped-call]
    axes[1].xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
    fig.autofmt_xdate()
    return _save(fig, out, "price_skill.png")
