"""Entry filters act on the stand-in strategies' entry signals, not on their unfiltered round trips.

Before: a refused entry deleted the whole round trip (sized 0), although a live agent, still flat, would enter
at a later bar whose signal still held and which the filter allowed (trend stays "up" for many bars); a probe
put the overstatement of a filter's effect at 2-4x on return and trade count. The agent's journal trades have
no signals: a refused one is still deleted. Each test failed before the change."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pytest
from click.testing import CliRunner

from investiq.cli.main import main
from investiq.core.bayes.posterior import SECONDS_PER_DAY
from investiq.core.settings import Settings
from investiq.ops.backtest.analysis import Analysis, analyse
from investiq.ops.backtest.config import BacktestConfig
from investiq.ops.backtest.filters import Counts
from investiq.ops.backtest.report import as_json, markdown, summary
from investiq.ops.backtest.run import DELETED
from investiq.ops.backtest.stats import difference
from investiq.ops.backtest.strategies import round_trips, strategy_trades, trend
from investiq.ops.backtest.trades import Trade

CONFIG = BacktestConfig(reps=100)
Question = tuple[str, pd.Timestamp, "pd.Timestamp | None"]


def trending(n: int = 1000, seed: int = 0) -> dict[str, pd.Series]:
    """Two symbols of daily closes that drift up with noise: long stretches of trend "up", some of each rule."""
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2005-01-03", periods=n, tz="UTC")
    return {
        s: pd.Series(100 * np.exp(np.cumsum(rng.normal(0.0002, 0.012, n))), index=index) for s in ("AAA", "BBB")
    }


class Asked:
    """An entry filter that refuses what `refuse` says and records every question it is asked."""

    def __init__(self, refuse: Callable[[str, pd.Timestamp], bool], name: str = "test filter") -> None:
        self.refuse, self.name, self.note = refuse, name, "a test's filter"
        self.counts = Counts()
        self.asked: list[Question] = []

    def allows(self, symbol: str, decided_at: pd.Timestamp, fill_bar_at: pd.Timestamp | None = None) -> bool:
        self.asked.append((symbol, decided_at, fill_bar_at))
        if self.refuse(symbol, decided_at):
            self.counts.refused += 1
            return False
        self.counts.allowed += 1
        return True


def refusing(entries: Collection[tuple[str, float]], name: str = "refuses some") -> Asked:
    """Refuses the entries of (symbol, decision time in epoch seconds) in `entries`."""
    return Asked(lambda s, t: (s, t.timestamp()) in entries, name)


def backtest(closes: dict[str, pd.Series], *filters: Asked) -> Analysis:
    """The stand-in strategies on `closes` from their 300th bar, every variant behind every filter set."""
    start = next(iter(closes.values())).index[300]
    trades = strategy_trades(closes, start, 5.0)
    replay = partial(strategy_trades, closes, start, 5.0)
    return analyse(trades, list(filters), Settings(), CONFIG, progress=False, replay=replay)


def run_of(analysis: Analysis, label: str) -> tuple[list[Trade], np.ndarray]:
    (run,) = [r for r in analysis.runs if r.variant.label == label]
    return list(run.trades), run.sizes


# -- (a) a refused signal is no entry; a later allowed one is -------------------------------------------------


def test_a_refused_entry_signal_lets_the_strategy_enter_at_the_next_allowed_signal():
    enter = np.array([0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0], dtype=bool)
    leave = np.array([0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0], dtype=bool)
    assert round_trips(enter, leave) == [(1, 6, False), (8, 10, False)]
    asked: list[int] = []

    def allows(t: int) -> bool:
        asked.append(t)
        return t >= 3  # the signals of bars 1 and 2 refused, bar 3's allowed

    assert round_trips(enter, leave, allows) == [
        (3, 6, False),
        (8, 10, False),
    ]  # in at 4 (not deleted), out as before
    assert asked == [1, 2, 3, 8]  # only while flat, at bars whose entry signal holds
    assert round_trips(enter, leave, lambda t: False) == []


def test_round_trips_without_a_gate_are_unchanged():
    """The old loop, as a reference: the gate's rewrite (the next exit looked up, not scanned) changed nothing; a
    trade whose exit would fill after the last bar closes on it, still open, where its entry filled before it."""

    def reference(enter: np.ndarray, leave: np.ndarray) -> list[tuple[int, int, bool]]:
        trips, n, t = [], len(enter), 0
        while t < n - 1:
            if not enter[t]:
                t += 1
                continue
            u = t + 1
            while u < n - 1 and not leave[u]:
                u += 1
            if u >= n - 1:
                if t + 1 < n - 1:
                    trips.append((t, n - 1, True))
                break
            trips.append((t, u + 1, False))
            t = u + 1
        return trips

    rng = np.random.default_rng(0)
    for n in (0, 1, 2, 3, 5, 40, 300):
        for p in (0.05, 0.3, 0.8):
            enter, leave = rng.random(n) < p, rng.random(n) < p
            assert round_trips(enter, leave) == reference(enter, leave)
            assert round_trips(enter, leave, lambda t: True) == reference(enter, leave)


def test_a_trade_still_open_on_the_last_bar_closes_on_it_marked_so(monkeypatch: pytest.MonkeyPatch):
    """Left out, whether a trade decided at bar t counted hung on later bars, and each rule's figures leaned by
    what it leaves open (on random walks trend's closed trades lost 3.3 % a trade, all of them gained 0.25 %)."""
    enter = np.array([0, 1, 0, 0, 0, 0], dtype=bool)
    leave = np.zeros(6, dtype=bool)
    assert round_trips(enter, leave) == [(1, 5, True)]
    assert round_trips(np.array([0, 0, 0, 0, 1, 0], dtype=bool), leave) == []  # would fill on the last bar itself
    index = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC")
    close = pd.Series([100.0, 100.0, 100.0, 104.0, 108.0, 110.0], index=index)
    monkeypatch.setattr("investiq.ops.backtest.strategies.RULES", {"only": lambda c: (enter, leave)})
    (trade,) = strategy_trades({"X": close}, index[0], cost_bps=0.0)
    assert trade.open_at_end and trade.closed_ts == index[-1].timestamp() and trade.pnl == pytest.approx(0.10)
    assert trade.marks[-1][0] == index[-1].timestamp() and trade.marks[-1][1] == pytest.approx(0.10)


def test_a_filtered_variant_enters_at_the_next_bar_whose_trend_signal_holds_and_is_allowed():
    closes = trending()
    base = backtest(closes)
    first = next(t for t in base.trades if t.strategy == "trend" and t.symbol == "AAA")
    index = closes["AAA"].index
    t = index.get_loc(pd.Timestamp(first.decided_ts, unit="s", tz="UTC"))
    up, _ = trend(closes["AAA"])
    assert up[t : t + 3].all()  # the signal still holds at the next two bars
    refused = {("AAA", index[t].timestamp()), ("AAA", index[t + 1].timestamp())}
    analysis = backtest(closes, refusing(refused))
    trades, sizes = run_of(analysis, "equal + refuses some")
    (later,) = [
        x for x in trades if x.strategy == "trend" and x.symbol == "AAA" and x.closed_ts == first.closed_ts
    ]
    assert later.decided_ts == index[t + 2].timestamp()  # entered two bars later, not deleted
    assert later.fill_bar_ts == index[t + 3].timestamp()
    assert later.marks[-1] == (first.closed_ts, later.pnl)  # out on the same exit signal
    assert later.pnl == pytest.approx(
        closes["AAA"].iloc[index.get_loc(pd.Timestamp(first.closed_ts, unit="s", tz="UTC"))]
        / closes["AAA"].iloc[t + 3]
        - 1
        - 10 / 1e4
    )
    assert first not in trades and np.all(sizes == 1.0)
    assert len(trades) == len(base.trades)  # every other trade as before: one refused signal, one later entry


# -- (b) a filter that refuses everything -------------------------------------------------------------------


def test_a_filter_that_refuses_every_entry_leaves_its_variants_no_trade_and_says_so():
    analysis = backtest(trending(), Asked(lambda s, t: True, "refuses all"))
    behind = [r for r in analysis.runs if r.variant.filters]
    assert behind and all(len(r.trades) == 0 for r in behind)
    stats = {s.label: s for s in analysis.stats}
    assert stats["equal + refuses all"].trades == 0 and math.isnan(stats["equal + refuses all"].sharpe)
    assert stats["equal"].trades == len(analysis.trades) > 20
    judged = [c for c in analysis.claims if c.label.endswith(" + refuses all")]
    assert judged and all(c.verdict.startswith("not tested: refuses all let no entry through") for c in judged)
    text = markdown(analysis, "", [])
    assert "Not tested, since a filter in front of them refused every entry: equal + refuses all" in text
    assert "| equal + refuses all | 0 |" in text
    data = as_json(analysis, CONFIG)  # no decision behind the filter: no final weights, and no error
    assert "mean (no forgetting)" in data["final_weights"]
    assert "mean (no forgetting) + refuses all" not in data["final_weights"]


# -- (c) asked once per (symbol, decision) ------------------------------------------------------------------


def test_every_filter_is_asked_at_most_once_per_symbol_and_decision_over_every_variant_and_set():
    """Two filters (four filter sets, seven variants each, three rules per symbol): the paths behind them differ,
    so the same entry is met many times; each filter answers it once, and counts what it answered."""
    odd = Asked(lambda s, t: t.day % 2 == 1, "odd days")
    thirds = Asked(lambda s, t: t.day % 3 == 0, "thirds")
    analysis = backtest(trending(), odd, thirds)
    assert len({r.variant.filters for r in analysis.runs}) == 4
    for f in (odd, thirds):
        assert f.asked and len(f.asked) == len(set(f.asked))
        assert len({(s, t) for s, t, _ in f.asked}) == len(f.asked)
        assert f.counts.allowed + f.counts.refused == len(f.asked) and f.counts.refused > 0
    behind = {r.variant.filters: r.trades for r in analysis.runs if r.variant.allocation == "equal"}
    assert len({tuple(trades) for trades in behind.values()}) == 4  # four sets, four books of trades


# -- the paired comparison on one calendar -------------------------------------------------------------------


def test_a_filtered_variant_is_compared_with_equal_weights_over_the_same_days():
    """Its trades are its own (another count than equal weights'): win rate and average win are paired on the
    decision days of the same calendar, and each difference is the difference of the two variants' figures."""
    closes = trending(3000)  # 100 trades and more in either variant: 10 blocks of them (MIN_BLOCKS)
    analysis = backtest(closes, Asked(lambda s, t: t.day % 2 == 1, "odd days"))
    trades, sizes = run_of(analysis, "equal + odd days")
    assert trades and trades != analysis.trades  # entries moved to later bars: trades of its own
    stats = {s.label: s for s in analysis.stats}
    (diff,) = [d for d in analysis.differences if d.label == "equal + odd days"]
    mine, equal = stats["equal + odd days"], stats["equal"]
    assert diff.win_rate.value == pytest.approx(mine.win_rate.value - equal.win_rate.value)
    assert diff.total_return.value == pytest.approx(mine.total_return - equal.total_return)
    assert diff.average_win.value == pytest.approx(mine.average_win / equal.average_win - 1)
    low, high = diff.win_rate.ci95
    assert low < diff.win_rate.value < high
    first, last = analysis.days[0].timestamp(), analysis.days[-1].timestamp()
    assert all(first <= t.decided_ts and t.closed_ts < last + SECONDS_PER_DAY for t in trades)
    again = difference(
        "again", trades, sizes, np.ones(len(analysis.trades)), analysis.days, CONFIG, analysis.trades
    )
    assert again.win_rate == diff.win_rate  # the same rows and blocks: deterministic


# -- (e) the journal: a refused trade is still deleted ---------------------------------------------------------


def journal_trades(n: int = 60) -> list[Trade]:
    t0 = 1_700_000_000.0
    return [
        Trade(("a", "b")[i % 2], "SPY", t0 + i * SECONDS_PER_DAY, t0 + (i + 0.5) * SECONDS_PER_DAY, (-1.0) ** i)
        for i in range(n)
    ]


def test_a_journal_trade_that_a_filter_refuses_is_deleted_not_replaced():
    trades = journal_trades()
    refused = {("SPY", t.decided_ts) for t in trades[::3]}
    f = refusing(refused)
    analysis = analyse(trades, [f], Settings(), CONFIG, progress=False)  # no replay: the journal has no signals
    kept, sizes = run_of(analysis, "equal + refuses some")
    assert kept == trades  # the recorded trades, none added or moved
    assert sizes.tolist() == [0.0 if ("SPY", t.decided_ts) in refused else 1.0 for t in trades]
    assert len(f.asked) == len(trades) and f.counts.refused == len(refused)  # each asked once
    assert {s.label: s.trades for s in analysis.stats}["equal + refuses some"] == len(trades) - len(refused)


def test_a_journals_report_says_that_a_refused_trade_is_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from tests.ops.test_backtest_cli import journal

    monkeypatch.chdir(tmp_path)
    db = journal(tmp_path / "portfolio.db", 60)
    out = tmp_path / "journal"
    result = CliRunner().invoke(main, ["backtest", "--source", "journal", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert DELETED in (out / "report.md").read_text() and "simply deleted" in DELETED
    assert DELETED in json.loads((out / "report.json").read_text())["notes"]


def test_a_filter_that_changes_nothing_on_its_own_is_not_tested_even_if_it_refused_entries_behind_another():
    """F2 refuses only entries that exist behind F1 (F1 moved them to later bars): alone it trades exactly as
    without filters. Judged by its answers over every filter set, its variants got verdicts ("contradicted")."""
    closes = trending(3000, 0)  # 100 trades and more behind F1: 10 blocks of them (MIN_BLOCKS)
    start = next(iter(closes.values())).index[300]
    unfiltered = strategy_trades(closes, start, 5.0)
    first = {(t.symbol, t.decided_ts) for i, t in enumerate(unfiltered) if i % 2 == 0}
    moved = strategy_trades(closes, start, 5.0, gate=lambda s, d, f: (s, d) not in first)
    only_behind_f1 = {(t.symbol, t.decided_ts) for t in moved} - {(t.symbol, t.decided_ts) for t in unfiltered}
    assert only_behind_f1
    f1, f2 = refusing(first, "F1"), refusing(only_behind_f1, "F2")
    analysis = backtest(closes, f1, f2)
    assert run_of(analysis, "equal + F2")[0] == run_of(analysis, "equal")[0] and f2.counts.refused > 0
    alone = [c for c in analysis.claims if c.label.endswith("+ F2") and "F1" not in c.label]
    assert alone and all(c.verdict.startswith("not tested: F2 refused no entry") for c in alone), alone
    assert not any(c.verdict.startswith("not tested") for c in analysis.claims if c.label == "equal + F1")


def test_a_bayesian_variant_whose_weights_never_moved_tests_nothing_of_the_claims():
    """Its differences from equal weights are zero by construction (it traded exactly as they did): they were
    reported as "contradicted [0, 0]", evidence against learning that no learning produced."""
    analysis = backtest(trending(1000, 0))
    moved = {s.label: s.resized > 0 for s in analysis.stats}
    assert set(moved.values()) == {True, False}  # both kinds on this data
    for check in analysis.claims:
        unmoved = check.verdict.startswith("not tested: its weights never left the equal share")
        assert unmoved == (not moved[check.label]), (check.label, check.verdict)
    assert "tests none of the claims" in summary(analysis)


def test_behind_a_filter_a_bayesian_variant_whose_weights_never_moved_tests_nothing_either():
    """Its differences are the filter's alone (it traded as equal weights behind the filter did): it got the
    verdicts of "equal + the filter" again, as if they were the allocation's."""
    analysis = backtest(trending(1000, 0), Asked(lambda s, t: t.day % 3 == 0, "refuses a third"))
    served = [c for c in analysis.claims if c.label == "mean (half-life 30d) + refuses a third"]
    assert served and all(
        c.verdict.startswith("not tested: its weights never left the equal share")
        and c.verdict.endswith("as equal + refuses a third did")
        for c in served
    ), served


def test_bar_times_to_the_millisecond_reach_an_entry_filter_exactly():
    """Bar times went through float seconds: 23:59:59.999 came back 72 ns off, and the price filter's exact lookup
    let every such entry in as one without a forecast (a review). A filter is asked at the bars' own stamps."""
    from investiq.ops.backtest.gating import Judged

    rng = np.random.default_rng(3)
    closes = {
        symbol: pd.Series(
            100 * np.exp(np.cumsum(rng.normal(0, 0.02, 400))),
            index=pd.date_range(f"2020-01-01 {clock}", periods=400, freq="D", tz="UTC"),
        )
        for symbol, clock in (("AAA", "23:59:59.999"), ("BBB", "16:00:00.123"))
    }
    asked: list[tuple[str, pd.Timestamp, pd.Timestamp | None]] = []

    class Recording:
        name = "recording"

        def allows(self, symbol: str, decided_at: pd.Timestamp, fill_bar_at: pd.Timestamp | None = None) -> bool:
            asked.append((symbol, decided_at, fill_bar_at))
            return True

    strategy_trades(closes, closes["AAA"].index[0], 5.0, Judged(Recording()).allows)
    assert {symbol for symbol, _, _ in asked} == {"AAA", "BBB"}
    for symbol, decided_at, fill_bar_at in asked:
        bars = set(closes[symbol].index)
        assert decided_at in bars and (fill_bar_at is None or fill_bar_at in bars), (symbol, decided_at)
