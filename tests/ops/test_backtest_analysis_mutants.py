"""Kill tests of a mutation audit of the backtest's analysis, statistics, report and buy-and-hold baseline: each
fails with the mutant its docstring names applied, and passes on the code as it is. Every test calls the
function itself on a handful of hand-made trades: no walk-forward, no bootstrap of any size."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pytest
from tqdm import tqdm

from investiq.core.errors import DataError
from investiq.core.forecast_stats import Estimate
from investiq.core.settings import Settings
from investiq.ops.backtest import analysis as analysis_module
from investiq.ops.backtest.analysis import (
    Analysis,
    _check_judged,
    _in_threads,
    _is_headline,
    _taken,
    _too_few_trades,
    _unmoved,
    _untested,
    analyse,
    book,
    idle_filters,
    thin_data_notes,
    unknown_entry_note,
)
from investiq.ops.backtest.baseline import BuyAndHold, buy_and_hold, hold_trades, open_units
from investiq.ops.backtest.claims import (
    NO_CREDIT_ALONE,
    PARTLY_SUPPORTED,
    SUPPORTED,
    ClaimCheck,
    claims,
    held_together,
    verdict,
)
from investiq.ops.backtest.config import BacktestConfig
from investiq.ops.backtest.daily import daily_pnl, day_grid, grid_periods_per_year
from investiq.ops.backtest.engine import Run, Variant
from investiq.ops.backtest.filters import Counts
from investiq.ops.backtest.gating import Judged
from investiq.ops.backtest.intervals import Basis, interval, trade_basis
from investiq.ops.backtest.report import (
    _ci,
    _exposure,
    _listed,
    _relative_sharpe,
    against_holding,
    as_json,
    markdown,
    summary,
)
from investiq.ops.backtest.stats import (
    Difference,
    PairedDays,
    _relative,
    _reps,
    _share,
    _sharpe,
    difference,
    variant_stats,
)
from investiq.ops.backtest.trades import Trade
from tests.ops.test_backtest_baseline import MONDAY, tiny
from tests.ops.test_backtest_gating import journal_trades, refusing
from tests.ops.test_backtest_review import planted

DAY = 86_400.0
CONFIG = BacktestConfig(reps=20)
NAN = Estimate(math.nan, (math.nan, math.nan))


def daily(n: int, pnl: float = 1.0, strategy: str = "a", **kw: object) -> list[Trade]:
    """n trades of `strategy`, one a weekday from Monday, each decided and closed on its day."""
    days = pd.bdate_range(pd.Timestamp(MONDAY, unit="s", tz="UTC"), periods=n)
    return [
        Trade(strategy, "X", d.timestamp() + 3600, d.timestamp() + 7200, pnl, **kw)  # type: ignore[arg-type]
        for d in days
    ]


def run_of(
    trades: list[Trade], sizes: list[float], variant: Variant, strategies: tuple[str, ...] = ("a", "b")
) -> Run:
    return Run(variant, trades, np.array(sizes), np.array([]), np.zeros((0, len(strategies))), strategies)


# -- analysis.py ----------------------------------------------------------------------------------------------


def test_the_unknown_entry_note_says_no_filter_judged_those_trades():
    """analysis.unknown_entry_note: the "; no entry filter judged them" clause dropped, a filtered backtest's
    notes no longer say its trades without an entry time escaped every filter."""
    trades = [*daily(2), Trade("a", "X", MONDAY, MONDAY, 1.0, entry_known=False)]
    assert unknown_entry_note(trades, True).startswith("1 of the 3 trades")
    assert unknown_entry_note(trades, True).endswith("; no entry filter judged them")
    assert "no entry filter" not in unknown_entry_note(trades, False)
    assert unknown_entry_note(daily(2), True) == ""


def test_thin_data_notes_count_trades_in_blocks_of_trades_and_days_in_blocks_of_days():
    """analysis.thin_data_notes: block_trades and block_days swapped, 150 trades (15 blocks of 10) are warned
    about as too few (7 blocks of 20), and 150 days (7 blocks of 20) are not."""
    days = pd.bdate_range("2024-01-01", periods=150, tz="UTC")
    trades_note, days_note = thin_data_notes(150, days, BacktestConfig())
    assert trades_note == ""
    assert days_note.startswith("warning: too few days (150: 7 blocks of 20, 10 needed)")


def test_a_variant_with_exactly_min_trades_is_judged():
    """analysis._too_few_trades: `taken >= min_trades` as `>`, a variant that took exactly min_trades trades
    reads "not tested: only 20 trades ..." though 20 is enough."""
    run = run_of(daily(20), [1.0] * 20, Variant("mean", 30.0))
    assert _too_few_trades(run, 20) == ""
    assert _too_few_trades(run, 21) == "only 20 trades, at least 21 needed to judge anything"


def test_one_trade_reads_in_the_singular():
    """analysis._too_few_trades: the plural always on, the verdict reads "only 1 trades"."""
    run = run_of(daily(3), [1.0, 0.0, 0.0], Variant("mean", 30.0, ("f",)))
    assert _too_few_trades(run, 20) == "only 1 trade behind f, at least 20 needed to judge anything"


def test_too_few_trades_says_it_counts_only_those_with_a_known_entry_time():
    """analysis._too_few_trades: the " with a known entry time" clause dropped, a journal with unknown entries
    reads "only 2 trades" though it holds 3."""
    trades = [*daily(2), Trade("a", "X", MONDAY, MONDAY, 1.0, entry_known=False)]
    run = run_of(trades, [1.0, 1.0, 1.0], Variant("mean", 30.0))
    assert (
        _too_few_trades(run, 20) == "only 2 trades with a known entry time, at least 20 needed to judge anything"
    )


def test_a_filter_that_is_the_only_idle_one_says_nothing_of_other_filters():
    """analysis._untested: `len(names) < len(variant.filters)` as `<=`, a variant behind one idle filter reads
    "traded exactly as mean behind the other filters did" when there are no other filters."""
    variant = Variant("mean", 30.0, ("f",))
    alone = _untested(run_of(daily(3), [1.0] * 3, variant), ["f"])
    assert alone.endswith("so this variant traded exactly as mean (half-life 30d) did")
    two = _untested(run_of(daily(3), [1.0] * 3, Variant("mean", 30.0, ("f", "g"))), ["f"])
    assert two.endswith("traded exactly as mean (half-life 30d) behind the other filters did")


def test_a_filter_that_let_one_entry_in_is_not_said_to_have_let_none_through():
    """analysis._untested: `not np.any(sizes > 0)` as `not np.all(...)`, a filter that refused some entries reads
    "let no entry through"."""
    variant = Variant("mean", 30.0, ("f",))
    assert _untested(run_of(daily(3), [0.0, 1.0, 0.0], variant), []) == ""
    assert "let no entry through" in _untested(run_of(daily(3), [0.0] * 3, variant), [])


def test_a_single_strategy_is_named_as_the_reason_weights_never_moved():
    """analysis._unmoved: the one-strategy case lost, a backtest of one strategy reads "no strategy ever had
    bayes_min_trades of effective evidence" where its weight is always 1 whatever the evidence."""
    trades = daily(30)
    run = run_of(trades, [1.0] * 30, Variant("mean", 30.0), strategies=("a",))
    stats = variant_stats(run.variant.label, trades, run.sizes, day_grid(trades), CONFIG)
    assert _unmoved(run, stats).startswith("there is one strategy (a), so its weight is always 1")
    both = run_of(trades, [1.0] * 30, Variant("mean", 30.0), strategies=("a", "b"))
    assert _unmoved(both, stats).startswith("its weights never left the equal share")


