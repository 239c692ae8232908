"""Kill tests of a mutation audit of `investiq report` (investiq/ops/report.py, report_data.py, report_plots.py):
each fails with the mutant its docstring names applied, and passes on the code as it is."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gateway.services.bayesian import BayesianService, TradeOutcome
from gateway.wiring import bayes_config
from investiq.core.journal import JournalWriter, connect, open_journal
from investiq.core.journal.predictions import insert_sentiment
from investiq.core.journal.timestamps import iso
from investiq.core.settings import Settings
from investiq.ops import report, report_plots
from investiq.ops.report import ReportError, is_journal_report, markdown, write_report
from investiq.ops.report_data import JournalView, read
from tests.fakes import Clock
from tests.ops.test_report import journal, noon, price, sentiment  # noqa: F401  (journal: a fixture)
from tests.ops.test_report_fixes import _journal, _report


def _trades(db: Path, outcomes: list[TradeOutcome]) -> None:
    """`outcomes` learnt by the gateway's own service, in a journal at `db` (created if need be)."""
    if not db.exists():
        open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    service = BayesianService(writer, db, bayes_config(Settings()), clock=Clock(time.time()))

    async def learn() -> None:
        for o in outcomes:
            await service.update(o)

    asyncio.run(learn())
    writer.close()


def _view(db: Path, days: int, now: datetime) -> JournalView:
    """The report's view of `db`, read as write_report reads it."""
    settings = Settings(db_path=db)
    service = BayesianService(JournalWriter(db), db, bayes_config(settings))
    conn = connect(db, readonly=True)
    try:
        return read(conn, service, days, now)
    finally:
        conn.close()


def _numbers(db: Path, tmp_path: Path, days: int = 30, now: datetime | None = None) -> dict[str, Any]:
    return write_report(Settings(db_path=db), tmp_path / "report", days, now)


def _day(ts: float) -> date:
    return datetime.fromtimestamp(ts, timezone.utc).date()


# ---- report.py


def test_a_journal_without_the_gateways_tables_is_told_so(tmp_path: Path):
    """report.py:write_report: `found == 0` as `found < 0`, a file with none of the gateway's tables was told it is
    at schema version 0, as if it were an old journal to migrate."""
    bare = tmp_path / "agent.db"
    sqlite3.connect(bare).close()
    with pytest.raises(ReportError, match="has none of the gateway's tables"):
        write_report(Settings(db_path=bare), tmp_path / "report", 30)


