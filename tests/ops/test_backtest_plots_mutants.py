"""Kill tests of a mutation audit of the PNGs of `investiq backtest` (investiq/ops/backtest/plots.py) and of two
small helpers they draw with (investiq/core/names.py, investiq/core/plotting.py): each fails with the mutant its
docstring names applied, and passes on the code as it is. The figures are kept open, not closed, and read back
(lines, labels, legends, limits, visible panels), never their pixels."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from investiq.core.forecast_stats import Estimate
from investiq.core.names import FILE_NAME_EXTRA, LABEL_WIDTH, NAME_MAX, shortened, symbol_problem, ticker
from investiq.core.plotting import pyplot
from investiq.ops.backtest import plots
from investiq.ops.backtest.analysis import Analysis
from investiq.ops.backtest.engine import Allocation, Run, Variant
from investiq.ops.backtest.stats import VariantStats
from investiq.ops.backtest.trades import Trade
from tests.fakes import Kept

NAN = math.nan
DAYS = pd.date_range("2024-01-01", periods=5, freq="B", tz="UTC")  # Monday 1 to Friday 5 January 2024


@pytest.fixture
def kept(monkeypatch: pytest.MonkeyPatch) -> Iterator[Kept]:
    k = Kept()
    monkeypatch.setattr(plots, "pyplot", lambda: k)
    yield k
    for fig in k.figs:
        pyplot().close(fig)


def _ts(when: str) -> float:
    return float(pd.Timestamp(when, tz="UTC").timestamp())


def _stats(label: str, value: float, ci95: tuple[float, float]) -> VariantStats:
    return VariantStats(
        label=label,
        trades=10,
        win_rate=Estimate(value, ci95),
        average_win=1.0,
        average_loss=-1.0,
        profit_factor=1.0,
        total_return=0.0,
        annual_return=0.0,
        sharpe=0.0,
        max_drawdown=0.0,
        turnover=0.0,
        costs=0.0,
        resized=0.0,
        periods_per_year=260.9,
    )


def _analysis(runs: Sequence[Run] = (), stats: Sequence[VariantStats] = ()) -> Analysis:
    return Analysis(
        trades=[], runs=list(runs), stats=list(stats), differences=[], claims=[], filters={}, days=DAYS
    )


def _weights_run(
    allocation: Allocation,
    weights: NDArray[np.float64],
    strategies: Sequence[str] | None = None,
    half_life: float = 0.0,
    filters: tuple[str, ...] = (),
    known: NDArray[np.bool_] | None = None,
) -> Run:
    """A run of `weights` (d, K) at d daily decisions, without trades."""
    d, k = weights.shape
    return Run(
        variant=Variant(allocation, half_life, filters),
        trades=[],
        sizes=np.zeros(0),
        decision_ts=_ts("2024-01-01 12:00") + 86_400.0 * np.arange(d, dtype=np.float64),
        weights=weights,
        strategies=tuple(strategies or (f"s{i:02d}" for i in range(k))),
        known=known,
    )


def _legend(ax: Any) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


# ---- equity.png


def _equity_analysis() -> Analysis:
    """Equal and posterior-mean weights, each with no filter and behind "sentiment"; two trades: +1 closed on
    Tuesday, -0.5 on Thursday (the filter deleted the second)."""
    won = Trade("a", "AAA", _ts("2024-01-01 15:00"), _ts("2024-01-02 15:00"), 1.0)
    lost = Trade("b", "AAA", _ts("2024-01-02 15:00"), _ts("2024-01-04 15:00"), -0.5)
    one = np.ones((1, 2)) / 2

    def run(allocation: Allocation, filters: tuple[str, ...], sizes: list[float]) -> Run:
        return Run(Variant(allocation, 0.0, filters), [won, lost], np.array(sizes), np.zeros(1), one, ("a", "b"))

    return _analysis(
        [
            run("equal", (), [1.0, 1.0]),
            run("mean", (), [2.0, 0.5]),
            run("equal", ("sentiment",), [1.0, 0.0]),
            run("mean", ("sentiment",), [1.5, 0.0]),
        ]
    )


def test_equity_draws_one_panel_per_filter_set_with_a_line_per_allocation(kept: Kept, tmp_path: Path) -> None:
    """plots.py:equity: panels grouped by allocation, not filter set (one panel per variant family, "behind
    equal"); the title's test inverted (the unfiltered panel named "behind " and the other "no filter"); the
    legend's label the label's last part, not its first (the filtered panel's lines both read "sentiment"); the
    figure's height fixed at one panel's (3.6 in), every panel squeezed into it."""
    plots.equity(_equity_analysis(), tmp_path / "equity.png")
    fig = kept.figs[-1]
    assert [ax.get_title() for ax in fig.axes] == ["no filter", "behind sentiment"]
    assert [_legend(ax) for ax in fig.axes] == [["equal", "mean (no forgetting)"]] * 2
    assert tuple(fig.get_size_inches()) == pytest.approx((10, 3.6 * 2))
    assert (tmp_path / "equity.png").is_file()


def test_equity_curves_are_cumulative_and_equal_weights_is_the_bold_black_line(kept: Kept, tmp_path: Path) -> None:
    """plots.py:equity: `np.cumsum` dropped, each line was the P&L of its day, not the equity; the style's test
    `== "equal"` as `!=`, the Bayesian variant drawn as the bold black reference and equal weights thin."""
    plots.equity(_equity_analysis(), tmp_path / "equity.png")
    lines = [line for line in kept.figs[-1].axes[0].get_lines() if not line.get_label().startswith("_")]
    curves = {line.get_label(): list(line.get_ydata()) for line in lines}
    assert curves == {
        "equal": pytest.approx([0.0, 1.0, 1.0, 0.5, 0.5]),
        "mean (no forgetting)": pytest.approx([0.0, 2.0, 2.0, 1.75, 1.75]),
    }
    equal, mean = lines
    assert (equal.get_color(), equal.get_linewidth()) == ("black", 2)
    assert mean.get_color() != "black" and mean.get_linewidth() == pytest.approx(1.2)


# ---- win_rate.png

ROWS = [
    _stats("equal", 0.5, (0.45, 0.55)),
    _stats("mean (no forgetting)", 0.6, (0.52, 0.70)),
    _stats("thompson (no forgetting)", 0.4, (NAN, NAN)),  # too few blocks: no interval
]


def _win_rate(kept: Kept, tmp_path: Path, stats: Sequence[VariantStats]) -> Any:
    plots.win_rate(_analysis(stats=stats), tmp_path / "win_rate.png")
    return kept.figs[-1].axes[0]


def _intervals(ax: Any) -> dict[float, tuple[float, float]]:
    """{row's y: (left end, right end)} of the error bars."""
    bars = ax.containers[0].lines[2][0]
    return {float(s[0][1]): (float(s[0][0]), float(s[1][0])) for s in bars.get_segments()}


def test_win_rates_are_listed_first_variant_on_top_with_each_its_own_interval(kept: Kept, tmp_path: Path) -> None:
    """plots.py:win_rate: `stats[::-1]` dropped, the first variant at the bottom; xerr as [high, low], each
    asymmetric interval mirrored about its rate; the "equal weights" line drawn at the last row's rate
    (`rows[0]`), not equal weights'."""
    ax = _win_rate(kept, tmp_path, ROWS)
    assert [t.get_text() for t in ax.get_yticklabels()] == [s.label for s in ROWS[::-1]]  # bottom up
    bars = _intervals(ax)
    assert bars[1.0] == pytest.approx((0.52, 0.70)) and bars[2.0] == pytest.approx((0.45, 0.55))
    assert bars[0.0] == pytest.approx((0.4, 0.4))  # no interval
    line = next(line for line in ax.get_lines() if line.get_label() == "equal weights")
    assert list(line.get_xdata()) == [0.5, 0.5]


def test_the_win_rate_axis_spans_the_figures_with_a_margin(kept: Kept, tmp_path: Path) -> None:
    """plots.py:win_rate: the margin `* 1.1` as `* 1.0`, the lowest rate and the highest interval's end lay on the
    plot's frame."""
    ax = _win_rate(kept, tmp_path, ROWS)
    assert ax.get_xlim() == pytest.approx((0.55 - 0.165, 0.55 + 0.165))  # 0.40 to 0.70, a tenth wider


def test_rows_without_an_interval_are_said_to_have_none(kept: Kept, tmp_path: Path) -> None:
    """plots.py:win_rate: `"" if banded.all()` as `banded.any()`, one row without an interval and the axis no
    longer said why; `bounds[:, 1] > bounds[:, 0]` as `>=`, an interval of one point (0.5 to 0.5: too few blocks
    to spread) counted as an interval. With every row's interval the note is left out."""
    note = "no interval where the trades fall in fewer than 10 bootstrap blocks"
    assert note in _win_rate(kept, tmp_path, ROWS).get_xlabel()
    assert note in _win_rate(kept, tmp_path, [ROWS[0], _stats("one block", 0.5, (0.5, 0.5))]).get_xlabel()
    assert note not in _win_rate(kept, tmp_path, ROWS[:2]).get_xlabel()


def test_rates_a_point_apart_are_shown_on_ten_points(kept: Kept, tmp_path: Path) -> None:
    """plots.py:win_rate: MIN_HALF_WIDTH 0.05 as 0.005, 0.39 and 0.40 without intervals filled the plot as if
    far apart (a review)."""
    stats = [_stats("equal", 0.39, (NAN, NAN)), _stats("mean", 0.40, (NAN, NAN))]
    assert _win_rate(kept, tmp_path, stats).get_xlim() == pytest.approx((0.345, 0.445))


def test_the_win_rate_axis_stays_within_0_and_1(kept: Kept, tmp_path: Path) -> None:
    """plots.py:win_rate: `max(middle - half, 0.0)` as `middle - half`, rates near 0 drawn on an axis from -4 %."""
    low = [_stats("equal", 0.0, (NAN, NAN)), _stats("mean", 0.02, (NAN, NAN))]
    assert _win_rate(kept, tmp_path, low).get_xlim() == pytest.approx((0.0, 0.06))
    high = [_stats("equal", 1.0, (NAN, NAN)), _stats("mean", 0.98, (NAN, NAN))]
    assert _win_rate(kept, tmp_path, high).get_xlim() == pytest.approx((0.94, 1.0))


def test_variants_without_a_win_rate_are_drawn_without_limits(kept: Kept, tmp_path: Path) -> None:
    """plots.py:win_rate: `if shown.size` dropped, variants without a trade (no rate, no interval) ended the
    backtest in a ValueError (the minimum of nothing) instead of drawing."""
    ax = _win_rate(kept, tmp_path, [_stats("equal", NAN, (NAN, NAN)), _stats("mean", NAN, (NAN, NAN))])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["mean", "equal"]
    assert (tmp_path / "win_rate.png").is_file()


# ---- weights.png


def _weights(kept: Kept, tmp_path: Path, runs: Sequence[Run]) -> Any:
    plots.weights(_analysis(runs), tmp_path / "weights.png")
    return kept.figs[-1]


def _visible(fig: Any) -> list[str]:
    return [ax.get_title() for ax in fig.axes if ax.get_visible()]


def test_weights_has_one_panel_per_bayesian_variant_without_filters(kept: Kept, tmp_path: Path) -> None:
    """plots.py:weights: `and not r.variant.filters` dropped, a filtered variant (weights of its own trades) got a
    panel too; the rows' ceiling as a floor (3 panels on 2 columns: 1 row), the third variant lost; the unused
    panels not hidden, an empty frame in the corner."""
    flat = np.full((4, 2), 0.5)
    one = _weights(
        kept,
        tmp_path,
        [
            _weights_run("equal", flat),
            _weights_run("mean", flat),
            _weights_run("mean", flat, filters=("sentiment",)),
        ],
    )
    assert _visible(one) == ["mean (no forgetting)"] and len(one.axes) == 1
    three = [
        _weights_run("mean", flat, half_life=30.0),
        _weights_run("mean", flat),
        _weights_run("thompson", flat),
    ]
    fig = _weights(kept, tmp_path, three)
    assert len(fig.axes) == 4 and _visible(fig) == [run.variant.label for run in three]


def _moved(k: int, amounts: dict[int, float], d: int = 6) -> NDArray[np.float64]:
    """(d, k) weights at the equal share, strategy i moving linearly up to `amounts[i]` away from it."""
    weights = np.full((d, k), 1 / k)
    for i, amount in amounts.items():
        weights[:, i] += np.linspace(0, amount, d)
    return weights


def test_the_labelled_strategies_are_those_that_moved_most_in_any_panel(kept: Kept, tmp_path: Path) -> None:
    """plots.py:weights: `moved[name] = max(moved.get(name, 0.0), distance)` as `= distance`, only the last panel's
    moves ranked: a strategy that moved most in the first panel went grey, and 2 of 12 were counted grey."""
    first = _weights_run("mean", _moved(12, {0: 0.3}))
    last = _weights_run("thompson", _moved(12, {i: i / 100 for i in range(1, 12)}))
    fig = _weights(kept, tmp_path, [first, last])
    for ax in fig.axes[:2]:
        labels = _legend(ax)
        assert labels[:2] == ["s00", "s11"] and "s01" not in labels and "s02" not in labels, labels
        assert labels[-1] == "2 other strategies (grey)"


def test_the_weight_axis_ends_a_tenth_above_the_highest_weight_of_any_panel(kept: Kept, tmp_path: Path) -> None:
    """plots.py:weights: the highest weight of the first panel only (`runs[:1]`), the second's 0.8 drawn off the
    top of both (shared y); HEADROOM dropped, the highest weight lay on the frame."""
    first = _weights_run("mean", _moved(4, {0: 0.05}))
    last = _weights_run("thompson", _moved(4, {1: 0.55}))
    fig = _weights(kept, tmp_path, [first, last])
    assert [ax.get_ylim() for ax in fig.axes] == [pytest.approx((0.0, 1.1 * 0.8))] * 2


def test_a_strategy_is_not_drawn_before_it_is_known(kept: Kept, tmp_path: Path) -> None:
    """plots.py:weights: `np.where(known, weights, nan)` as the weights, a strategy's weight of 0 drawn on the
    days before its first trade, a drop to 0 it never made."""
    known = np.ones((6, 3), dtype=bool)
    known[:3, 2] = False
    weights = np.where(known, 1 / known.sum(axis=1, keepdims=True), 0.0)
    fig = _weights(kept, tmp_path, [_weights_run("mean", weights, known=known)])
    late = next(line for line in fig.axes[0].get_lines() if line.get_label() == "s02")
    drawn = np.asarray(late.get_ydata(), dtype=float)
    assert np.isnan(drawn[:3]).all() and drawn[3:] == pytest.approx([1 / 3] * 3)


def test_a_long_strategy_name_is_shortened_in_the_legend(kept: Kept, tmp_path: Path) -> None:
    """plots.py:weights: `label=shortened(name)` as `label=name`, 40 long names pushed the legend off its figure
    (a review)."""
    names = ["mean_reversion_bollinger_band_of_the_AAPL_close", "momentum"]
    fig = _weights(kept, tmp_path, [_weights_run("mean", _moved(2, {0: 0.1}), strategies=names)])
    assert _legend(fig.axes[0]) == [shortened(names[0]), "momentum"]
    assert len(_legend(fig.axes[0])[0]) == LABEL_WIDTH


# ---- plot and _save


def test_plot_writes_and_names_its_three_figures_and_leaves_none_open(tmp_path: Path) -> None:
    """plots.py:plot: `return list(FIGURES)` as `FIGURES[:2]`, report.md left weights.png out; plots.py:_save:
    `plt.close(fig)` dropped, every backtest left its three figures open in pyplot (memory, and matplotlib's
    "more than 20 figures" warning in a long process)."""
    equity = _equity_analysis()
    analysis = _analysis(equity.runs, ROWS)
    before = set(pyplot().get_fignums())
    assert plots.plot(analysis, tmp_path) == ["equity.png", "win_rate.png", "weights.png"]
    assert set(pyplot().get_fignums()) == before
    assert all((tmp_path / name).is_file() for name in plots.FIGURES)


# ---- names.py


def test_a_ticker_is_composed_again_after_upper_casing() -> None:
    """names.py:ticker: the outer one_spelling dropped: "ΐ" upper-cased decomposes (U+0399 U+0308 U+0301), and the
    journal kept that spelling beside the composed one (U+03AA U+0301) of the same symbol."""
    assert ticker("\u0390") == "\u03aa\u0301" == unicodedata.normalize("NFC", ticker("\u0390"))


def test_a_backslash_cannot_name_a_cache_file() -> None:
    """names.py:symbol_problem: `"\\\\" in name` dropped, "BRK\\B" was taken (a path separator on Windows)."""
    assert "cannot name a cache file" in (symbol_problem("BRK\\B") or "")


def test_an_empty_symbol_cannot_name_a_cache_file() -> None:
    """names.py:symbol_problem: `not name` dropped, "" (or spaces, trimmed to "") was taken as a symbol, its bar
    cache the file "_1d.parquet" shared by every empty name."""
    for symbol in ("", "   ", "\u3000"):
        assert "cannot name a cache file" in (symbol_problem(symbol) or ""), repr(symbol)


def test_the_longest_symbol_a_file_name_holds_is_taken() -> None:
    """names.py:symbol_problem: `size + FILE_NAME_EXTRA > NAME_MAX` as `>=`, a symbol of exactly the most bytes a
    file name holds was refused, off by one."""
    longest = NAME_MAX - FILE_NAME_EXTRA
    assert symbol_problem("A" * longest) is None
    assert f"at most {longest}" in (symbol_problem("A" * (longest + 1)) or "")


def test_shortened_keeps_a_name_of_exactly_the_width_and_cuts_one_beyond_after_its_first_half() -> None:
    """names.py:shortened: `len(name) <= width` as `<`, a name of exactly 28 characters lost its middle for
    nothing; `tail = (width - 1) // 2` as `width // 2`, the cut one character early."""
    exact = "x" * LABEL_WIDTH
    assert shortened(exact) == exact
    name = "abcdefghijklmnopqrstuvwxyz0123456789"
    assert shortened(name) == "abcdefghijklmn\u2026xyz0123456789"  # 14 + 1 + 13 characters


# ---- plotting.py


def test_pyplot_draws_on_agg_whatever_backend_was_chosen_before() -> None:
    """plotting.py:pyplot: `matplotlib.use("Agg")` dropped, plots drew on whatever backend the process had (a
    display's, or $MPLBACKEND's) rather than the one every server has."""
    try:
        matplotlib.use("pdf")
        pyplot()
        assert matplotlib.get_backend().lower() == "agg"
    finally:
        matplotlib.use("Agg")