def test_a_variant_that_made_no_trade_is_not_said_to_have_unmoved_weights():
    """analysis._unmoved: `not np.any(sizes > 0)` dropped, a variant without a trade reads "its weights never left
    the equal share" (they were never asked)."""
    trades = daily(3)
    run = run_of(trades, [0.0] * 3, Variant("mean", 30.0, ("f",)))
    stats = variant_stats(run.variant.label, trades, run.sizes, day_grid(trades), CONFIG)
    assert _unmoved(run, stats) == ""


def test_a_filter_that_only_refused_was_asked():
    """analysis._check_judged: `allowed + refused > 0` as `allowed > 0`, a filter that refused every entry is
    called a filter with nothing to judge, and the backtest stops with a DataError."""

    class Refused:
        name, note, counts = "f", "a note", Counts(refused=5)

    _check_judged(Refused(), daily(2))  # type: ignore[arg-type]
    Refused.counts = Counts()
    with pytest.raises(DataError, match="the filter f had nothing to judge for any of the 2 entries"):
        _check_judged(Refused(), daily(2))  # type: ignore[arg-type]


def test_a_journal_trade_any_filter_refuses_is_deleted_behind_all_of_them():
    """analysis.book: the journal's masks joined with `or`, a trade refused by one filter but allowed by the other
    is kept behind both."""
    trades = journal_trades(6)
    first = refusing({("SPY", trades[0].decided_ts)}, "F1")
    second = refusing({("SPY", trades[1].decided_ts)}, "F2")
    both = book(trades, (Judged(first), Judged(second)), None)
    assert both.trades == trades and both.taken.tolist() == [False, False, True, True, True, True]


