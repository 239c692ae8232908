"""Kill tests of a mutation audit of running a backtest (investiq/ops/backtest/run.py: which trades, which filters,
what the notes say). Each test fails with the mutant its docstring names applied, and passes on the code as it
is; every other test survived that mutant. Nothing trains and no bootstrap runs: the bars' loader, the stand-in
strategies, the filters, the analysis and the report's writer are recording fakes (the figures are tested
elsewhere; here, what `backtest` hands them and the notes it writes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pytest

from investiq.core.errors import DataError
from investiq.core.market import SpacingError
from investiq.core.settings import Settings
from investiq.ops.backtest import filters, report, run
from investiq.ops.backtest.analysis import Analysis
from investiq.ops.backtest.config import BacktestConfig
from investiq.ops.backtest.run import SIGNAL_LEVEL, Request, backtest, closes_at, closes_of, not_run, window_start
from investiq.ops.backtest.trades import JournalTrades, Trade
from investiq.ops.patchtst import Bars

BARS = Bars("csv", ("AAA", "BBB"), 0, "1d", Path("bars.csv"))
DAYS = pd.bdate_range("2020-01-01", periods=10, tz="UTC")
CONFIG = BacktestConfig(
    min_trades=3, cost_bps=7.5, seed=11, price_budget_s=42.0, price_window_stride=4, price_epochs=9
)
ANALYSIS_NOTE = "the analysis' own note"


def trade(strategy: str = "trend", pnl: float = 0.01, open_at_end: bool = False) -> Trade:
    return Trade(strategy, "AAA", 1.0, 2.0, pnl, open_at_end=open_at_end)


class Fakes:
    """What `backtest` handed the strategies, the filters and the analysis."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, trades: list[Trade]) -> None:
        self.trades = trades
        self.strategy_calls: list[tuple[Any, ...]] = []
        self.price: dict[str, Any] = {}
        self.sentiment: dict[str, Any] = {}
        self.analysed: dict[str, Any] = {}
        series = {s: (np.linspace(1.0, 2.0, len(DAYS)), DAYS.tz_localize(None).to_numpy()) for s in BARS.symbols}
        monkeypatch.setattr(run, "load_series", lambda settings, bars, log: series)
        monkeypatch.setattr(run, "strategy_trades", self.strategy_trades)
        monkeypatch.setattr(run, "analyse", self.analyse)
        monkeypatch.setattr(report, "write", lambda out, analysis, config, command: {})
        monkeypatch.setattr(filters, "price_filter", self.price_filter)
        monkeypatch.setattr(filters, "sentiment_filter", self.sentiment_filter)

    def strategy_trades(self, *args: Any) -> list[Trade]:
        self.strategy_calls.append(args)
        return self.trades

    def price_filter(self, *args: Any, **kwargs: Any) -> str:
        self.price.update(kwargs, args=args)
        return "price filter"

    def sentiment_filter(self, *args: Any, **kwargs: Any) -> str:
        self.sentiment.update(kwargs, args=args)
        return "sentiment filter"

    def analyse(self, trades: list[Trade], chosen: list[Any], *rest: Any) -> Analysis:
        self.analysed.update(trades=trades, filters=list(chosen), replay=rest[3], closes=rest[4])
        return Analysis(trades, [], [], [], [], {}, pd.DatetimeIndex([]), notes=[ANALYSIS_NOTE])


def journal_of(monkeypatch: pytest.MonkeyPatch, trades: list[Trade], **more: Any) -> None:
    found = JournalTrades(trades, more.pop("skipped", {}), 0, **more)
    monkeypatch.setattr(run, "read_journal", lambda path, busy_timeout_ms: found)


def test_a_history_fraction_of_one_starts_the_window_at_the_last_bar():
    """run.py:window_start: the `min(..., len(times) - 1)` bound dropped (a fraction of 1.0, which BacktestConfig
    takes, indexed past the last bar: IndexError)."""
    closes = {"A": pd.Series(1.0, index=DAYS[:6]), "B": pd.Series(1.0, index=DAYS[4:])}
    assert window_start(closes, 1.0) == DAYS[-1]


