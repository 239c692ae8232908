"""`investiq report` on awkward journals: many versions and strategies, polls across midnight, rows that cannot be
scored, a journal written to while it is read, and many symbols judged together."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import investiq.ops.report_data as report_data
from investiq.core.journal import JournalWriter, connect, open_journal
from investiq.core.journal.predictions import insert_price, insert_sentiment, resolve_price
from investiq.core.journal.timestamps import iso
from investiq.core.names import LABEL_WIDTH
from investiq.core.skill import SkillBook
from investiq.core.skill_outcomes import Outcome
from investiq.ops import report_plots
from tests.ops.test_report import noon, price, run, sentiment


def _journal(tmp_path: Path, rows: list[Any], outcomes: list[Any]) -> Path:
    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    writer.submit(insert_price(rows)).result()
    writer.submit(resolve_price(outcomes, iso(time.time()))).result()
    writer.close()
    return db


def _report(db: Path, tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    out = tmp_path / "report"
    result = run("--db", str(db), "--out", str(out), *args)
    assert result.exit_code == 0, result.output
    return json.loads((out / "report.json").read_text()), (out / "report.md").read_text()


def test_alternating_versions_mid_rollout_mark_each_version_once(tmp_path: Path):
    """Three gateways mid-rollout alternate rows: every row was a 'version change' (202 markers)."""
    rows = [price(noon(5) + 60 * i, f"v{i % 3}", "up") for i in range(30)]
    db = _journal(tmp_path, rows, [])
    conn = connect(db, readonly=True)
    _, _, changes = report_data._price(conn, "")
    conn.close()
    assert [v for _, v in changes] == ["v0", "v1", "v2"]


def test_a_forecast_asked_on_both_sides_of_midnight_counts_once_on_its_first_day(tmp_path: Path):
    """An agent polling asks the same forecast (its bar) before and after UTC midnight: by_day counted it on both
    days, so the days summed to twice the headline (poll.db: 29 and 58)."""
    midnight = datetime.fromtimestamp(noon(3), timezone.utc).replace(hour=0).timestamp()
    rows = []
    for k in range(3):  # three forecasts, of bars on three days, each asked at 23:00 and at 01:00
        bar = midnight - 86_400 * k - 3 * 3600
        for asked in (bar + 2 * 3600, bar + 4 * 3600):
            rows.append(replace(price(asked, "v1", "up"), last_bar_time=iso(bar)))
    db = _journal(tmp_path, rows, [(i + 1, 102.0, True) for i in range(len(rows))])
    p, _ = _report(db, tmp_path)
    assert p["price"]["scored"] == 3
    assert sum(d["scored"] for d in p["price"]["by_day"].values()) == 3


@pytest.mark.parametrize(
    ("change", "actual"),
    [({}, None), ({"last_price": 0.0}, 101.0), ({}, float("inf")), ({"predicted_price": float("inf")}, 101.0)],
)
def test_a_row_that_cannot_be_scored_is_left_out_and_counted(tmp_path: Path, change: dict[str, Any], actual: Any):
    rows = [price(noon(4), "v1", "up"), replace(price(noon(3), "v1", "up"), **change)]
    db = _journal(tmp_path, rows, [(1, 102.0, True), (2, actual, True)])
    if actual is None:  # a NaN actual, stored as NULL, with resolved_at set
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE price_predictions SET actual_price = NULL WHERE id = 2")
        conn.close()
    numbers, md = _report(db, tmp_path)
    assert numbers["price"]["scored"] == 1 and numbers["price"]["unscorable"] == 1
    assert "1 resolved forecast (each once, however often asked) could not be scored" in md and "nan" not in md
    # resolved, not pending; not a repeat of one counted (a review: "1 not resolved yet", "1 more ... asked again")
    assert numbers["price"]["resolved"] == 2 and "0 not resolved yet" in md and "asked again" not in md
    assert "2 forecast requests, 0 not resolved yet" in md  # requests, not forecasts (/price/evaluate's count)


def test_the_gateway_book_skips_rows_it_cannot_score_and_keeps_the_rest_identical():
    good = Outcome(0.0, "A", "v1", 86_400.0, 100.0, 101.0, 102.0, True)
    changes: list[dict[str, Any]] = [{"actual_price": None}, {"last_price": 0.0}, {"actual_price": float("inf")}]
    bad = [replace(good, origin_ts=86_400.0 * i, **c) for i, c in enumerate(changes, start=1)]
    mixed, alone = SkillBook(), SkillBook()
    assert mixed.add([good, *bad]) == {"v1"}
    alone.add([good])
    assert mixed.unscorable == 3 and mixed.forecasts == 1
    assert mixed.skill("v1") == alone.skill("v1")


def test_every_figure_is_of_one_snapshot_while_the_gateway_writes(tmp_path: Path, monkeypatch: Any):
    """The queries ran in autocommit, each on the journal of its own moment: rows written between them showed in
    some figures and not in others."""
    db = _journal(tmp_path, [price(noon(2), "v1", "up")], [(1, 102.0, True)])
    original = report_data._sentiment

    def write_meanwhile(conn: sqlite3.Connection, since_iso: str) -> Any:
        other = JournalWriter(db)
        other.start()
        other.submit(insert_price([price(noon(1), "v1", "up")])).result()
        other.submit(resolve_price([(2, 102.0, True)], iso(time.time()))).result()
        other.submit(insert_sentiment([sentiment(noon(1), "positive", 0.5)])).result()
        other.close()
        return original(conn, since_iso)

    monkeypatch.setattr(report_data, "_sentiment", write_meanwhile)
    numbers, _ = _report(db, tmp_path)
    assert numbers["price"]["forecasts"] == 1 and numbers["price"]["scored"] == 1
    assert numbers["sentiment"]["predictions"] == 0


def test_symbols_judged_together_not_each_at_95_percent(tmp_path: Path):
    """Each symbol at 95 % flags one in 20 good ones by chance: the report names those worse with all judged
    accounted for (the gateway's own list) and says how many were judged."""
    import numpy as np

    days, rng = 40, np.random.default_rng(3)
    rows = [
        replace(price(noon(days - d), "v1", "flat"), symbol=f"S{s}", predicted_price=100.0)
        for s in range(3)
        for d in range(days)
    ]
    actual = 100.0 + rng.normal(0, 0.4, len(rows))
    db = _journal(tmp_path, rows, [(i + 1, float(actual[i]), None) for i in range(len(rows))])
    numbers, md = _report(db, tmp_path, "--days", str(days + 5))
    assert numbers["price"]["symbols_judged"] == {"v1": 3}
    assert "- v1: 0 of 3 symbols judged" in md


def _skill_view(n_versions: int) -> Any:
    from investiq.core.skill import Skill

    book = SkillBook()
    points: dict[str, list[tuple[Any, Skill]]] = {}
    for i in range(n_versions):
        v = f"a-very-long-model-version-name-{i:03d}-retrained-on-everything"
        o = Outcome(noon(3), "A", v, 86_400.0, 100.0, 101.0, 102.0, True)
        book.add([o])
        points[v] = [(datetime.fromtimestamp(noon(3), timezone.utc).date(), book.skill(v))]
    return points


def test_the_skill_plot_caps_labelled_versions_shortens_names_and_spans_days(tmp_path: Path, monkeypatch: Any):
    captured = {}
    real_save = report_plots._save

    def save(fig: Any, out: Path, name: str) -> str:
        captured["axes"] = fig.axes
        captured["xlim"] = fig.axes[1].get_xlim()
        captured["labels"] = fig.axes[0].get_legend_handles_labels()[1]
        captured["hollow"] = [ln.get_markerfacecolor() for ln in fig.axes[0].lines if ln.get_marker() == "o"]
        return real_save(fig, out, name)

    monkeypatch.setattr(report_plots, "_save", save)

    class View:
        skill = _skill_view(30)

    assert report_plots.skill_plot(View(), tmp_path) == "price_skill.png"  # type: ignore[arg-type]
    labels = captured["labels"]
    versions = [lab for lab in labels if lab.startswith("a-very")]
    assert len(versions) == report_plots.MAX_SERIES
    assert all(len(lab) <= LABEL_WIDTH and "\u2026" in lab for lab in versions)
    assert "20 other versions (grey)" in labels
    low, high = captured["xlim"]
    assert high - low < 10  # days, not the years matplotlib gives a single date
    assert "white" in captured["hollow"]  # one point each: no interval, a hollow marker


def test_the_weights_plot_caps_labels_and_autoscales(tmp_path: Path, monkeypatch: Any):
    captured = {}
    real_save = report_plots._save

    def save(fig: Any, out: Path, name: str) -> str:
        ax = fig.axes[0]
        captured["labels"] = ax.get_legend_handles_labels()[1]
        captured["ylim"] = ax.get_ylim()
        captured["colours"] = [ln.get_color() for ln in ax.lines if ln.get_label() in captured["labels"]]
        return real_save(fig, out, name)

    monkeypatch.setattr(report_plots, "_save", save)
    day = datetime.fromtimestamp(noon(1), timezone.utc).date()

    class View:
        def __init__(self) -> None:
            self.weight_days = {
                day - timedelta(days=1): {f"s{i:02d}": 1 / 12 for i in range(12)},
                day: {f"s{i:02d}": (1 + 0.01 * i) / 12.5 for i in range(12)},
            }

    assert report_plots.weights_plot(View(), [day - timedelta(days=1), day], tmp_path)  # type: ignore[arg-type]
    names = [lab for lab in captured["labels"] if lab.startswith("s")]
    assert len(names) == report_plots.MAX_SERIES and "s11" in names and "s00" not in names  # the highest now
    assert "2 other strategies (grey)" in captured["labels"]
    assert captured["ylim"][1] < 0.5  # not the fixed 0-1 axis
    assert len({str(c) for c in captured["colours"]}) == len(captured["colours"])


def test_the_weights_table_escapes_names_and_shows_the_ends_of_many_by_weight(tmp_path: Path):
    """A name `long|short` split its table row and `**x**` rendered bold (a review of the reports); 300 strategies
    were 300 rows in name order, every weight 0.00x. Names are escaped; of many, the 10 highest and 10 lowest
    weights are shown, the highest first, with three significant digits, and report.json keeps them all."""
    import asyncio

    from gateway.services.bayesian import BayesianService, TradeOutcome
    from gateway.wiring import bayes_config
    from investiq.core.settings import Settings
    from tests.fakes import Clock

    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    service = BayesianService(writer, db, bayes_config(Settings()), clock=Clock(time.time()))
    names = ["long|short", "**bold**", *(f"s{i:02d}" for i in range(23))]

    async def trades() -> None:
        for k, name in enumerate(names):  # the later a name, the more it wins
            for i in range(12):
                won = i < 2 + k // 3
                await service.update(TradeOutcome(name, won, 1.0 if won else -1.0, noon(3) + 60 * (12 * k + i)))

    asyncio.run(trades())
    writer.close()
    numbers, md = _report(db, tmp_path)
    assert len(numbers["strategies"]["weights"]) == 25
    table = [line for line in md.splitlines() if line.startswith("| ") and "strategy" not in line]
    rows = [line for line in table if not line.startswith("| ---")]
    assert len(rows) == 21 and "5 more (report.json lists them all)" in rows[10]
    assert all(len(re.split(r"(?<!\\)\|", line)) == 7 for line in rows)  # five cells each: `|` escaped
    assert rows[-3].startswith("| \\*\\*bold\\*\\* | 0.02 |") and rows[-2].startswith("| long\\|short | 0.02 |")
    weights = [float(re.split(r"(?<!\\)\|", line)[2]) for line in rows[:10] + rows[11:]]
    # three significant digits, not 0.065; the weights decay towards "now", so their digits depend on the hour a
    # test runs (0.0652 or 0.0653): each row is compared with report.json, not with a fixed number
    highest = max(r["weight"] for r in numbers["strategies"]["weights"].values())
    assert (
        weights == sorted(weights, reverse=True)
        and weights[0] == float(f"{highest:.3g}")
        and 0.06 < highest < 0.07
    )
    assert re.split(r"(?<!\\)\|", rows[0])[2].strip() == f"{highest:.3g}" and len(f"{highest:.3g}") == 6


def test_the_skill_plot_names_the_newest_versions_and_ticks_whole_days(tmp_path: Path, monkeypatch: Any):
    """Ranked by forecasts scored, the newest version (the serving one, with the fewest) was grey and unnamed
    among 12 (a review of the plots); and a few days of points were ticked by the hour, each named by its date."""
    from investiq.core.skill import Skill

    captured = {}
    real_save = report_plots._save

    def save(fig: Any, out: Path, name: str) -> str:
        captured["labels"] = fig.axes[0].get_legend_handles_labels()[1]
        fig.canvas.draw()
        captured["ticks"] = [t.get_text() for t in fig.axes[1].get_xticklabels()]
        return real_save(fig, out, name)

    monkeypatch.setattr(report_plots, "_save", save)
    book, points = SkillBook(), {}
    today = datetime.fromtimestamp(noon(0), timezone.utc).date()
    for i in range(12):  # v00 oldest, with the most forecasts; v11 the newest, with one
        rows = [
            Outcome(noon(3) - 3600 * k, "A", f"v{i:02d}", 86_400.0, 100.0, 101.0, 102.0, True)
            for k in range(12 - i)
        ]
        book.add(rows)
        points[f"v{i:02d}"] = [(today - timedelta(days=11 - i), book.skill(f"v{i:02d}"))]

    class View:
        skill: dict[str, list[tuple[Any, Skill]]] = points

    assert report_plots.skill_plot(View(), tmp_path) == "price_skill.png"  # type: ignore[arg-type]
    assert "v11" in captured["labels"] and "v00" not in captured["labels"]
    ticks = [t for t in captured["ticks"] if t]
    assert len(ticks) == len(set(ticks)) >= 2  # one tick a day, each date once


def test_a_shortened_name_keeps_its_end():
    """Cut at the end, "mean_reversion_bollinger_band_AAPL" and "..._MSFT" were one label (a review)."""
    from investiq.core.names import shortened

    a, b = shortened("mean_reversion_bollinger_band_AAPL"), shortened("mean_reversion_bollinger_band_MSFT")
    assert a != b and a.endswith("AAPL") and len(a) == LABEL_WIDTH and "\u2026" in a


def test_markdown_text_leaves_no_markup_in_a_name():
    """`__init__` rendered bold and `a&amp;b` as "a&b" (a review of the escaping)."""
    from investiq.core.names import markdown_text

    assert markdown_text("__init__") == "\\_\\_init\\_\\_"
    assert markdown_text("a&amp;b <i>") == "a&amp;amp;b &lt;i&gt;"
    assert markdown_text("long|short") == "long\\|short"


def test_plots_of_a_single_day_span_a_week_not_years(tmp_path: Path, monkeypatch: Any):
    """A deployment's first day (every trade and headline today): the weights plot, lines only, spanned
    matplotlib's default ~4.4 years for a single date with a tick on each of its 1,606 days (48 s to draw)."""
    spans: dict[str, tuple[float, float, int]] = {}
    real_save = report_plots._save

    def save(fig: Any, out: Path, name: str) -> str:
        ax = fig.axes[0]
        spans[name] = (*ax.get_xlim(), len(ax.get_xticks()))
        return real_save(fig, out, name)

    monkeypatch.setattr(report_plots, "_save", save)
    today = date(2026, 12, 6)

    view: Any = SimpleNamespace(
        weight_days={today: {"momentum": 0.6, "mean_reversion": 0.4}},
        sentiment_days={today: {"positive": 3, "negative": 1}},
        scores=[0.5, -0.4, 0.7, 0.9],
    )
    assert report_plots.weights_plot(view, [today], tmp_path) == report_plots.WEIGHTS_PNG
    assert report_plots.sentiment_plot(view, [today], tmp_path) == report_plots.SENTIMENT_PNG
    for name, (low, high, ticks) in spans.items():
        assert high - low == 7 and ticks <= 8, (name, high - low, ticks)


def test_a_headline_on_no_day_counts_in_no_sentiment_figure(tmp_path: Path):
    """A headline whose time SQLite cannot read is on no day: the labels left it out and the mean score and its
    histogram counted it, so report.json said 0 predictions with a mean score of 0.9 (a mutation audit)."""
    from investiq.core.settings import Settings
    from investiq.ops.report import write_report

    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    rows = [
        sentiment(noon(2), "negative", -0.5),
        replace(sentiment(noon(2), "positive", 0.9), created_at="not a time"),
    ]
    writer.submit(insert_sentiment(rows)).result()
    writer.close()
    found = write_report(Settings(db_path=db), tmp_path / "report", 30)["sentiment"]
    assert found["predictions"] == 1 and found["mean_score"] == -0.5


def test_trades_reported_by_their_profit_alone_replay_as_the_gateway_folds_them(tmp_path: Path):
    """A trade sent with a P&L and no win/loss is journaled with `won` NULL and counts as a win when the P&L is
    positive; replayed as a loss (or a win), the report's weights would not be those GET /bayesian/weights serves
    (a mutant of the replay that the mutation audit could not classify)."""
    from gateway.services.bayesian import TradeOutcome
    from tests.ops.test_report_mutants import _numbers, _trades

    db = tmp_path / "portfolio.db"
    start = float(int(noon(3)))
    trades = [
        TradeOutcome(name, None, pnl, start + 3600 * i)
        for i in range(12)
        for name, pnl in (("a", 2.0), ("b", -2.0))
    ]
    _trades(db, trades)
    found = _numbers(db, tmp_path)["strategies"]
    last = found["weights_by_day"][max(found["weights_by_day"])]
    assert last["a"] > last["b"]
    for name, served in found["weights"].items():
        assert last[name] == pytest.approx(served["weight"], abs=1e-9)