def test_a_filter_with_nothing_to_judge_stops_the_backtest():
    """analysis.analyse: the `_check_judged` call dropped, a filter that saw no input for any entry (no headline
    of a traded symbol) is backtested anyway, and every variant behind it reads as if it had been tested."""

    class Blind:
        name, note, counts = "blind", "no headlines", Counts()

        def allows(self, symbol: str, decided_at: pd.Timestamp, fill_bar_at: pd.Timestamp | None = None) -> bool:
            return True  # allowed for want of input, and not counted

    with pytest.raises(DataError, match="the filter blind had nothing to judge for any of the 4 entries"):
        analyse(journal_trades(4), [Blind()], Settings(), CONFIG, progress=False)


def test_a_journal_filter_that_deleted_trades_is_not_idle():
    """analysis.idle_filters: the `taken` comparison dropped, every journal filter (whose book keeps the recorded
    trades and only marks the refused ones) reads "refused no entry", and none of its variants is tested."""
    trades = journal_trades(6)
    judge = Judged(refusing({("SPY", trades[2].decided_ts)}, "F"))
    blind = Judged(refusing(set(), "G"))
    books = [book(trades, sets, None) for sets in [(), (judge,), (blind,)]]
    assert idle_filters(books[1], books, trades, None) == []
    assert idle_filters(books[2], books, trades, None) == ["G"]


@pytest.mark.parametrize(
    ("variant", "headline"),
    [
        (Variant("equal"), False),  # equal weights against themselves: nothing to judge
        (Variant("mean", 30.0), True),
        (Variant("thompson", 0.0), True),
        (Variant("equal", 0.0, ("F",)), True),  # what the filter does on its own
        (Variant("mean", 30.0, ("F",)), True),  # the served allocation behind it
        (Variant("mean", 0.0, ("F",)), False),
        (Variant("pnl", 30.0, ("F",)), False),
    ],
)
def test_the_headline_variants_are_the_bayesian_ones_and_behind_filters_the_served_and_equal(
    variant: Variant, headline: bool
):
    """analysis._is_headline: every variant judged without filters (equal weights against itself), the half-life
    test dropped behind filters (mean without forgetting judged too), or equal weights behind a filter no longer
    judged (what the filter alone does goes unsaid)."""
    assert _is_headline(variant, 30.0) is headline


def test_the_taken_mask_keeps_only_trades_with_a_known_entry_time():
    """analysis._taken: the known-entry mask not applied, the mask is longer than the trades the differences
    compare and the claims of a filtered journal with unknown entries pair the wrong trades (or fail)."""
    trades = [*daily(2), Trade("a", "X", MONDAY, MONDAY, 1.0, entry_known=False), *daily(1)]
    run = replace(
        run_of(trades, [1.0, 0.0, 1.0, 1.0], Variant("equal", 0.0, ("F",))), taken=np.array([1, 0, 1, 1], bool)
    )
    taken = _taken(run)
    assert taken is not None and taken.tolist() == [True, False, True]


def test_a_failed_walk_stops_the_others_at_their_next_decision(monkeypatch: pytest.MonkeyPatch):
    """analysis._in_threads: the failed future looked for among those that did not fail, the error waits for every
    walk before it in order to end (minutes of a 40-strategy walk) instead of stopping them."""
    monkeypatch.setattr(analysis_module, "usable_cores", lambda: 2)
    finished, pause = threading.Event(), threading.Event()

    def walk(job: str, tick: Callable[[int], object]) -> str:
        if job == "fails":
            raise ValueError("a walk failed")
        for _ in range(300):  # about 3 s unless stopped
            tick(0)
            pause.wait(0.01)
        finished.set()
        return job

    with tqdm(disable=True) as bar, pytest.raises(ValueError, match="a walk failed"):
        _in_threads(["long", "fails"], walk, bar)
    assert not finished.is_set()


def test_a_short_journal_is_judged_on_too_few_trades_before_unmoved_weights_and_has_no_empty_note():
    """analysis.analyse: the reasons ranked unmoved weights first, ten trades read "its weights never left the
    equal share" (report.summary then tells the user to lengthen the half-life, not the history); or the empty
    warnings kept, report.md shows a bare "- " line."""
    analysis = analyse(journal_trades(10), [], Settings(), CONFIG, progress=False)
    assert analysis.claims and all(
        c.verdict == "not tested: only 10 trades, at least 20 needed to judge anything" for c in analysis.claims
    )
    assert "" not in analysis.notes


def test_the_thin_data_warning_counts_the_trades_the_claims_compare():
    """analysis.analyse: the warning on too few trades counted over every trade, a journal of 50 trades of which 3
    have no entry time (47 compared: 9 blocks of 5) is not warned that its win-rate claims go untested."""
    trades = [
        replace(t, entry_known=False, decided_ts=t.closed_ts) if i % 20 == 0 else t
        for i, t in enumerate(journal_trades(50))
    ]
    analysis = analyse(trades, [], Settings(), replace(CONFIG, block_trades=5), progress=False)
    assert any(n.startswith("warning: too few trades (47: 9 blocks of 5, 10 needed)") for n in analysis.notes)