def test_closes_at_names_the_trades_still_open_with_their_signed_pnl():
    """run.py:closes_at: `if t.open_at_end` as `if not t.open_at_end` (the note on trades closed at the last bar
    listed every other trade instead)."""
    trades = [trade("trend", 0.015, open_at_end=True), trade("reversion", 0.2), trade("breakout", -0.004, True)]
    assert closes_at(trades) == "trend AAA +0.015, breakout AAA -0.004"


def test_not_run_is_silent_when_every_filter_ran():
    """run.py:not_run: `headlines is not None` as `is None` (a run with --headlines said the sentiment filter did
    not run), or the `if not missing: return []` guard dropped (a run with both filters said "not run ...: ")."""
    assert not_run(Request(bars=BARS, price_filter=True, headlines=Path("news.csv"))) == []


def test_not_run_names_both_filters_a_bar_run_left_out():
    """run.py:not_run: the reasons "--no-price-filter" / "no bars" swapped (a bar run without the price filter
    was told it had no bars)."""
    assert not_run(Request(bars=BARS)) == [
        "not run, so nothing here tests them: the sentiment filter (no --headlines) and the P(up) price filter "
        "(--no-price-filter)"
    ]


def test_not_run_says_it_of_one_filter_left_out():
    """run.py:not_run: `len(missing) > 1` as `>= 1` (one filter left out was told as "them")."""
    assert not_run(Request(db_path=Path("p.db"), headlines=Path("news.csv"))) == [
        "not run, so nothing here tests it: the P(up) price filter (no bars)"
    ]


def test_the_note_counts_only_the_trades_still_open_on_the_last_bar(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path
):
    """run.py:backtest: `sum(t.open_at_end ...)` as `len(trades)` (every trade was told as still open on the last
    bar, and a run with none open said so too)."""
    fakes = Fakes(monkeypatch, [trade(), trade("trend", 0.015, open_at_end=True), trade()])
    notes = backtest(settings, Request(bars=BARS, config=CONFIG), tmp_path, print, progress=False).notes
    assert [n for n in notes if "still open" in n] == [
        "1 trades still open on the last bar closed at its close (trend AAA +0.015), exit cost paid: left out, "
        "the rules' figures would lean by what each leaves open"
    ]
    fakes.trades[:] = [trade()] * 3
    notes = backtest(settings, Request(bars=BARS, config=CONFIG), tmp_path, print, progress=False).notes
    assert not [n for n in notes if "still open" in n]


def test_exactly_min_trades_are_enough(monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path):
    """run.py:backtest: `len(trades) < config.min_trades` as `<=` (a run with exactly the minimum was refused); the
    trades posted to /bayesian/update dropped from the refusal (`posted_note`)."""
    journal_of(monkeypatch, [trade()] * 3)
    Fakes(monkeypatch, [])
    backtest(settings, Request(db_path=tmp_path / "p.db", config=CONFIG), tmp_path, print, progress=False)
    journal_of(monkeypatch, [trade()] * 2, posted=4)
    with pytest.raises(DataError, match=r"only 2 closed trades .* at least 3 needed") as raised:
        backtest(settings, Request(db_path=tmp_path / "p.db", config=CONFIG), tmp_path, print, progress=False)
    assert "(4 trades posted to /bayesian/update are in the journal" in str(raised.value)


def test_too_few_bar_trades_are_told_to_use_more_history(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path
):
    """run.py:backtest: the advice's `request.bars is not None` as `is None` (a bar run was told to add trades to
    the agent's table)."""
    Fakes(monkeypatch, [trade()] * 2)
    with pytest.raises(DataError, match=r"use a longer history \(--days\) or more symbols$"):
        backtest(settings, Request(bars=BARS, config=CONFIG), tmp_path, print, progress=False)


