"""Kill tests of a mutation audit of the plots of `investiq evaluate patchtst` (training/evaluate_plots.py): each
fails with the mutant its docstring names applied, and passes on the code as it is. The figures are kept, not
closed, and read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.colors import to_hex

import training.evaluate_plots as plots
from investiq.core.plotting import pyplot
from tests.fakes import Kept
from training.evaluate_scores import METHODS


@pytest.fixture
def kept(monkeypatch: pytest.MonkeyPatch) -> Any:
    k = Kept()
    monkeypatch.setattr(plots, "pyplot", lambda: k)
    yield k
    for fig in k.figs:
        pyplot().close(fig)


def _forest(
    kept: Kept,
    tmp_path: Path,
    key: str,
    rows: dict[str, tuple[float, float, float]],
    pooled_row: tuple[float, float, float] = (1.0, 0.9, 1.1),
) -> Any:
    """The forest plot's axes for rows {name: (estimate, low, high)} and a pooled row."""

    def row(v: tuple[float, float, float]) -> dict[str, Any]:
        return {key: v[0], "ci95": [v[1], v[2]]}

    reference = 1.0 if key == "ratio" else 0.0
    pooled = ("pooled", row(pooled_row))
    plots.forest([(s, row(v)) for s, v in rows.items()], pooled, key, reference, "t", tmp_path / "f.png")
    return kept.figs[-1].axes[0]


def _colours(ax: Any) -> list[str]:
    """The colour of each row's marker, bottom row first."""
    return [to_hex(c.lines[0].get_color()) for c in ax.containers]


RED, BLUE = to_hex("tab:red"), to_hex("tab:blue")


def test_the_forest_plot_lists_symbols_from_the_highest_down_and_the_pooled_row_last(kept: Kept, tmp_path: Path):
    """evaluate_plots.py:forest: the sort dropped, rows came in the report's order; or the pooled row dropped, the
    plot lost the pooled estimate."""
    ax = _forest(kept, tmp_path, "ratio", {"A": (1.0, 0.95, 1.05), "B": (0.8, 0.7, 0.9), "C": (1.2, 0.9, 1.3)})
    assert [t.get_text() for t in ax.get_yticklabels()] == ["pooled", "B", "A", "C"]  # bottom up


def test_a_ratio_is_red_only_with_its_whole_interval_above_one(kept: Kept, tmp_path: Path):
    """evaluate_plots.py:forest: `lo > reference` as `hi > reference`, a symbol whose MAE ratio's interval
    straddles 1 was drawn red, as significantly worse than the random walk."""
    ax = _forest(kept, tmp_path, "ratio", {"WORSE": (1.3, 1.1, 1.5), "EVEN": (1.0, 0.9, 1.2)})
    assert _colours(ax)[1:] == [BLUE, RED]  # EVEN, then WORSE above it


def test_a_brier_skill_is_red_only_with_its_whole_interval_below_zero(kept: Kept, tmp_path: Path):
    """evaluate_plots.py:forest: `hi < reference` as `lo < reference`, a Brier skill whose interval straddles 0 was
    drawn red, as significantly worse than the served base."""
    ax = _forest(kept, tmp_path, "skill", {"EVEN": (0.0, -0.1, 0.1), "WORSE": (-0.2, -0.3, -0.1)})
    assert _colours(ax)[1:] == [RED, BLUE]  # WORSE (the lowest) at the bottom, then EVEN


def test_an_unbounded_interval_is_labelled_and_drawn_to_the_edge(kept: Kept, tmp_path: Path):
    """evaluate_plots.py:forest: the "(CI unbounded)" note dropped, an interval drawn to the plot's edge read as
    bounded there; _edges: `or 0.1` dropped, with every finite value equal, or the clip to the edges dropped, the
    unbounded side was not drawn at all."""
    unbounded = (1.0, 1.0, float("inf"))
    ax = _forest(kept, tmp_path, "ratio", {"FLAT": unbounded}, unbounded)  # every finite value 1.0
    assert [t.get_text() for t in ax.get_yticklabels()] == ["pooled (CI unbounded)", "FLAT (CI unbounded)"]
    (segment,) = ax.containers[1].lines[2][0].get_segments()
    assert segment[1][0] == pytest.approx(1.1)  # drawn to the edge: 1.0 and a margin of 0.1