def test_two_claims_tested_are_held_together_on_wider_intervals(monkeypatch: pytest.MonkeyPatch):
    """analysis.analyse: `family > 1` as `> 2`, two claims tested are each judged on their own with no verdict
    held together; or the intervals held together drawn at TAIL, not TAIL / tested, no wider than alone."""
    seen: list[str] = []

    def two_tested(diff: Difference, untested: str = "") -> list[ClaimCheck]:
        out = claims(diff, untested)
        keep = 0 if seen else 2  # the first headline variant's first two claims, no other
        seen.append(diff.label)
        return [*out[:keep], *(replace(c, verdict="not tested: left out") for c in out[keep:])]

    monkeypatch.setattr(analysis_module, "claims", two_tested)
    analysis = analyse(planted(days=220), [], Settings(), BacktestConfig(reps=100), progress=False)
    tested = [c for c in analysis.claims if not c.verdict.startswith("not tested")]
    assert len(tested) == 2 and all(c.together for c in tested)
    for c in tested:
        (low, high), (wide_low, wide_high) = c.measured.ci95, c.together_ci
        assert wide_low < low and high < wide_high


# -- stats.py, daily.py, intervals.py ------------------------------------------------------------------------


def test_blocks_count_whole_blocks_only():
    """intervals.Basis.blocks: rounded up, 199 days (9 whole blocks of 20) count as 10 and get an interval."""
    assert Basis(199, 20, "days").blocks == 9
    assert Basis(199, 20, "days").too_few() == "too few days (199: 9 blocks of 20, 10 needed)"
    assert Basis(200, 20, "days").too_few() == ""
    assert Basis(25, 20, "days").too_few() == "too few days (25: 1 block of 20, 10 needed)"


def test_a_one_day_grid_is_annualised_at_every_day_of_the_year():
    """daily.grid_periods_per_year: a grid of one day at 252 days a year, not the documented 365.25."""
    assert grid_periods_per_year(pd.bdate_range("2024-01-08", periods=1, tz="UTC")) == 365.25


def test_variant_figures_match_a_hand_computation():
    """stats.variant_stats: annual return at 252 days a year (not the grid's), turnover counted one way only, the
    average loss with its sign flipped, or average win 0 (not n/a) without a winner."""
    trades = [*daily(2, 0.02, cost=0.001), *daily(1, -0.01)]
    days = pd.bdate_range(pd.Timestamp(MONDAY, unit="s", tz="UTC").floor("D"), periods=2)
    stats = variant_stats("v", trades, np.array([1.0, 2.0, 0.5]), days, CONFIG)
    assert stats.total_return == pytest.approx(0.02 + 0.04 - 0.005)
    assert stats.annual_return == pytest.approx(stats.total_return * grid_periods_per_year(days) / 2)
    assert stats.turnover == pytest.approx(7.0)
    assert stats.average_loss == pytest.approx(-0.01)
    assert stats.costs == pytest.approx(0.003)
    losers = variant_stats("v", daily(2, -0.01), np.ones(2), days, CONFIG)
    assert math.isnan(losers.average_win) and losers.profit_factor == 0.0


def test_the_paired_total_return_is_a_sum_over_days():
    """stats.PairedDays.total: the mean daily difference not scaled by the days, a gap of 1 a day over 5 days
    reads 1 instead of 5."""
    days = pd.bdate_range("2024-01-08", periods=5, tz="UTC")
    paired = PairedDays.of(np.full(5, 2.0), np.full(5, 1.0), days, CONFIG)
    assert float(paired.total(paired.rows.mean(axis=0))) == pytest.approx(5.0)


def test_a_constant_daily_pnl_whose_rounding_makes_its_variance_negative_has_no_sharpe():
    """stats._sharpe: the variance's floor at 0 replaced by its absolute value, a daily P&L that never varies
    (its variance -1e-18 by rounding) reads a Sharpe ratio of millions."""
    mean = np.asarray(0.1)
    assert float(_sharpe(mean, mean * mean - 1e-18, 252.0)) == 0.0


def test_a_figure_on_too_few_blocks_keeps_its_value():
    """intervals.interval: on too few blocks the value dropped with the interval, report.md shows "n/a" for a win
    rate that was measured."""
    rows = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    found = interval(rows, _share, Basis(4, 10, "trades"), CONFIG)
    assert found.value == pytest.approx(0.75) and math.isnan(found.ci95[0])