def test_a_journal_runs_notes_name_the_rows_left_out_and_come_before_the_analysis(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path
):
    """run.py:backtest: the notes of the rows read_journal left out dropped; `analysis.notes[:0] = notes` as
    `+=` (the run's notes after the analysis' own); SIGNAL_LEVEL said of a journal's trades, which a filter deletes
    (`filters and replay is not None` as `filters`); or `progress` not passed to the sentiment filter (a progress
    bar's frames in a log)."""
    journal_of(monkeypatch, [trade()] * 3, skipped={"no closed_at": 2})
    fakes = Fakes(monkeypatch, [])
    request = Request(db_path=tmp_path / "p.db", headlines=tmp_path / "news.csv", config=CONFIG)
    notes = backtest(settings, request, tmp_path, print, progress=False).notes
    assert "2 rows left out: no closed_at" in notes
    assert notes[-1] == ANALYSIS_NOTE and notes[0].startswith(f"closed trades of {tmp_path / 'p.db'}")
    assert SIGNAL_LEVEL not in notes
    assert fakes.analysed["filters"] == ["sentiment filter"]
    assert fakes.analysed["replay"] is None and fakes.analysed["closes"] is None
    assert fakes.sentiment == {"args": (tmp_path / "news.csv", settings), "progress": False}


def test_a_bar_run_hands_its_costs_replay_closes_and_price_filter_settings_on(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path
):
    """run.py:backtest: the strategies' cost as 0 (`config.cost_bps` not passed); replay None (a refused signal
    deleted, not re-entered later); closes not passed to analyse (no buy-and-hold baseline); the price filter's
    seed, budget or progress not passed, or window_stride and epochs swapped in its TrainConfig."""
    fakes = Fakes(monkeypatch, [trade()] * 3)
    request = Request(bars=BARS, price_filter=True, config=CONFIG)
    notes = backtest(settings, request, tmp_path, print, progress=False).notes
    start = DAYS[6]  # 60% of 10 bar times
    closes, start_seen, cost = fakes.strategy_calls[0]
    assert (start_seen, cost) == (start, 7.5)
    replay = fakes.analysed["replay"]
    assert replay is not None
    replay()
    assert fakes.strategy_calls[1][1:] == (start, 7.5)
    assert fakes.analysed["closes"] is closes and list(closes) == ["AAA", "BBB"]
    assert fakes.analysed["filters"] == ["price filter"] and SIGNAL_LEVEL in notes
    price = fakes.price
    assert (price["seed"], price["budget_s"], price["progress"]) == (11, 42.0, False)
    assert price["work_dir"] == settings.models_dir / "backtest"
    assert (price["config"].window_stride, price["config"].epochs) == (4, 9)


@pytest.mark.parametrize(
    ("looks_like", "said"), [("1h", "1h bars"), (None, "of no interval InvestIQ takes")], ids=["hourly", "none"]
)
def test_bars_that_are_not_daily_are_told_what_they_look_like(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, looks_like: str | None, said: str
):
    """run.py:closes_of: the `if exc.looks_like` branches swapped (hourly bars were told "None bars" / bars of no
    interval were told as "1h bars")."""

    def spaced(*_: Any) -> Any:
        raise SpacingError("AAA", "1d", pd.Timedelta(hours=1), looks_like)

    monkeypatch.setattr(run, "load_series", spaced)
    with pytest.raises(DataError, match=rf"those of AAA are 0 days 01:00:00 apart \(median\), {said}; give it"):
        closes_of(settings, BARS, print)


def test_closes_are_indexed_by_utc_bar_time(monkeypatch: pytest.MonkeyPatch, settings: Settings):
    """run.py:closes_of: `utc=True` dropped (closes indexed by naive times, compared with the UTC times of
    headlines and forecasts)."""
    naive = DAYS[:3].tz_localize(None).to_numpy()  # as market.as_series hands them: UTC, without a zone
    monkeypatch.setattr(run, "load_series", lambda *_: {"AAA": (np.ones(3), naive)})
    closes = closes_of(settings, BARS, print)
    assert str(closes["AAA"].index.tz) == "UTC" and closes["AAA"].index[0] == DAYS[0]
