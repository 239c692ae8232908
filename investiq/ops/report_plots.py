"""The PNGs of `investiq report`: one figure per signal, all on the same day axis.

Each function draws only when there is something to draw and returns the file name it wrote, or
None, so that an empty section leaves no empty plot behind.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from investiq.core.bayes.allocation import DEFAULT_METHOD
from investiq.core.finbert import LABELS
from investiq.core.names import shortened
from investiq.core.plotting import pyplot
from investiq.ops.report_data import JournalView

COLOURS = {"positive": "tab:green", "neutral": "tab:grey", "negative": "tab:red"}
MAX_SERIES = 10  # labelled lines in a plot; the rest are drawn thin and grey, and the legend says how many
MAX_MARKED = 8  # version names written at their first day on the hit-rate plot; beyond it, lines only
NAME_SPACING = 0.03  # of the x axis between two version names written on the hit-rate plot

HIT_RATE_PNG = "price_hit_rate.png"
SENTIMENT_PNG = "sentiment.png"
WEIGHTS_PNG = "strategy_weights.png"
SKILL_PNG = "price_skill.png"
PLOT_FILES = frozenset({HIT_RATE_PNG, SENTIMENT_PNG, WEIGHTS_PNG, SKILL_PNG})  # every file the plots may be


def palette(n: int) -> list[Any]:
    """n distinct colours: tab10 up to ten, then tab20 (tab10's ten repeated from the eleventh line on)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


HEADROOM = 1.1  # a weight axis ends this far above the highest weight drawn


def _highest(weights: Any) -> float:
    """The highest weight in an iterable of {name: weight} (0 where there is none)."""
    return max((w for day in weights for w in day.values() if np.isfinite(w)), default=0.0)


def date_axis(ax: Any, days: list[date]) -> None:
    """Ticks at whole days, named by date, however short the span: matplotlib's own ticks of a few days were hours
    named by their date, "2026-12-03" seven times over (a review of the plots). One day (a deployment's first, or
    `--days 1`) is shown in a week around it: matplotlib's default span of a single date is years, and the weights
    plot, lines only, put a tick on each of its 1,606 days (48 s to draw; a mutation audit)."""
    from matplotlib.dates import AutoDateLocator, DateFormatter, DayLocator

    span = (max(days) - min(days)).days if days else 0
    if days and not span:
        ax.set_xlim(days[0] - timedelta(days=3), days[0] + timedelta(days=4))  # a point at noon is the middle
    if span <= 60:
        ax.xaxis.set_major_locator(DayLocator(interval=max(1, -(-span // 8))))  # type: ignore[no-untyped-call]
    else:
        ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=10))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]


def grey_others(ax: Any, n: int, one: str, many: str) -> None:
    """A legend entry saying how many series are drawn grey and unlabelled."""
    if n:
        ax.plot([], [], color="lightgrey", lw=1, label=f"{n} other {one if n == 1 else many} (grey)")


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
    pyplot().close(fig)
    return name


def hit_rate_plot(view: JournalView, days: list[date], out: Path) -> str | None:
    """The hit rate of the resolved forecasts made each day, and of those made from the window's start to each
    day's end with its 95% interval (block bootstrap over horizon periods: a day holds too few to have one) and
    the always-up rate of the same calls, forecasts per day, and where the model version changed."""
    if not view.price_days:
        return None
    plt = pyplot()
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
    marked = len(view.version_changes) <= MAX_MARKED
    span, last, unnamed = max((days[-1] - days[0]).days, 1) if days else 1, None, 0
    for i, (day, version) in enumerate(view.version_changes):  # one per version, at its first day
        if i:  # the first version is where the data starts, not a change
            top.axvline(day, color="tab:purple", ls=":", lw=1)
        at = (day - days[0]).days / span if days else 0.0
        if marked and (last is None or at - last >= NAME_SPACING):  # names read upwards, each clear of the last
            top.annotate(shortened(version), (day, 1.0), xytext=(2, -3), textcoords="offset points", rotation=90,
                         va="top", fontsize=7)  # fmt: skip
            last = at
        else:  # piled on one another, 8 versions a day apart were one blot (a review)
            unnamed += 1
    if unnamed:
        top.text(0.99, 0.98, f"{len(view.version_changes)} model versions: dotted lines at each one's first day "
                 "(names in report.md)", ha="right", va="top", fontsize=8, transform=top.transAxes)  # fmt: skip
    top.set(
        ylim=(0, 1.05),
        ylabel="direction hit rate",
        title="Price direction hit rate by the day forecasts were made",
    )
    _legend(top, loc="lower left", fontsize=8)
    # Forecasts as the top panel counts them: each once, on the day it was first asked (journal rows counted a
    # forecast once per request, 4x as many for an agent polling); requests not resolved yet are rows.
    tallies = [view.price_days.get(d) for d in days]
    scored_n = np.array([view.scored_by_day[d].n if d in view.scored_by_day else 0 for d in days])
    pending = np.array([t.forecasts - t.resolved if t else 0 for t in tallies])
    bottom.bar(_noon(days), scored_n, width=0.8, label="forecasts scored (each once)")
    bottom.bar(_noon(days), pending, width=0.8, bottom=scored_n, color="lightgrey", label="requests not resolved")
    # headroom for the legend: the tallest bars touched the frame and the legend sat on the first days' (a review)
    bottom.set(ylabel="forecasts", ylim=(0, 1.45 * max(float((scored_n + pending).max(initial=0)), 1.0)))
    _legend(bottom, loc="upper left", fontsize=8)
    date_axis(bottom, days)
    return _save(fig, out, HIT_RATE_PNG)


def sentiment_plot(view: JournalView, days: list[date], out: Path) -> str | None:
    """Predictions per label per day (stacked) and the histogram of the score p_pos - p_neg."""
    if not view.sentiment_days:
        return None
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [2, 1]})
    below = np.zeros(len(days))
    for label in LABELS:
        counts = np.array([view.sentiment_days.get(d, {}).get(label, 0) for d in days])
        left.bar(_noon(days), counts, width=0.8, bottom=below, color=COLOURS[label], label=label)
        below += counts
    left.set(ylabel="predictions", title="Sentiment predictions per day")
    date_axis(left, days)
    _legend(left, fontsize=8)
    right.hist(view.scores, bins=np.linspace(-1, 1, 41), color="tab:blue")
    right.set(xlabel="score (p_positive - p_negative)", ylabel="predictions", title="Score distribution")
    return _save(fig, out, SENTIMENT_PNG)