def test_a_relative_sharpe_interval_is_conditional_only_past_the_threshold():
    """stats.Difference.sharpe_relative_conditional: true on any dropped share, a relative Sharpe with 1 % of
    replicates left out is called conditional on equal weights' Sharpe being non-zero."""
    diff = Difference("v", NAN, NAN, NAN, NAN, NAN, NAN, sharpe_relative_dropped=0.01)
    assert not diff.sharpe_relative_conditional
    assert Difference("v", NAN, NAN, NAN, NAN, NAN, NAN, sharpe_relative_dropped=0.06).sharpe_relative_conditional


def test_a_weekend_mark_makes_the_grid_every_day():
    """daily.day_grid: the marks left out of the weekend test, a trade held through a weekend (crypto) whose
    decision and close fall on weekdays gets a weekday grid, and its Saturday's and Sunday's marks fall off it."""
    friday = pd.Timestamp("2024-01-12 10:00", tz="UTC").timestamp()
    marks = ((friday + DAY, 0.01), (friday + 2 * DAY, 0.02), (friday + 3 * DAY, 0.03))
    grid = day_grid([Trade("a", "X", friday, friday + 3 * DAY, 0.03, marks=marks)])
    assert len(grid) == 4  # Friday to Monday, the weekend included


def test_drawdown_counts_a_loss_from_the_start_and_resized_only_taken_trades():
    """stats.variant_stats: the running peak not starting at 0, a book that only lost from its first day shows no
    drawdown; a trade not taken (size 0) counted as resized; a book without a loss gets no infinite profit
    factor."""
    days = day_grid(daily(3))
    losing = variant_stats("v", daily(3, -0.01), np.ones(3), days, CONFIG)
    assert losing.max_drawdown == pytest.approx(0.03)
    assert variant_stats("v", daily(3), np.array([1.0, 0.0, 1.0]), days, CONFIG).resized == 0.0
    assert variant_stats("v", daily(3), np.ones(3), days, CONFIG).profit_factor == math.inf


def test_the_trade_basis_never_leaves_fewer_than_ten_blocks_of_days():
    """intervals.trade_basis: the cap at len(days) // MIN_BLOCKS dropped, 100 trades over 221 days make 9 blocks of
    23 days and lose their interval though both counts are enough."""
    days = pd.bdate_range("2024-01-01", periods=221, tz="UTC")
    basis = trade_basis(Basis(100, 10, "trades"), days, BacktestConfig())
    assert (basis.count, basis.block, basis.too_few()) == (221, 22, "")


def test_intervals_held_together_draw_more_replicates():
    """stats._reps: more replicates only below 0 % in a tail, a claim held together with eight others rests its
    interval's ends on a handful of draws."""
    assert _reps(2000, 0.025, [Basis(200, 20, "days")]) == 2000
    assert _reps(2000, 0.025 / 9, [Basis(200, 20, "days")]) > 2000


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.0, 0.10, "contradicted: the promised gain is outside the 95% CI"),  # touches 0: not a gain
        (0.01, 0.10, "contradicted: a gain, but smaller than promised (the promise is outside the 95% CI)"),
        (0.0, 0.30, "not supported: CI includes 0"),
        (0.15, 0.30, SUPPORTED),  # the lower bound at the promise: reached
        (0.10, 0.30, PARTLY_SUPPORTED),
    ],
)
def test_verdict_boundaries(low: float, high: float, expected: str):
    """claims.verdict: `low > 0` as `>=` (an interval touching 0 called a gain), `low <= 0` as `<` (an interval
    from 0 partly supports), `low >= promised` as `>` (an interval from exactly the promise only partly)."""
    assert verdict(Estimate(0.05, (low, high)), 0.15) == expected


def test_the_relative_change_is_measured_against_the_size_of_a_negative_base_and_undefined_when_infinite():
    """stats._relative: |base| as base, a Sharpe from -1 to +1 reads -200 % instead of +200 %; a non-finite
    variant's Sharpe kept, an inf change enters the interval."""
    assert _relative(np.array([1.0, math.inf]), np.array([-1.0, 1.0]))[0] == 2.0
    assert math.isnan(_relative(np.array([1.0, math.inf]), np.array([-1.0, 1.0]))[1])


def estimates(win: tuple[float, float], pnl_low: float, dropped: float = 0.0, **kw: object) -> Difference:
    """A difference whose win rate is `win` (its interval), every other claim's figure unsupported, and whose P&L
    per trade has the lower bound `pnl_low`."""
    flat = Estimate(0.0, (-0.1, 0.1))
    return Difference(
        "mean (half-life 30d)",
        Estimate(sum(win) / 2, win),
        flat,
        flat,
        flat,
        flat,
        Estimate(0.01, (pnl_low, 0.02)),
        dropped,
        **kw,  # type: ignore[arg-type]
    )


