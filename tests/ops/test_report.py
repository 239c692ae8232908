"""`investiq report` on a real journal built with the journal's own code: numbers, plots, empty and missing."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from contextlib import closing
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from matplotlib.image import imread

from gateway.services.bayesian import BayesianService, TradeOutcome
from gateway.wiring import bayes_config
from investiq.cli.main import main
from investiq.core.journal import JournalWriter, open_journal
from investiq.core.journal.predictions import PriceRow, SentimentRow, insert_price, insert_sentiment, resolve_price
from investiq.core.journal.timestamps import iso
from investiq.core.settings import Settings
from tests.fakes import Clock

PNG = b"\x89PNG\r\n\x1a\n"


def noon(days_ago: int) -> float:
    """Epoch seconds at 12:00 UTC `days_ago` days ago: well inside one UTC day, whatever the hour now."""
    today = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    return (today - timedelta(days=days_ago)).timestamp()


def price(ts: float, version: str, direction: str) -> PriceRow:
    return PriceRow(
        iso(ts), "AAPL", "patchtst", version, "1d", 1, 100.0, iso(ts), 101.0, 0.01, direction, 0.6, "[]",
        iso(ts + 86_400), 3.0,
    )  # fmt: skip


def sentiment(ts: float, label: str, score: float) -> SentimentRow:
    return SentimentRow(iso(ts), "AAPL", "news", label, 0.8, score, 0.5, 0.2, 0.3, "finbert", "1", 4.0, False)


def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["report", *args])


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    """Four resolved forecasts (3 right, 2 of them up moves) over two model versions, one pending, one
    outside the window; six sentiment predictions; a strategy that keeps winning and one that keeps losing."""
    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    rows = [
        price(noon(4), "v1", "up"),  # actual 101: right, up
        price(noon(4) - 3600, "v1", "up"),  # actual 99: wrong (an hour earlier: another forecast)
        price(noon(3), "v1", "down"),  # actual 98: right
        price(noon(1), "v2", "up"),  # actual 102: right, up
        price(noon(1), "v2", "up"),  # not resolved yet
        price(noon(120), "v0", "up"),  # before the window: actual 90, wrong
    ]
    writer.submit(insert_price(rows)).result()
    outcomes = [(1, 101.0, True), (2, 99.0, False), (3, 98.0, True), (4, 102.0, True), (6, 90.0, False)]
    writer.submit(resolve_price(outcomes, iso(time.time()))).result()
    labels = [("positive", 0.6), ("positive", 0.3), ("positive", 0.9), ("neutral", 0.0), ("neutral", 0.1)]
    writer.submit(insert_sentiment([sentiment(noon(2), *lab) for lab in [*labels, ("negative", -0.7)]])).result()

    service = BayesianService(writer, db, bayes_config(Settings()), clock=Clock(time.time()))

    async def trades() -> None:
        # Day 4: two trades each (too few to be ranked: equal weights). Day 3: six more each.
        for day, count in ((4, 2), (3, 6)):
            for i in range(count):
                ts = noon(day) + 60 * i
                await service.update(TradeOutcome("momentum", True, 10.0, ts))
                await service.update(TradeOutcome("meanrev", i == 0, -5.0 if i else 5.0, ts))

    asyncio.run(trades())
    writer.close()
    return db


def test_flat_forecasts_call_no_direction_and_stay_out_of_the_hit_rate(tmp_path: Path):
    """The random walk's forecasts are flat: scored as calls, they dragged a pooled hit rate down (a probe saw
    0.438 over versions that scored 0.725 and 0.700 alone)."""
    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    rows = [price(noon(4), "rw", "flat"), price(noon(3), "rw", "flat"), price(noon(2), "v2", "up")]
    writer.submit(insert_price(rows)).result()
    writer.submit(resolve_price([(1, 101.0, None), (2, 99.0, None), (3, 102.0, True)], iso(time.time()))).result()
    writer.close()
    out = tmp_path / "report"
    assert run("--db", str(db), "--out", str(out)).exit_code == 0
    p = json.loads((out / "report.json").read_text())["price"]
    assert (p["resolved"], p["calls"], p["hits"], p["hit_rate"]) == (3, 1, 1, 1.0)
    rw = p["by_version"]["rw"]
    assert (rw["resolved"], rw["calls"], rw["hit_rate"]) == (2, 0, None)
    md = (out / "report.md").read_text()
    assert "(1 of 1 directional calls; 2 flat, no direction called, left out)" in md


def test_report_numbers_plots_and_replayed_weights(journal: Path, tmp_path: Path):
    out = tmp_path / "report"
    result = run("--db", str(journal), "--out", str(out))
    assert result.exit_code == 0, result.output
    numbers = json.loads((out / "report.json").read_text())
    md = (out / "report.md").read_text()

    p = numbers["price"]
    assert (p["forecasts"], p["resolved"], p["hits"]) == (5, 4, 3)  # the 120-day-old one is outside
    assert p["hit_rate"] == 0.75 and p["always_up_rate"] == 0.5 and p["edge_over_always_up"] == 0.25
    assert p["ci95"] is None and p["periods"] == 3  # 3 days: too few horizon periods for an interval
    assert (
        "hit rate **0.750** (3 of 4 directional calls), no interval on 3 horizon periods with calls (it needs 10)"
        in md
    )
    assert "always up would have scored 0.500 on the same calls: a difference of +0.250" in md
    v1, v2 = p["by_version"]["v1"], p["by_version"]["v2"]
    assert v1["resolved"] == 3 and v1["hit_rate"] == pytest.approx(2 / 3)
    assert v1["always_up_rate"] == pytest.approx(1 / 3)
    assert (v2["forecasts"], v2["resolved"], v2["hit_rate"]) == (2, 1, 1.0)
    assert "| v1 |" in md and "| 0.667 |" in md and "v0" not in p["by_version"]

    s = numbers["sentiment"]
    assert s["predictions"] == 6 and s["labels"]["positive"] == {"count": 3, "share": 0.5}
    assert s["mean_score"] == pytest.approx((0.6 + 0.3 + 0.9 + 0.0 + 0.1 - 0.7) / 6)
    assert "positive 50.0% (3)" in md and "negative 16.7% (1)" in md

    w = numbers["strategies"]
    assert (w["trades_in_window"], w["trades_total"]) == (16, 16)
    assert w["weights"]["momentum"]["weight"] > w["weights"]["meanrev"]["weight"]
    assert (w["weights"]["momentum"]["wins"], w["weights"]["meanrev"]["losses"]) == (8, 6)
    by_day = w["weights_by_day"]
    first, last = by_day[min(by_day)], by_day[max(by_day)]
    assert first == {"momentum": 0.5, "meanrev": 0.5}  # two trades each: not yet ranked
    # The replay ends where the gateway's own state is: the weights GET /bayesian/weights serves now.
    for name, now in w["weights"].items():
        assert last[name] == pytest.approx(now["weight"], abs=1e-6)

    # Live skill per version: predicted 101 from 100; actual 101, 99, 98 (v1) and 102 (v2).
    skill = p["skill"]
    assert set(skill) == {"v1", "v2"} and skill["v1"]["n"] == 3
    assert skill["v1"]["mae_ratio"]["value"] == pytest.approx((0 + 2 + 3) / (1 + 1 + 2))
    assert skill["v2"]["mae_ratio"]["value"] == pytest.approx(1 / 2)
    assert "| v1 | 3 | 2 | 1.250" in md and "Live skill" in md

    for name in ("price_hit_rate.png", "price_skill.png", "sentiment.png", "strategy_weights.png"):
        assert (out / name).read_bytes()[:8] == PNG
        assert imread(out / name).shape[0] >= 300
        assert f"]({name})" in md


def test_a_short_window_leaves_older_rows_out(journal: Path, tmp_path: Path):
    out = tmp_path / "report"
    assert run("--db", str(journal), "--out", str(out), "--days", "2").exit_code == 0
    numbers = json.loads((out / "report.json").read_text())
    assert (numbers["price"]["forecasts"], numbers["price"]["hit_rate"]) == (2, 1.0)
    assert list(numbers["price"]["by_version"]) == ["v2"]
    # Trades before the window still shape today's weights, as they do in the gateway.
    assert numbers["strategies"]["trades_in_window"] == 0
    assert numbers["strategies"]["weights"]["momentum"]["weight"] > 0.5


def test_empty_journal_says_so_and_replaces_an_old_report(journal: Path, tmp_path: Path):
    out = tmp_path / "report"
    assert run("--db", str(journal), "--out", str(out)).exit_code == 0
    empty = tmp_path / "empty.db"
    open_journal(empty).close()
    result = run("--db", str(empty), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "nothing in the journal" in result.output
    assert "Nothing to report yet" in (out / "report.md").read_text()
    assert json.loads((out / "report.json").read_text())["empty"] is True
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md"]  # no plots, old ones gone


def test_missing_or_uninitialised_journal_is_a_clear_error(tmp_path: Path):
    out = tmp_path / "report"
    result = run("--db", str(tmp_path / "nope.db"), "--out", str(out))
    assert result.exit_code == 1 and "no journal at" in result.output and "investiq db init" in result.output
    bare = tmp_path / "agent.db"
    sqlite3.connect(bare).close()
    result = run("--db", str(bare), "--out", str(out))
    assert result.exit_code == 1 and "investiq db init" in result.output
    assert not out.exists()
    older = tmp_path / "older.db"  # a journal an older release made, not migrated yet: read-only here
    open_journal(older).close()
    with closing(sqlite3.connect(older)) as conn:
        conn.execute("PRAGMA user_version = 7")
    result = run("--db", str(older), "--out", str(out))
    assert result.exit_code == 1 and "is at schema version 7, this release reads" in result.output
    assert "`investiq db init`" in result.output and "no such column" not in result.output


def test_a_report_with_nothing_resolved_draws_without_warnings(tmp_path: Path):
    """Forecasts that are all still pending: the hit-rate panel says so, with no empty legend box and
    no matplotlib 'No artists with labels' warning."""
    import warnings

    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    writer.submit(insert_price([price(noon(1), "v1", "up")])).result()
    writer.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run("--db", str(db), "--out", str(tmp_path / "report"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "price_hit_rate.png").read_bytes()[:8] == PNG


def test_a_forecast_asked_again_counts_once_and_intervals_are_over_horizon_periods(tmp_path: Path):
    """Every journal row was a call: a forecast polled 5 times for its bar counted 5 times, overlapping horizons as
    independent, and an exact binomial interval and McNemar's test on them put a coin-flip model significantly
    below 0.5 in 78 % of a review's runs. The report now counts each forecast once and takes its intervals from
    the live skill's block bootstrap over horizon periods, with a paired interval of the difference from
    always-up."""
    import numpy as np

    from investiq.core.skill import SkillBook
    from investiq.core.skill_outcomes import outcome_of_row

    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    rng = np.random.default_rng(1)
    days = 40
    calls = rng.random(days) < 0.5  # up or down, unrelated to the moves
    rose = rng.random(days) < 0.5
    rows = [  # one bar, polled 5 times a minute apart
        replace(
            price(noon(days - d) + 60 * k, "v1", "up" if calls[d] else "down"), last_bar_time=iso(noon(days - d))
        )
        for d in range(days)
        for k in range(5)
    ]
    writer.submit(insert_price(rows)).result()
    outcomes = [
        (i + 1, 101.0 if rose[d] else 99.0, bool(calls[d] == rose[d]))
        for i, d in enumerate(np.repeat(range(days), 5))
    ]
    writer.submit(resolve_price(outcomes, iso(time.time()))).result()
    writer.close()
    out = tmp_path / "report"
    assert run("--db", str(db), "--out", str(out), "--days", str(days + 5)).exit_code == 0
    p = json.loads((out / "report.json").read_text())["price"]
    assert (p["resolved"], p["scored"], p["calls"], p["periods"]) == (5 * days, days, days, days)
    assert p["hits"] == int(np.sum(calls == rose))
    book = SkillBook()
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        book.add(outcome_of_row(r) for r in conn.execute("SELECT * FROM price_predictions"))
    skill = book.skill(None)
    assert p["ci95"] == list(skill.hit_rate.ci95 or ())
    assert p["edge_ci95"] == list(skill.edge_over_always_up.ci95 or ())
    assert p["ci95"][1] - p["ci95"][0] > 0.25  # 40 periods, not 200 independent calls (0.14 wide)
    md = (out / "report.md").read_text()
    assert f"({4 * days} more resolved rows repeated a forecast already counted: asked again for its bar)" in md


def test_a_backfill_made_in_one_day_draws_its_interval_and_always_up(tmp_path: Path):
    """Forecasts on 30 past bars all made today: one point a line, which a line or a band of one point does not
    draw (an operator's backfill showed a lone dot); drawn as markers and an error bar, without warnings."""
    import warnings

    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    rows = [replace(price(noon(1) - 60 * d, "v1", "up"), last_bar_time=iso(noon(31 - d))) for d in range(30)]
    writer.submit(insert_price(rows)).result()
    outcomes = [(i + 1, 101.0 if i % 3 else 99.0, bool(i % 3)) for i in range(30)]
    writer.submit(resolve_price(outcomes, iso(time.time()))).result()
    writer.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run("--db", str(db), "--out", str(tmp_path / "report")).exit_code == 0
    p = json.loads((tmp_path / "report" / "report.json").read_text())["price"]
    assert p["calls"] == 30 and p["ci95"] is not None and len(p["by_day"]) == 1
    assert (tmp_path / "report" / "price_hit_rate.png").read_bytes()[:8] == PNG


def test_the_report_names_a_symbol_worse_than_the_random_walk(tmp_path: Path):
    """The pooled record does not move for one bad symbol among good ones: the report showed only it, while
    /price/health named the symbol (a walkthrough)."""
    import numpy as np

    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    days, rng = 40, np.random.default_rng(3)
    bad = [replace(price(noon(days - d), "v1", "up"), symbol="BAD") for d in range(days)]  # 101 from 100
    rw = [replace(price(noon(days - d), "v1", "flat"), symbol="RW", predicted_price=100.0) for d in range(days)]
    writer.submit(insert_price(bad + rw)).result()
    actual = 100.0 + rng.normal(0, 0.4, days)
    outcomes = [(i + 1, float(actual[i % days]), None) for i in range(2 * days)]
    writer.submit(resolve_price(outcomes, iso(time.time()))).result()
    writer.close()
    out = tmp_path / "report"
    assert run("--db", str(db), "--out", str(out), "--days", str(days + 5)).exit_code == 0
    worse = json.loads((out / "report.json").read_text())["price"]["symbols_worse_than_random_walk"]
    assert list(worse) == ["v1"] and list(worse["v1"]) == ["BAD"] and worse["v1"]["BAD"][1] > 1
    md = (out / "report.md").read_text()
    assert "- v1: 1 of 2 symbols judged: BAD " in md, md  # with both judged together, as /price/health


def test_a_strategy_name_with_dollar_signs_is_drawn_as_written(tmp_path: Path):
    """Matplotlib read `$...$` in a label as math: a strategy named `$\\bogus{x}$` (a name the agent may send)
    ended the report in a traceback, and wrote none (a review)."""
    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    service = BayesianService(writer, db, bayes_config(Settings()), clock=Clock(time.time()))

    async def trades() -> None:
        for i in range(4):
            await service.update(TradeOutcome("$\\bogus{x}$", True, 10.0, noon(2) + 60 * i))
            await service.update(TradeOutcome("A$B$", i == 0, 5.0, noon(2) + 60 * i))

    asyncio.run(trades())
    writer.close()
    result = run("--db", str(db), "--out", str(tmp_path / "report"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "strategy_weights.png").is_file()