def weights_plot(view: JournalView, days: list[date], out: Path) -> str | None:
    """Each strategy's weight at the end of each day, replayed from the trades."""
    if not view.weight_days:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 4))
    names = sorted({n for w in view.weight_days.values() for n in w})
    last = view.weight_days[max(view.weight_days)]
    # labelled: the MAX_SERIES strategies of the highest weight now (what the agent allocates most to)
    top = sorted(names, key=lambda n: (-last.get(n, 0.0), n))[:MAX_SERIES]
    for name in names:
        # nan before a strategy's first trade: a gap, not a weight of zero
        if name not in top:
            ax.plot(_noon(days), [view.weight_days.get(d, {}).get(name, np.nan) for d in days], "-", lw=0.8,
                    color="lightgrey", zorder=1)  # fmt: skip
    for name, colour in zip(top, palette(len(top)), strict=True):
        y = [view.weight_days.get(d, {}).get(name, np.nan) for d in days]
        ax.plot(_noon(days), y, ".-", color=colour, label=shortened(name), zorder=2)
    grey_others(ax, len(names) - len(top), "strategy", "strategies")
    # up to a tenth above the highest weight: twelve weights of ~0.08 were flat lines on a 0-1 axis, and equal
    # weights (a new deployment's) lay on the top edge of an axis that autoscaling ended at them (a review)
    ax.set_ylim(0, HEADROOM * max(_highest(view.weight_days.values()), 1e-9))
    date_axis(ax, days)
    ax.set(
        ylabel="weight",
        title=f"Strategy weights at the end of each day ({DEFAULT_METHOD} win rate, as GET /bayesian/weights)",
    )
    _legend(ax, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), title=f"highest {len(top)} now"
            if len(names) > len(top) else None)  # fmt: skip
    return _save(fig, out, WEIGHTS_PNG)


def skill_plot(view: JournalView, out: Path) -> str | None:
    """Each model version's live record as it grew: MAE ratio to the random walk and Brier skill of
    P(up), with their 95% intervals as bands, by the day the counted forecasts were made."""
    if not view.skill:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    # labelled: the MAX_SERIES versions scored most recently, the newest first (the serving one); the others thin
    # and grey. Ranked by forecasts scored, the serving version, the newest, had the fewest and was grey (a review)
    ranked = sorted(
        view.skill, key=lambda v: (-view.skill[v][-1][0].toordinal(), -view.skill[v][0][0].toordinal(), v)
    )
    top = ranked[:MAX_SERIES]
    colours = dict(zip(top, palette(len(top)), strict=True))
    every = [d for points in view.skill.values() for d, _ in points]
    drawn = [False, False]  # per panel: some version has this figure
    for version in [*ranked[MAX_SERIES:], *top]:
        points = view.skill[version]
        for i, (ax, name) in enumerate(zip(axes, ("mae_ratio", "brier_skill"), strict=True)):
            shown = [(d, getattr(s, name)) for d, s in points if getattr(s, name).value is not None]
            if not shown:
                continue
            drawn[i] = True
            x = [d for d, _ in shown]
            colour = colours.get(version, "lightgrey")
            label = shortened(version) if version in colours else None
            ax.plot(x, [f.value for _, f in shown], "-", color=colour, lw=1.5 if label else 0.8, label=label)
            # filled: the figure has a 95% interval; hollow: not yet (fewer than MIN_BUCKETS periods)
            for banded in (True, False):
                pts = [(d, f.value) for d, f in shown if (f.ci95 is not None) == banded]
                if pts:
                    ax.plot([d for d, _ in pts], [v for _, v in pts], "o", ms=4, color=colour,
                            markerfacecolor=colour if banded else "white")  # fmt: skip
            banded_pts = [(d, f.ci95) for d, f in shown if f.ci95 is not None]
            if banded_pts and label:
                ax.fill_between(
                    [d for d, _ in banded_pts],
                    [c[0] for _, c in banded_pts],
                    [c[1] for _, c in banded_pts],
                    color=colour,
                    alpha=0.15,
                )
    for ax, any_drawn in zip(axes, drawn, strict=True):
        if any_drawn:
            grey_others(ax, len(ranked) - len(top), "version", "versions")
            ax.plot([], [], "o", color="grey", markerfacecolor="white", ls="", label="no interval yet (hollow)")
    axes[0].axhline(1.0, color="grey", lw=0.8)
    axes[0].set(ylabel="MAE ratio to the random walk", title="Live skill by model version (95% intervals)")
    axes[1].axhline(0.0, color="grey", lw=0.8)
    axes[1].set(ylabel="Brier skill of P(up)", xlabel="forecasts from bars up to (their origin day)")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            _legend(ax, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title="model version")
        else:
            ax.text(0.5, 0.5, "no forecast with this figure resolved yet", ha="center", transform=ax.transAxes)
    date_axis(axes[1], every)
    fig.autofmt_xdate()
    return _save(fig, out, SKILL_PNG)