def test_a_win_rate_claim_needs_the_lower_bound_of_the_pnl_per_trade_above_zero():
    """claims.claims: the P&L-per-trade gate on its point estimate instead of its interval, a win rate that rose
    with no distinguishable edge (P&L per trade +0.01 [-0.01, +0.02]) reads "supported"."""
    (win, *_) = claims(estimates((0.2, 0.3), -0.01))
    assert win.verdict.startswith("not supported: the win rate rose, but the P&L per trade did not")
    assert claims(estimates((0.2, 0.3), 0.001))[0].verdict == SUPPORTED


def test_a_figure_on_too_few_blocks_reads_not_tested_and_an_untested_claim_has_no_dropped_note():
    """claims.claims: Difference.too_few ignored, a win rate without an interval reads "undefined" instead of "not
    tested: too few trades ..."; the replicates-dropped note kept on a claim not tested."""
    why = "too few trades (40: 4 blocks of 10, 10 needed)"
    thin = estimates((math.nan, math.nan), 0.001, too_few={"win_rate": why})
    assert claims(thin)[0].verdict == f"not tested: {why}"
    sharpe = claims(estimates((0.2, 0.3), 0.001, dropped=0.01), untested="F refused no entry")[2]
    assert sharpe.verdict == "not tested: F refused no entry" and sharpe.note == ""


def test_a_claim_contradicted_alone_gets_no_credit_together():
    """stats.held_together: NO_CREDIT_ALONE dropped, a gain smaller than promised on its own reads "partly
    supported" once its interval is widened to hold with the others."""
    alone = claims(estimates((0.05, 0.10), 0.001))  # a gain, smaller than promised; the others not supported
    wide = {"mean (half-life 30d)": estimates((0.02, 0.20), 0.0005)}
    together = held_together(alone, wide, {})
    assert together[0].verdict.startswith("contradicted: a gain") and together[0].together == NO_CREDIT_ALONE
    assert together[0].together_ci == (0.02, 0.20)


def test_a_single_claim_tested_is_not_held_together():
    """stats.held_together: `family < 2` as `< 1`, a lone claim tested gets a "held together" verdict with no
    other claim to hold it with."""
    why = "too few days (25: 1 block of 20, 10 needed)"
    lone = claims(estimates((0.05, 0.10), 0.001, too_few={"average_win": why, "sharpe_relative": why}))
    assert [c.verdict.startswith("not tested") for c in lone] == [False, True, True]
    wide = {"mean (half-life 30d)": estimates((0.02, 0.20), 0.0005)}
    assert [c.together for c in held_together(lone, wide, {})] == ["", "", ""]


def test_the_average_win_difference_is_relative_to_equal_weights():
    """stats.difference: the average win's difference taken in P&L units instead of relative to equal weights',
    a variant whose winners average 2 against equal weights' 1.5 reads +50 % instead of +33 %, and the "average
    win +33%" claim is judged on the wrong figure."""
    trades = [*daily(1, 2.0), *daily(1, 1.0, strategy="b"), *daily(1, -1.0, strategy="c")]
    diff = difference("v", trades, np.array([2.0, 0.0, 1.0]), np.ones(3), day_grid(trades), CONFIG)
    assert diff.average_win.value == pytest.approx(2.0 / 1.5 - 1)


# -- report.py ------------------------------------------------------------------------------------------------


def test_a_difference_that_rounds_to_nothing_reads_plus_zero():
    """report._ci: `+ 0.0` dropped, a difference of -0.0001 rounds to "-0.00" in report.md."""
    assert _ci(Estimate(-0.0001, (-0.001, -0.0001))) == "+0.00 [+0.00, +0.00]"
    assert _ci(Estimate(-0.0001, (math.nan, math.nan))) == "+0.00 [no CI]"


def test_a_relative_sharpe_without_an_interval_says_no_share_dropped():
    """report._relative_sharpe: `not dropped > 0` as `dropped <= 0`, a relative Sharpe without an interval (nan
    dropped share) reads "(nan% of replicates dropped)"."""
    diff = Difference("v", NAN, NAN, NAN, NAN, Estimate(0.5, (math.nan, math.nan)), NAN)
    assert _relative_sharpe(diff) == "+50% [no CI]"


def test_an_infinite_exposure_reads_not_applicable():
    """report._exposure: `not isfinite` as `isnan`, an exposure of inf reads "infx"."""
    assert _exposure(math.inf) == "n/a" and _exposure(0.5) == "0.50x"


SERVED, OTHER = "mean (half-life 30d)", "thompson (half-life 30d)"
NOT_MOVED = "not tested: its weights never left the equal share (...)"


def check(claim: str, verdict: str, label: str = SERVED, together: str = "") -> ClaimCheck:
    return ClaimCheck(claim, label, Estimate(0.2, (0.16, 0.3)), verdict, together=together)


