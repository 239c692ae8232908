"""The PNGs of `investiq evaluate patchtst`, readable however many symbols: forest plots with one row per
symbol (the extremes beyond MAX_ROWS), coverage by horizon step, reliability diagrams, hit rates, and
equity curves as small multiples in a grid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from investiq.core.names import shortened
from investiq.core.plotting import pyplot
from training.evaluate import LABELS
from training.evaluate_scores import METHODS

MAX_ROWS = 40  # symbols in a forest plot; beyond it, the 20 highest and 20 lowest
MAX_PANELS = 24  # equity panels; beyond it, the 12 best and 12 worst against buy-and-hold
NCOLS = 4


DPI = 100


def plot(
    report: dict[str, Any],
    equity: dict[str, NDArray[np.float64]],
    out_dir: Path,
    when: dict[str, NDArray[Any]] | None = None,
) -> None:
    """The PNGs of FIGURES into out_dir; each stays readable (and under 2000 px wide) for any number of symbols.
    `when`: the times of each symbol's equity curve (by bar number where a symbol has none)."""
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
        f"Brier skill of P(up) at {hH} vs always answering the served base (95% CI)",
        out_dir / "brier_skill.png",
    )
    coverage_plot(report["pooled"]["intervals"], h, out_dir / "coverage.png")
    reliability_plot(report["pooled"]["probability_up"], out_dir / "reliability.png")
    hit_rate_plot(report["direction"], out_dir / "hit_rate.png")
    equity_grid(equity, symbols, out_dir / "equity.png", when or {})


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
    plt = pyplot()
    values = dict(rows)
    shown, note = _extremes(list(values), lambda s: float(values[s][key]), MAX_ROWS)
    shown = sorted(shown, key=lambda s: float(values[s][key]), reverse=True)
    items = [(s, values[s]) for s in shown] + [pooled]
    fig, ax = plt.subplots(figsize=(7.5, 1.4 + 0.3 * len(items)))
    edges = _edges([float(x) for _, v in items for x in (v[key], *v["ci95"])])
    labels = []
    for y, (name, v) in enumerate(reversed(items)):
        est, (lo, hi) = float(v[key]), (float(v["ci95"][0]), float(v["ci95"][1]))
        labels.append(shortened(name) + (" (CI unbounded)" if np.isinf([lo, hi]).any() else ""))
        beyond = lo > reference if key == "ratio" else hi < reference  # worse than the baseline
        lo, hi = np.clip([lo, hi], *edges)  # drawn to the plot's edge: matplotlib draws no bar to an infinity
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
    ax.set_yticks(range(len(items)), labels)
    ax.set_ylim(-0.7, len(items) - 0.3)
    ax.set_title(title + (f"\n{note.strip(' ()')}" if note else ""), fontsize=10)  # a line of its own: clipped
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _edges(values: list[float]) -> tuple[float, float]:
    """Where a forest plot's unbounded interval ends are drawn: a tenth of the finite values' range beyond them (a
    ratio's interval is unbounded where the baseline's error is 0 over stretches the bootstrap drew)."""
    finite = [x for x in values if np.isfinite(x)] or [0.0]
    margin = 0.1 * (max(finite) - min(finite)) or 0.1
    return min(finite) - margin, max(finite) + margin


def coverage_plot(intervals: dict[str, Any], h: int, path: Path) -> None:
    """Coverage by horizon step of each interval (model, GARCH, empirical vol) with nominal lines, and widths."""
    plt = pyplot()
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
    plt = pyplot()
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
        marks = [v["base_up"], v["up_rate"], *([v["training_up_rate"]] if "training_up_rate" in v else [])]
        seen = [b["forecast"] for b in bins] + [b["observed"] for b in bins] + marks
        low, high = max(min(seen) - 0.05, 0.0), min(max(seen) + 0.05, 1.0)
        ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfectly calibrated")
        ax.axhline(v["up_rate"], color="tab:green", lw=1, label=f"test up-rate {v['up_rate']:.3f}")
        ax.axvline(v["base_up"], color="tab:orange", lw=1, label=f"served base {v['base_up']:.3f}")
        if "training_up_rate" in v:
            rate = v["training_up_rate"]
            ax.axvline(rate, color="tab:purple", lw=1, ls=":", label=f"training up-rate {rate:.3f}")
        ax.set(
            xlim=(low, high),
            ylim=(low, high),
            xlabel="forecast P(up)",
            ylabel="observed up-rate",
            title=f"{name}: Brier skill vs served base {v['skill']:+.4f}",
        )
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def hit_rate_plot(direction: dict[str, Any], path: Path) -> None:
    """Pooled hit rates with 95% CIs of both calls, and always-up, at h1 and hH."""
    plt = pyplot()
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


def equity_grid(
    equity: dict[str, NDArray[np.float64]], symbols: dict[str, Any], path: Path, when: dict[str, NDArray[Any]]
) -> None:
    """Growth of 1 for the P(up) call and buy-and-hold: small multiples, NCOLS per row, over time where `when` has
    the symbol's times (each curve's [n + 1]), else over test bars."""
    plt = pyplot()
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    def excess(s: str) -> float:
        return float(symbols[s]["backtest"]["total_return"] - symbols[s]["buy_and_hold"]["total_return"])

    shown, note = _extremes(list(equity), excess, MAX_PANELS)
    ncols = min(NCOLS, len(shown))
    nrows = -(-len(shown) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 1.2 + 2.4 * nrows), squeeze=False)
    for ax, s in zip(axes.flat, shown, strict=False):
        x = when[s] if s in when else np.arange(equity[s].shape[1])
        ax.plot(x, equity[s][0], lw=1, label="P(up) call, net")
        ax.plot(x, equity[s][1], lw=1, ls="--", label="buy and hold")  # dashed: the call's line shows where equal
        ax.axhline(1.0, color="grey", lw=0.5)
        if s in when:  # a few short labels per panel, however long or short the test period
            locator = AutoDateLocator(minticks=2, maxticks=4)  # type: ignore[no-untyped-call]
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
            ax.xaxis.get_offset_text().set_fontsize(7)
        else:
            ax.set_xlabel("test bars", fontsize=7)
        ax.set_title(shortened(s, 24), fontsize=9)  # long names overlapped the next panel's
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(shown) :]:
        ax.set_visible(False)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"Growth of 1 over the test period{note}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