def test_the_journal_connection_is_closed_after_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """report.py:write_report: `conn.close()` dropped, every report left a connection to the journal open."""
    db = _journal(tmp_path, [price(noon(2), "v1", "up")], [(1, 102.0, True)])
    opened: list[sqlite3.Connection] = []
    real = connect

    def recording(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        opened.append(real(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr("investiq.ops.report.connect", recording)
    _numbers(db, tmp_path)
    assert len(opened) == 1
    with pytest.raises(sqlite3.ProgrammingError):
        opened[0].execute("SELECT 1")


def test_a_folder_of_another_kind_of_report_is_not_taken_for_a_journal_report(tmp_path: Path):
    """report.py:is_journal_report: the check of report.json's keys dropped, `report --out` replaced an evaluation
    report (report.json and report.md only) as if it were an earlier journal report."""
    (tmp_path / "report.json").write_text(json.dumps({"model_version": "v1", "interval": "1d"}))
    (tmp_path / "report.md").write_text("# Evaluation")
    assert not is_journal_report(tmp_path)
    (tmp_path / "report.json").write_text(json.dumps({"journal": "x", "window_days": 90, "price": {}}))
    assert is_journal_report(tmp_path)


def test_a_folder_whose_report_json_is_not_json_is_not_a_journal_report(tmp_path: Path):
    """report.py:is_journal_report: ValueError no longer caught, a report.json that is not JSON ended
    `report --out` in a traceback."""
    (tmp_path / "report.json").write_text("{half a file")
    assert not is_journal_report(tmp_path)


def test_only_the_plots_drawn_are_listed_and_written(tmp_path: Path):
    """report.py:_plots: the `is not None` filter dropped, report.json listed plots that were never drawn (as null)
    and the command said it wrote 4 plots; report_plots.py:hit_rate_plot: `if not view.price_days` dropped, a
    journal of sentiment only got an empty hit-rate plot."""
    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    writer.submit(insert_sentiment([sentiment(noon(2), "positive", 0.5)])).result()
    writer.close()
    numbers = _numbers(db, tmp_path)
    assert numbers["plots"] == {"sentiment": "sentiment.png"}
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["report.json", "report.md", "sentiment.png"]


def test_with_nothing_resolved_there_are_zero_hits_and_no_shares_without_predictions(tmp_path: Path):
    """report.py:_rate: `else 0` as `else None`, "hits" was null with nothing resolved; summary: a label's share
    `else None` as `else 0.0` and mean_score `else None` as `else 0.0`, a journal without sentiment claimed 0 %
    of every label and a mean score of 0."""
    db = _journal(tmp_path, [price(noon(2), "v1", "up")], [])
    numbers = _numbers(db, tmp_path)
    assert numbers["price"]["hits"] == 0 and numbers["price"]["by_version"]["v1"]["hits"] == 0
    s = numbers["sentiment"]
    assert s["mean_score"] is None and {v["share"] for v in s["labels"].values()} == {None}


def test_versions_with_no_symbol_worse_are_left_out_of_the_lists(journal: Path, tmp_path: Path):  # noqa: F811
    """report.py:summary: the `if w` filter dropped, symbols_worse_than_random_walk listed every version, each
    with an empty list."""
    numbers = _numbers(journal, tmp_path)
    assert numbers["price"]["symbols_worse_than_random_walk"] == {}
    assert numbers["price"]["symbols_worse_all_judged"] == {}


def test_a_strategys_win_rate_is_its_posterior_not_its_weight(journal: Path, tmp_path: Path):  # noqa: F811
    """report.py:summary: "win_rate" from the weight, a strategy winning 8 of 8 showed a win rate of its share of
    the allocation."""
    w = _numbers(journal, tmp_path)["strategies"]["weights"]
    assert w["momentum"]["win_rate"] > 0.8 > w["momentum"]["weight"]
    assert w["meanrev"]["win_rate"] != pytest.approx(w["meanrev"]["weight"])


def test_the_version_table_shows_forecasts_scored_beside_rows_resolved(tmp_path: Path):
    """report.py:markdown: the table's scored column filled from resolved, a forecast asked twice showed as two
    scored."""
    again = replace(price(noon(2) + 60, "v1", "up"), last_bar_time=iso(noon(2)))  # the same bar, asked again
    db = _journal(tmp_path, [price(noon(2), "v1", "up"), again], [(1, 102.0, True), (2, 102.0, True)])
    numbers, md = _report(db, tmp_path)
    assert (numbers["price"]["resolved"], numbers["price"]["scored"]) == (2, 1)
    line = next(line for line in md.splitlines() if line.startswith("| v1 |"))  # the version table's, first
    assert line.split(" | ")[2:5] == ["2", "2", "1"]  # forecasts, resolved, scored


def test_report_md_names_the_symbols_worse_with_all_judged_together(journal: Path, tmp_path: Path):  # noqa: F811
    """report.py:markdown: the per-symbol list (95 % each) in place of the Bonferroni one, report.md named a
    symbol that /price/health does not degrade on."""
    numbers = _numbers(journal, tmp_path)
    p = numbers["price"]
    p["symbols_judged"] = {"v1": 20}
    p["symbols_worse_than_random_walk"] = {"v1": {"LUCKY": [1.2, 1.01, 1.4], "BAD": [2.0, 1.8, 2.2]}}
    p["symbols_worse_all_judged"] = {"v1": {"BAD": [2.0, 1.8, 2.2]}}
    md = markdown(numbers)
    assert "- v1: 1 of 20 symbols judged: BAD 2.000 [1.800, 2.200]" in md and "LUCKY" not in md


def test_no_unscorable_line_when_every_forecast_could_be_scored(journal: Path, tmp_path: Path):  # noqa: F811
    """report.py:markdown: `if p["unscorable"]` always true, every report said "0 resolved forecasts ... could not
    be scored"."""
    md = (tmp_path / "report" / "report.md") if _numbers(journal, tmp_path) else None
    assert md is not None and "could not be scored" not in md.read_text()


def test_twenty_strategies_are_all_in_the_table(journal: Path, tmp_path: Path):  # noqa: F811
    """report.py:markdown: `len(ranked) <= 2 * TABLE_ENDS` as `<`, exactly 20 strategies showed a row
    "… 0 more"."""
    numbers = _numbers(journal, tmp_path)
    numbers["strategies"]["weights"] = {
        f"s{i:02d}": {"weight": 0.05, "wins": 1, "losses": 1, "win_rate": 0.5} for i in range(20)
    }
    md = markdown(numbers)
    assert "more (report.json lists them all)" not in md
    assert sum(1 for line in md.splitlines() if re.match(r"\| s\d\d \|", line)) == 20


def test_the_skill_table_puts_each_figure_in_its_column():
    """report.py:_skill_lines: the Brier skill in the "vs a coin" column, or the 80 % and 90 % coverages swapped,
    report.md's live-skill table misstated them."""

    def f(value: float) -> dict[str, Any]:
        return {"value": value, "ci95": None}

    skill = {
        "n": 3,
        "buckets": 2,
        "mae_ratio": f(1.25),
        "brier_skill": f(0.1),
        "brier_skill_vs_coin": f(0.2),
        "coverage80": f(0.81),
        "coverage90": f(0.92),
    }
    lines = report._skill_lines({"v1": skill}, None)
    assert "| v1 | 3 | 2 | 1.250 | +0.100 | +0.200 | 0.810 | 0.920 |" in lines


def test_no_symbol_lines_when_no_symbol_could_be_judged():
    """report.py:_worse_lines: the `if k` filter or `if not judged: return []` dropped, a version with no symbol
    judged (too few periods) showed "0 of 0 symbols judged" or a heading over nothing."""
    assert report._worse_lines({"v1": 0, "v2": 0}, {}) == []


def test_a_worse_symbol_is_named_with_its_interval_low_to_high():
    """report.py:_worse_lines: low and high swapped, the interval read [high, low]."""
    lines = report._worse_lines({"v1": 2}, {"v1": {"BAD": [1.5, 1.2, 1.9]}})
    assert "- v1: 1 of 2 symbols judged: BAD 1.500 [1.200, 1.900]" in lines


def test_a_figure_that_is_not_a_number_reads_as_a_dash():
    """report.py:_f: the isnan check dropped, a NaN figure read "nan" in report.md."""
    assert report._f(float("nan")) == "–" and report._f(None) == "–" and report._f(0.5) == "0.500"


# ---- report_data.py


def test_weights_learnt_before_the_window_are_reported(tmp_path: Path):
    """report_data.py:JournalView.empty: `or self.latest` dropped, a journal whose trades all closed before the
    window said "Nothing to report yet" while the gateway serves their weights."""
    db = tmp_path / "portfolio.db"
    _trades(db, [TradeOutcome(n, n == "a", 1.0 if n == "a" else -1.0, noon(10)) for n in ("a", "b")])
    numbers, md = _report(db, tmp_path, "--days", "2")
    assert numbers["empty"] is False and numbers["strategies"]["trades_in_window"] == 0
    assert "Nothing to report yet" not in md and "| a |" in md


def test_the_day_axis_runs_from_the_first_trade_to_today(tmp_path: Path):
    """report_data.py:JournalView.days: the weight days left out, or the range one short, the plots' axis began
    today for a journal of trades only, or ended yesterday."""
    db = tmp_path / "portfolio.db"
    _trades(db, [TradeOutcome("a", True, 1.0, noon(3)), TradeOutcome("b", False, -1.0, noon(3) + 60)])
    now = datetime.now(timezone.utc)
    days = _view(db, 30, now).days()
    assert days[0] == _day(noon(3)) and days[-1] == now.date() and len(days) == 4


def test_the_read_transaction_is_ended(tmp_path: Path):
    """report_data.py:read: the ROLLBACK dropped, the caller's connection stayed in a read transaction, pinning its
    snapshot of the journal (the WAL cannot be checkpointed past it)."""
    db = _journal(tmp_path, [price(noon(2), "v1", "up")], [(1, 102.0, True)])
    settings = Settings(db_path=db)
    conn = connect(db, readonly=True)
    try:
        read(conn, BayesianService(JournalWriter(db), db, bayes_config(settings)), 30, datetime.now(timezone.utc))
        assert not conn.in_transaction
    finally:
        conn.close()


def test_a_trade_closed_at_the_windows_start_is_in_the_window(tmp_path: Path):
    """report_data.py:_read: `closed_ts >= since` as `>`, a trade closed at the first instant of the window was not
    counted as one of the window's trades."""
    db = tmp_path / "portfolio.db"
    start = float(int(noon(5)))
    _trades(db, [TradeOutcome("a", True, 1.0, start)])
    now = datetime.fromtimestamp(start, timezone.utc) + timedelta(days=2)
    assert _numbers(db, tmp_path, days=2, now=now)["strategies"]["trades_in_window"] == 1


def test_a_version_whose_forecasts_could_not_be_scored_has_no_live_skill(tmp_path: Path):
    """report_data.py:_scored: the `if book.add(...)` test dropped, a version with no forecast that could be scored
    got a live-skill row and a row of symbols judged."""
    rows = [price(noon(3), "v1", "up"), replace(price(noon(2), "v2", "up"), last_price=0.0)]
    db = _journal(tmp_path, rows, [(1, 102.0, True), (2, 102.0, True)])
    p = _numbers(db, tmp_path)["price"]
    assert set(p["skill"]) == {"v1"} and set(p["symbols_judged"]) == {"v1"}


def test_a_symbol_no_worse_than_the_random_walk_is_not_named(tmp_path: Path):
    """report_data.py:_worse: the interval's upper end tested in place of its lower, a symbol whose interval
    straddles 1 was listed as worse than the random walk."""
    days, rng = 40, np.random.default_rng(3)
    rows = [
        replace(price(noon(days - d), "v1", "up"), symbol=s, predicted_price=p)
        for s, p in (("BAD", 101.0), ("OK", 100.01))
        for d in range(days)
    ]
    actual = 100.0 + rng.normal(0, 0.4, days)
    db = _journal(tmp_path, rows, [(i + 1, float(actual[i % days]), None) for i in range(len(rows))])
    worse = _numbers(db, tmp_path, days=days + 5)["price"]["symbols_worse_than_random_walk"]
    assert list(worse["v1"]) == ["BAD"]


def test_a_symbol_without_an_interval_is_not_counted_as_judged(journal: Path, tmp_path: Path):  # noqa: F811
    """report_data.py:_worse_all_judged: the `ci95 is not None` test dropped, a symbol of 3 forecasts (no interval
    yet) was counted as judged: "0 of 1 symbol judged"."""
    numbers, md = _report(journal, tmp_path)
    assert numbers["price"]["symbols_judged"] == {"v1": 0, "v2": 0} and "judged" not in md


def test_a_row_whose_time_sqlite_cannot_read_is_skipped(tmp_path: Path):
    """report_data.py:_price: the `r["day"] is None` test dropped, one row with an unreadable created_at ended the
    report in a TypeError."""
    rows = [price(noon(2), "v1", "up"), replace(price(noon(2), "v1", "up"), created_at="not a time")]
    db = _journal(tmp_path, rows, [])
    assert _numbers(db, tmp_path)["price"]["forecasts"] == 1


def test_a_trade_closed_at_the_very_moment_of_the_report_is_in_the_last_days_weights(tmp_path: Path):
    """report_data.py:_replay: `closed_ts <= end` as `<`, a trade closed at the report's `now` (or at midnight) was
    left out of that day's weights, and the last day disagreed with what the gateway serves."""
    db = tmp_path / "portfolio.db"
    at = float(int(noon(1)))
    _trades(db, [TradeOutcome("a", True, 1.0, at - 86_400), TradeOutcome("b", True, 1.0, at)])  # over two days
    w = _numbers(db, tmp_path, now=datetime.fromtimestamp(at, timezone.utc))["strategies"]
    last = w["weights_by_day"][max(w["weights_by_day"])]
    assert set(last) == {"a", "b"}
    for name, now in w["weights"].items():
        assert last[name] == pytest.approx(now["weight"], abs=1e-9)


def test_the_daily_weights_start_at_the_first_trade(tmp_path: Path):
    """report_data.py:_read: the `if w` filter of weight_days dropped, report.json's weights_by_day listed every
    day of the window before the first trade, each with no weights."""
    db = tmp_path / "portfolio.db"
    _trades(db, [TradeOutcome("a", True, 1.0, noon(2))])
    by_day = _numbers(db, tmp_path)["strategies"]["weights_by_day"]
    assert min(by_day) == _day(noon(2)).isoformat() and all(by_day.values())


def test_the_last_days_forecasts_are_in_by_day(journal: Path, tmp_path: Path):  # noqa: F811
    """report_data.py:_scored: the flush after the last row dropped, the newest day's forecasts were missing from
    by_day (scored 0, no hit rate) and from the hit-rate plot."""
    by_day = _numbers(journal, tmp_path)["price"]["by_day"]
    last = by_day[_day(noon(1)).isoformat()]
    assert (last["scored"], last["hit_rate"]) == (1, 1.0)
    assert sum(d["scored"] for d in by_day.values()) == 4


# ---- report_plots.py


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The axes of each figure report_plots saves, by file name, read before the figure is closed."""
    figures: dict[str, Any] = {}
    real = report_plots._save

    def save(fig: Any, out: Path, name: str) -> str:
        figures[name] = fig.axes
        return real(fig, out, name)

    monkeypatch.setattr(report_plots, "_save", save)
    return figures


def test_the_hit_rate_plot_draws_the_running_rates_and_the_pending_requests(tmp_path: Path, drawn: dict[str, Any]):
    """report_plots.py:hit_rate_plot: the "since the window's start" line (or its always-up line) drawn from each
    day's own forecasts; the pending bars counting every request, or drawn from 0 over the scored ones."""
    rows = [price(noon(3), "v1", "up"), price(noon(3) - 3600, "v1", "up")]  # both right, both up moves
    rows += [price(noon(2), "v1", "up"), price(noon(2) - 3600, "v1", "up"), price(noon(2) - 7200, "v1", "up")]
    db = _journal(tmp_path, rows, [(1, 102.0, True), (2, 102.0, True), (3, 98.0, False), (4, 98.0, False)])
    view = _view(db, 30, datetime.now(timezone.utc))
    assert report_plots.hit_rate_plot(view, view.days(), tmp_path) == "price_hit_rate.png"
    top, bottom = drawn["price_hit_rate.png"]
    lines = {line.get_label(): list(line.get_ydata()) for line in top.lines}
    assert lines["since the window's start"] == [1.0, 0.5] and lines["that day's forecasts"] == [1.0, 0.0]
    assert lines["always up on the same calls, since the window's start"] == [1.0, 0.5]
    scored, pending = ([p.get_height() for p in c.patches] for c in bottom.containers)
    assert scored[:2] == [2, 2] and pending[:2] == [0, 1]
    assert [p.get_y() for p in bottom.containers[1].patches][:2] == [2, 2]  # stacked on the scored


class _Versions:
    """A view of forecasts by `len(changes)` model versions, none resolved, for the version marks."""

    def __init__(self, changes: list[tuple[date, str]]) -> None:
        from investiq.ops.report_data import Tally

        self.version_changes = changes
        self.price_days = {d: Tally(1, 0) for d, _ in changes}
        self.scored_by_day: dict[date, Any] = {}
        self.scored_until_day: dict[date, Any] = {}


def _marks(tmp_path: Path, drawn: dict[str, Any], changes: list[tuple[date, str]]) -> tuple[list[str], list[str]]:
    first = changes[0][0]
    days = [first + timedelta(days=i) for i in range((changes[-1][0] - first).days + 1)]
    report_plots.hit_rate_plot(_Versions(changes), days, tmp_path)  # type: ignore[arg-type]
    top = drawn["price_hit_rate.png"][0]
    names = [t.get_text() for t in top.texts if hasattr(t, "xyann")]  # annotations
    notes = [t.get_text() for t in top.texts if not hasattr(t, "xyann")]
    return names, notes


def test_eight_versions_are_named_on_the_hit_rate_plot(tmp_path: Path, drawn: dict[str, Any]):
    """report_plots.py:hit_rate_plot: `<= MAX_MARKED` as `<`, exactly 8 versions, well apart, went unnamed."""
    start = date(2026, 1, 1)
    names, notes = _marks(tmp_path, drawn, [(start + timedelta(days=10 * i), f"v{i}") for i in range(8)])
    assert names == [f"v{i}" for i in range(8)] and not any("model versions" in n for n in notes)


def test_versions_of_one_day_are_named_once_and_counted(tmp_path: Path, drawn: dict[str, Any]):
    """report_plots.py:hit_rate_plot: the NAME_SPACING test dropped, three versions of one day were written on top
    of one another, one blot."""
    day = date(2026, 1, 1)
    names, notes = _marks(
        tmp_path, drawn, [(day, "v0"), (day, "v1"), (day, "v2"), (day + timedelta(days=9), "v3")]
    )
    assert names == ["v0", "v3"] and any(n.startswith("4 model versions") for n in notes)


class _Sentiment:
    def __init__(self) -> None:
        self.sentiment_days = {date(2026, 1, 1): {"positive": 2, "neutral": 1, "negative": 1}}
        self.scores = np.array([0.5, 0.4, 0.0, -0.6])


def test_sentiment_bars_are_stacked_and_every_score_is_in_the_histogram(tmp_path: Path, drawn: dict[str, Any]):
    """report_plots.py:sentiment_plot: `below += counts` dropped, the labels' bars hid one another; the histogram's
    bins from 0, the negative scores were left out of it."""
    report_plots.sentiment_plot(_Sentiment(), [date(2026, 1, 1)], tmp_path)  # type: ignore[arg-type]
    left, right = drawn["sentiment.png"]
    assert [c.patches[0].get_y() for c in left.containers] == [0, 2, 3]  # positive, neutral, negative
    assert sum(p.get_height() for p in right.patches) == 4


class _Weights:
    def __init__(self) -> None:
        self.weight_days = {date(2026, 1, 1): {"a": 0.5, "b": 0.5}, date(2026, 1, 2): {"a": 0.6, "b": 0.4}}


def test_the_weights_axis_ends_above_the_highest_weight_and_names_no_grey_lines(
    tmp_path: Path, drawn: dict[str, Any]
):
    """report_plots.py:weights_plot: HEADROOM 1.1 as 1.0, the highest weight lay on the frame; grey_others: `if n`
    dropped, the legend read "0 other strategies (grey)"."""
    report_plots.weights_plot(_Weights(), [date(2026, 1, 1), date(2026, 1, 2)], tmp_path)  # type: ignore[arg-type]
    (ax,) = drawn["strategy_weights.png"]
    assert ax.get_ylim()[1] == pytest.approx(0.66)
    assert ax.get_legend_handles_labels()[1] == ["a", "b"]


def test_the_window_is_the_last_days_days(tmp_path: Path):
    """report.py:write_report: the journal read over `days + 1` days, `--days 2` reported a forecast made 2 days
    and a minute before the report."""
    now = datetime.fromtimestamp(noon(0), timezone.utc)
    db = _journal(tmp_path, [price(noon(2) - 60, "v1", "up"), price(noon(1), "v1", "up")], [])
    numbers = _numbers(db, tmp_path, days=2, now=now)
    assert (
        numbers["price"]["forecasts"] == 1 and numbers["period"]["start"] == (now - timedelta(days=2)).isoformat()
    )


def test_no_sentiment_plot_without_a_sentiment_day(tmp_path: Path):
    """report_plots.py:sentiment_plot: drawn when there are scores but no day to place them on (headlines whose
    created_at SQLite cannot read), a sentiment.png beside a report.md that says there are no predictions."""
    db = _journal(tmp_path, [price(noon(2), "v1", "up")], [])
    writer = JournalWriter(db)
    writer.start()
    writer.submit(
        insert_sentiment([replace(sentiment(noon(2), "positive", 0.5), created_at="not a time")])
    ).result()
    writer.close()
    numbers = _numbers(db, tmp_path)
    assert "sentiment" not in numbers["plots"] and numbers["sentiment"]["predictions"] == 0