def analysis_of(checks: list[ClaimCheck], resized: float = 0.5, hold: BuyAndHold | None = None) -> Analysis:
    """A made-up analysis of three trades behind `checks`: equal weights, then SERVED and OTHER."""
    trades = daily(3)
    days = day_grid(trades)
    base = variant_stats("equal", trades, np.ones(3), days, CONFIG)
    stats = [base, *(replace(base, label=label, resized=resized) for label in (SERVED, OTHER))]
    runs = [run_of(trades, [1.0] * 3, Variant("equal"))]
    win, average, total, sharpe, relative, per_trade = (Estimate(0.1 * i, (0.0, 1.0)) for i in range(1, 7))
    differences = [Difference(SERVED, win, average, total, sharpe, relative, per_trade)]
    return Analysis(trades, runs, stats, differences, checks, {}, days, [], hold)


WIN, AVG, SHARPE = "win rate +15-20 points", "average win +33%", "sharpe +50%"


def test_the_verdict_names_what_the_served_variant_supports_and_what_others_do():
    """report.summary: the served variant taken from the last claim, one supported claim read as "supports every
    claim", the served variant's own claims listed again "elsewhere", or a claim on too little data among others
    read as if none were tested."""
    text = summary(
        analysis_of(
            [
                check(WIN, SUPPORTED),
                check(AVG, "not tested: too few days (...)"),
                check(SHARPE, "not supported: CI includes 0"),
                check(WIN, PARTLY_SUPPORTED, OTHER),
            ]
        )
    )
    assert text.startswith(f"On this data, {SERVED} supports only: {WIN}. Elsewhere: {WIN} by {OTHER} (partly")
    assert f"{WIN} by {SERVED}" not in text


def test_no_held_together_sentence_without_a_claim_credited_alone():
    """report.summary: the "credited alone" condition dropped, a verdict with nothing supported says which claims
    "stand" held together (none) as though one had stood alone."""
    text = summary(
        analysis_of([check(WIN, "not supported: CI includes 0", together="not supported: CI includes 0")])
    )
    assert "Held to 95 %" not in text


def test_the_served_variant_is_not_listed_among_the_others_whose_weights_never_moved():
    """report.summary: `c.label != label` dropped, the served variant whose weights never moved is named again
    among "their weights never left the equal share either"."""
    text = summary(analysis_of([check(WIN, NOT_MOVED), check(WIN, NOT_MOVED, OTHER)], resized=0.0))
    assert "never left the equal share either: thompson (half-life 30d)." in text


@pytest.mark.parametrize(
    ("low", "high", "equal_sharpe", "expected"),
    [
        (0.1, 0.5, 0.6, "; distinguishable from none at 95%)"),  # wholly above 0
        (-0.5, -0.1, 0.6, "; distinguishable from none at 95%)"),
        (-0.1, 0.5, 0.6, "; not distinguishable from none at 95%)"),
        (-0.1, 0.5, 0.5, "matched or beat passive holding"),  # a tie on Sharpe is no trailing
    ],
)
def test_the_gap_to_buy_and_hold_is_judged_on_both_ends_of_its_interval(
    low: float, high: float, equal_sharpe: float, expected: str
):
    """report.against_holding: `low > 0` dropped, equal weights ahead of buy and hold by an interval wholly above 0
    read "not distinguishable"; a tie in Sharpe read "trailed passive holding"."""
    trades = daily(3)
    base = variant_stats("equal", trades, np.ones(3), day_grid(trades), CONFIG)
    gap = Estimate(0.2, (low, high))
    hold = BuyAndHold(replace(base, sharpe=0.5), ("X",), "2024-01-09", "2024-01-10", 0.5, gap, gap)
    assert expected in against_holding(replace(base, sharpe=equal_sharpe), hold)


def test_ten_symbols_are_all_named():
    """report._listed: `<= LISTED` as `<`, ten symbols read "... and 0 more (10 in all)"."""
    symbols = [f"S{i}" for i in range(11)]
    assert _listed(symbols[:10]) == ", ".join(symbols[:10])
    assert _listed(symbols).endswith("S9 and 1 more (11 in all)")


def test_report_json_lists_strategies_in_order_and_no_final_weights_for_equal_weights():
    """report.as_json: trades by strategy in the order met (not sorted), or equal weights' weights among the
    final weights of the Bayesian variants."""
    analysis = analysis_of([])
    analysis.trades = [*daily(1, strategy="b"), *daily(1, strategy="a")]
    analysis.runs = [replace(analysis.runs[0], weights=np.array([[0.5, 0.5]]))]
    data = as_json(analysis, CONFIG)
    assert list(data["trades"]["by_strategy"]) == ["a", "b"] and data["final_weights"] == {}