def test_coverage_widths_are_in_percent_and_coverage_bars_around_the_estimate(kept: Kept, tmp_path: Path):
    """evaluate_plots.py:coverage_plot: `* 100` dropped, widths on an axis labelled "% of price" were fractions;
    the error bars' ends swapped, each bar was drawn on the wrong side of its coverage."""
    v = {"by_step": [0.8, 0.7], "by_step_ci95": [[0.75, 0.82], [0.6, 0.78]], "width_by_step": [0.02, 0.03]}
    plots.coverage_plot({"80%": {"nominal": 0.8, **dict.fromkeys(METHODS, v)}}, 2, tmp_path / "c.png")
    coverage, width = kept.figs[-1].axes
    assert width.lines[0].get_ydata() == pytest.approx([2.0, 3.0])
    (segments,) = coverage.containers[0].lines[2]
    assert [tuple(s[:, 1]) for s in segments.get_segments()] == [
        pytest.approx((0.75, 0.82)),
        pytest.approx((0.6, 0.78)),
    ]


def test_the_reliability_diagram_plots_observed_against_forecast_zoomed_on_the_data(kept: Kept, tmp_path: Path):
    """evaluate_plots.py:reliability_plot: the axes of the line swapped, forecast against observed; or the limits
    fixed at 0-1, every point bunched in the middle of the plot."""
    bins = [{"n": 10, "forecast": 0.5, "observed": 0.45}, {"n": 5, "forecast": 0.55, "observed": 0.6}]
    probability = {"h1": {"reliability": bins, "base_up": 0.52, "up_rate": 0.53, "skill": 0.01}}
    plots.reliability_plot(probability, tmp_path / "r.png")
    ax = kept.figs[-1].axes[0]
    assert list(ax.lines[0].get_xdata()) == [0.5, 0.55] and list(ax.lines[0].get_ydata()) == [0.45, 0.6]
    assert ax.get_xlim() == pytest.approx((0.4, 0.65))


def test_always_up_is_drawn_at_its_own_rate(kept: Kept, tmp_path: Path):
    """evaluate_plots.py:hit_rate_plot: always-up drawn at the median call's rate, the baseline hid under it."""
    call = {"rate": 0.55, "ci95": [0.5, 0.6]}
    direction = {"h1": {"median": call, "probability_up": call, "always_up": {"rate": 0.52}}}
    plots.hit_rate_plot(direction, tmp_path / "h.png")
    ax = kept.figs[-1].axes[0]
    (up,) = [line for line in ax.lines if line.get_label() == "always up"]
    assert list(up.get_ydata()) == [0.52]


@pytest.mark.parametrize("n", [2, 5])
def test_every_symbol_has_a_panel_and_no_panel_is_empty(kept: Kept, tmp_path: Path, n: int):
    """evaluate_plots.py:equity_grid: rows rounded down, of 5 symbols the fifth had no panel; columns fixed at 4,
    2 symbols left two empty columns; empty panels left visible, as blank frames; the call's line drawn from
    buy-and-hold's curve."""
    names = [f"S{i}" for i in range(n)]
    equity = {s: np.array([[1.0, 1.1 + i], [1.0, 0.9]]) for i, s in enumerate(names)}
    symbols = {s: {"backtest": {"total_return": 0.1 + i}, "buy_and_hold": {"total_return": -0.1}} for i, s in
               enumerate(names)}  # fmt: skip
    plots.equity_grid(equity, symbols, tmp_path / "e.png", {})
    assert len(kept.figs[-1].axes) == (2 if n == 2 else 8)  # 1 x 2; 2 x 4 with three hidden
    shown = [ax for ax in kept.figs[-1].axes if ax.get_visible()]
    assert sorted(ax.get_title() for ax in shown) == names
    for ax in shown:
        (call,) = [line for line in ax.lines if line.get_label() == "P(up) call, net"]
        assert list(call.get_ydata()) == list(equity[ax.get_title()][0])


def test_the_brier_plot_is_against_zero_and_equity_over_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """evaluate_plots.py:plot: the Brier skill's reference line at 1, every symbol drawn red (below it); or `when`
    dropped, the equity panels were drawn over bar numbers though the times were known."""
    calls: list[Any] = []
    monkeypatch.setattr(plots, "forest", lambda *args: calls.append(args))
    for name in ("coverage_plot", "reliability_plot", "hit_rate_plot"):
        monkeypatch.setattr(plots, name, lambda *args: None)
    monkeypatch.setattr(plots, "equity_grid", lambda *args: calls.append(args))
    figure = {"ratio": 1.0, "skill": 0.0, "ci95": [0.9, 1.1]}
    one = {"point": {"mae_ratio": figure}, "probability_up": {"h2": figure}, "intervals": {}}
    report = {"horizon": 2, "symbols": {"A": one}, "pooled": one, "direction": {}}
    when = {"A": np.arange(3)}
    plots.plot(report, {"A": np.ones((2, 3))}, tmp_path, when)
    mae, brier, grid = calls
    assert (mae[2], mae[3]) == ("ratio", 1.0) and (brier[2], brier[3]) == ("skill", 0.0)
    assert grid[3] is when