def test_report_md_tables_show_each_figure_in_its_column_and_unit():
    """report.markdown: a win rate claim measured in % (not points), a difference table's total return column
    holding the Sharpe difference, the buy-and-hold row's mean open notional the rules' instead of its symbols',
    or the family paragraph (2 claims tested) or the lone claim's line (1) missing."""
    trades = daily(3)
    base = variant_stats("equal", trades, np.ones(3), day_grid(trades), CONFIG)
    gap = Estimate(0.2, (math.nan, math.nan))
    hold = BuyAndHold(replace(base, label="buy and hold"), ("X", "Y"), "2024-01-09", "2024-01-10", 0.25, gap, gap)
    two = [check(WIN, "not supported: CI includes 0"), check(AVG, "not supported: CI includes 0")]
    text = markdown(analysis_of(two, hold=hold), "", [])
    assert f"| {WIN} | {SERVED} | +20.0 points [+16.0, +30.0] |" in text
    assert f"| {AVG} | {SERVED} | +20.0% [+16.0, +30.0] |" in text
    assert (
        f"| {SERVED} | +10.0 [+0.0, +100.0] | +20.0% [+0.0, +100.0] | +0.6000 [+0.0000, +1.0000] | "
        "+0.300 [+0.000, +1.000] | +0.40 [+0.00, +1.00] |"
    ) in text
    assert "| 2.00 units |" in text and "| 0.25 units |" in text
    assert "Each of these 2 variant-claim pairs" in text
    one = markdown(analysis_of(two[:1]), "", [])
    assert "One claim was tested, at 95 %: no other to hold it together with." in one


# -- baseline.py ----------------------------------------------------------------------------------------------


def test_open_units_count_from_the_fill_to_the_day_before_the_close():
    """baseline.open_units: the fill's day ignored for the decision's, or the extra day after the grid averaged
    in, or a trade of size 0 counted: the rules' mean open notional read wrong beside buy and hold."""
    days = pd.bdate_range("2024-01-08", periods=5, tz="UTC")
    ts = [d.timestamp() for d in days]
    held = Trade("a", "X", ts[0], ts[3], 0.1, fill_bar_ts=ts[1])  # open at Tuesday's and Wednesday's closes
    assert open_units([held], np.ones(1), days) == pytest.approx(2 / 5)
    last = Trade("a", "X", ts[0], ts[4] + 5 * DAY, 0.1)  # still open after the grid's last day
    assert open_units([last], np.ones(1), days) == pytest.approx(1.0)
    assert open_units([held, last], np.array([1.0, 0.0]), days) == pytest.approx(2 / 5)
    assert math.isnan(open_units([], np.ones(0), days[:0]))


def test_buy_and_hold_runs_from_the_first_fill_to_the_last_exit():
    """baseline.buy_and_hold: the entry date of the first decision (not its fill), or the exit of the earliest
    symbol to leave (not the last), in report.md's "from" and "to"."""
    closes, days = tiny()
    closes["B"] = closes["B"].iloc[:4]  # B's last bar on Thursday
    rules = [Trade("trend", "A", days[0].timestamp(), days[3].timestamp(), 0.2)]
    hold = buy_and_hold(closes, days, (rules, np.ones(1)), CONFIG)
    assert hold is not None and (hold.entry, hold.exit) == ("2024-01-09", "2024-01-12")


def test_a_symbol_with_two_bars_in_the_days_is_not_held():
    """baseline.hold_trades: `< 3` as `< 2`, a symbol with only a decision bar and a fill bar in the window is
    held, bought and sold on one close (two costs, no market exposure)."""
    closes, days = tiny()
    closes["B"] = closes["B"].iloc[:2]
    assert [t.symbol for t in hold_trades(closes, days, 5.0)] == ["A"]


def test_a_bar_off_the_grid_of_days_is_not_a_mark_and_its_change_is_carried_by_the_next():
    """baseline.hold_trades: the marks off the grid kept, a symbol that trades at weekends (crypto) beside a
    weekday grid marks on days the daily P&L has no row for, and the baseline fails or loses that change."""
    days = pd.bdate_range("2024-01-08", periods=10, tz="UTC")  # two weeks of weekdays
    every_day = pd.date_range("2024-01-08", periods=12, freq="D", tz="UTC")
    closes = {"C": pd.Series(np.linspace(100.0, 111.0, 12), index=every_day)}
    (trade,) = hold_trades(closes, days, 0.0)
    assert all(pd.Timestamp(ts, unit="s", tz="UTC").day_of_week < 5 for ts, _ in trade.marks)
    assert daily_pnl([trade], np.ones(1), days).sum() == pytest.approx(trade.pnl)
