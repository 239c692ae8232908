"""`investiq backtest` through the command line: bars from a multi-symbol CSV, the agent's journal, errors."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from investiq.cli.main import main
from investiq.core.journal import open_journal
from investiq.core.journal.timestamps import iso
from investiq.core.patchtst import PatchTSTMeta, TrainConfig
from tests.gateway.test_api_bayesian import add_trades

REPORT = ("report.md", "report.json", "equity.png", "win_rate.png", "weights.png")


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config.yaml: the defaults; models/ and data/ under tmp_path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, ["backtest", *args])


def bars_csv(path: Path, n: int = 1200) -> Path:
    """Two symbols of daily random-walk bars in the `--source csv` format."""
    rng = np.random.default_rng(0)
    days = pd.bdate_range("2010-01-01", periods=n).strftime("%Y-%m-%d")
    parts = []
    for symbol in ("AAA", "BBB"):
        close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
        parts.append(
            pd.DataFrame(
                {"timestamp": days, "symbol": symbol, "open": close, "high": close, "low": close, "close": close}
            )
        )
    pd.concat(parts).to_csv(path, index=False)
    return path


def csv_args(tmp_path: Path, out: str) -> list[str]:
    csv = bars_csv(tmp_path / "bars.csv")
    # no --days: all of the file (the backtest's default, not price_days)
    common = ["--source", "csv", "--csv", str(csv), "--symbols", "AAA BBB", "--interval", "1d"]
    return [*common, "--no-price-filter", "--out", str(tmp_path / out)]


def test_csv_source_writes_the_report_and_the_same_seed_gives_the_same_json(tmp_path: Path):
    first = invoke(*csv_args(tmp_path, "one"))
    assert first.exit_code == 0, first.output
    assert all((tmp_path / "one" / name).is_file() for name in REPORT)
    report = json.loads((tmp_path / "one" / "report.json").read_text())
    labels = [v["label"] for v in report["variants"]]
    assert labels == [
        "equal",
        "mean (half-life 30d)",
        "mean (no forgetting)",
        "thompson (half-life 30d)",
        "thompson (no forgetting)",
        "pnl (half-life 30d)",
        "pnl (no forgetting)",
    ]
    assert set(report["trades"]["by_strategy"]) == {"trend", "reversion", "breakout"}
    assert {c["claim"] for c in report["claims"]} == {"win rate +15-20 points", "average win +33%", "sharpe +50%"}
    text = (tmp_path / "one" / "report.md").read_text()
    assert "## Verdict on the original claims" in text
    assert "(the first 60% of the distinct bar times is history for the price model)" in text  # before: "span"
    # weekday bars: the daily P&L's grid of weekdays, 260.9 a year, says what annualised it (before: 252 assumed)
    per_year = {v["periods_per_year"] for v in report["variants"]}
    assert len(per_year) == 1 and per_year.pop() == pytest.approx(260.9, rel=5e-3)  # 1/2 %: where the span ends
    assert f"annualised at {report['variants'][0]['periods_per_year']:.1f} days a year" in report["notes"][-1]
    assert report["notes"][-1] in (tmp_path / "one" / "report.md").read_text()
    again = invoke(*csv_args(tmp_path, "two"))
    assert again.exit_code == 0, again.output
    assert (tmp_path / "two" / "report.json").read_text() == (tmp_path / "one" / "report.json").read_text()


def journal(db: Path, trades: int) -> Path:
    """A journal with the agent's trades table; two strategies, one that mostly wins."""
    open_journal(db).close()
    rng = np.random.default_rng(0)
    start = 1_700_000_000.0
    rows = []
    for i in range(trades):
        name = ("good", "bad")[i % 2]
        won = rng.random() < (0.7 if name == "good" else 0.3)
        rows.append((name, 10.0 if won else -10.0, iso(start + 86_400 * i)))
    add_trades(db, rows)
    return db


def test_journal_source_allocates_between_the_agents_strategies(tmp_path: Path):
    db = journal(tmp_path / "portfolio.db", 240)
    result = invoke("--source", "journal", "--db", str(db), "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    assert "\r" not in result.output  # no progress bar's frames where the output is no terminal (a log, a pipe)
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["trades"] == {"total": 240, "by_strategy": {"bad": 120, "good": 120}}
    weights = report["final_weights"]["mean (no forgetting)"]
    assert weights["good"] > weights["bad"]
    # before: "P&L as recorded (taken as net of costs)", though P&L derived from prices is gross
    text = (tmp_path / "r" / "report.md").read_text()
    assert "taken as net" not in text and "from the prices, negated for a short side: gross, before fees" in text
    assert '"equal weights" is then its live book' in text  # said in README only, before a quant's review
    assert "warning:" not in text  # 240 days and trades: 12 blocks of days, 24 of trades (MIN_BLOCKS: 10)


def test_history_fraction_is_a_share_of_the_distinct_bar_times():
    """--history-fraction's help said "of the bars' time span"; the window starts after that share of the
    distinct bar times, pooled over the symbols, which differs from the span when their histories differ."""
    from investiq.ops.backtest.run import window_start

    early = pd.bdate_range("2000-01-03", periods=100, tz="UTC")
    late = pd.bdate_range("2020-01-01", periods=100, tz="UTC")
    closes = {"A": pd.Series(1.0, index=early), "B": pd.Series(1.0, index=late)}
    assert window_start(closes, 0.6) == late[20]  # bar 120 of 200, not 60% of 2000-2020 (2012)
    help_text = " ".join(invoke("--help").output.split())
    assert "Share of the distinct bar times (pooled over the symbols; not of the calendar span)" in help_text


def test_journal_errors_say_what_to_do(tmp_path: Path):
    few = journal(tmp_path / "few.db", 5)
    result = invoke("--source", "journal", "--db", str(few), "--out", str(tmp_path / "r"))
    assert result.exit_code == 1 and "only 5 closed trades" in result.output
    assert "trades table needs more closed trades" in result.output and "--days" not in result.output
    bare = tmp_path / "bare.db"
    sqlite3.connect(bare).execute("CREATE TABLE trades (id INTEGER, strategy_name TEXT)").connection.close()
    result = invoke("--source", "journal", "--db", str(bare), "--out", str(tmp_path / "r"))
    assert result.exit_code == 1 and "lacks column(s) closed_at" in result.output
    assert "strategy_name, closed_at and profit_loss" in result.output
    result = invoke("--source", "journal", "--db", str(few), "--price-filter")
    assert result.exit_code == 2 and "--price-filter needs bars" in result.output


def test_headlines_add_the_sentiment_filter_to_every_variant(tmp_path: Path):
    db = journal(tmp_path / "portfolio.db", 60)
    news = tmp_path / "news.csv"
    rows = ["time,symbol,text"]
    for day in range(0, 60, 2):  # bad news before every other trade of the first half, good news after
        text = "shares plunge after profit warning and losses" if day < 30 else "record profit beats forecasts"
        rows.append(f"{iso(1_700_000_000.0 + 86_400 * day - 3600)},SPY,{text}")
    news.write_text("\n".join(rows) + "\n")
    result = invoke("--source", "journal", "--db", str(db), "--headlines", str(news), "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    (name,) = report["filters"]
    assert name.startswith("sentiment (lexicon)")
    behind = [v for v in report["variants"] if v["label"].endswith(f" + {name}")]
    assert len(behind) == 7
    assert 0 < behind[0]["trades"] < 60  # equal weights behind the filter: the bad-news entries refused


def test_headlines_that_meet_no_entry_are_refused_rather_than_judged(tmp_path: Path):
    # headlines of another symbol, and of the traded one years before its trades: the filter would see nothing
    db = journal(tmp_path / "portfolio.db", 60)
    news = tmp_path / "news.csv"
    news.write_text("time,symbol,text\n2001-01-02T00:00:00Z,SPY,record profit\n2023-11-20T00:00:00Z,AAPL,record\n")
    result = invoke("--source", "journal", "--db", str(db), "--headlines", str(news), "--out", str(tmp_path / "r"))
    assert result.exit_code == 1, result.output
    assert (
        "had nothing to judge for any of the 60 entries (SPY, decided 2023-11-14 to 2024-01-12)" in result.output
    )
    assert "2 headlines of AAPL, SPY, 2001-01-02 to 2023-11-20" in result.output
    assert not (tmp_path / "r").exists()


def test_the_price_filters_model_can_be_evaluated_as_its_log_line_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The price filter's model records the bars the backtest read (csv, the file, all days), so the command
    its log line suggests reloads them and judges it on test bars after its validation part. Before, it recorded
    source 'backtest' and the command failed: "unknown source 'backtest'". The tests' tiny shape: a fast test."""
    from harness.tiny_patchtst import TINY
    from investiq.ops.patchtst import config_for
    from training.windows import split_origins

    def tiny(bars: Any, **hyper: Any) -> TrainConfig:
        recorded = config_for(bars, **hyper)
        where = {k: getattr(recorded, k) for k in ("symbols", "source", "days", "interval", "csv_path")}
        return dataclasses.replace(TINY, **where, epochs=1)

    monkeypatch.setattr("investiq.ops.backtest.run.config_for", tiny)
    args = [a for a in csv_args(tmp_path, "report") if a != "--no-price-filter"]
    result = invoke(*args, "--price-filter", "--price-budget-s", "60")
    assert result.exit_code == 0, result.output
    (suggested,) = re.findall(r"evaluate with `([^`]+)`", result.output)
    assert suggested == "investiq evaluate patchtst --model-dir models/backtest/patchtst"
    meta = PatchTSTMeta.load(tmp_path / "models" / "backtest" / "patchtst")
    assert meta.source == "csv" and meta.symbols == ["AAA", "BBB"]
    judged = CliRunner().invoke(main, shlex.split(suggested)[1:])
    assert judged.exit_code == 0, judged.output
    report = json.loads((tmp_path / "models" / "backtest" / "patchtst" / "evaluation" / "report.json").read_text())
    assert report["model_version"] == meta.version and not report["left_out"]
    assert report["annualisation"]["from"].startswith("bar times")  # the file's own weekday rate, not 252 assumed
    assert {round(v["periods_per_year"]) for v in report["symbols"].values()} == {261}
    # trained on the first 60% of the file only: every test origin of the whole file lies after its validation
    test = split_origins(1200, TINY.context_length, TINY.prediction_length, TINY.val_fraction, TINY.test_fraction)
    assert {s: v["origins"] for s, v in report["symbols"].items()} == dict.fromkeys(("AAA", "BBB"), len(test.test))


def test_bars_that_are_not_daily_are_refused_as_such(tmp_path: Path):
    """Before: "pass --interval 1wk (or set price_interval)", which backtest refuses in turn."""
    weekly = tmp_path / "weekly.csv"
    weeks = pd.date_range("2015-01-05", periods=300, freq="7D")
    weekly.write_text("date,close\n" + "".join(f"{d:%Y-%m-%d},{100 + i % 7}\n" for i, d in enumerate(weeks)))
    result = invoke("--source", "csv", "--csv", str(weekly), "--no-price-filter", "--out", str(tmp_path / "r"))
    assert result.exit_code == 1
    assert "investiq backtest trades daily bars: those of weekly are 7 days 00:00:00 apart (median), 1wk bars" in (
        result.output
    )
    assert "--interval" not in result.output.splitlines()[-1]


@pytest.mark.parametrize("rows", [0, 1])
def test_a_csv_of_fewer_than_two_bars_says_so(tmp_path: Path, rows: int):
    """Before: "bars for empty are 0 days 00:00:00 apart (median): that is no interval InvestIQ takes"."""
    short = tmp_path / "short.csv"
    short.write_text("date,close\n" + "2024-01-02,100\n" * rows)
    result = invoke("--source", "csv", "--csv", str(short), "--no-price-filter", "--out", str(tmp_path / "r"))
    assert result.exit_code == 1
    assert f"{rows} bar(s) of short; it takes 2 or more to read an interval" in result.output


def test_days_with_the_sample_is_refused_not_ignored(tmp_path: Path):
    """The sample is used whole: --days 400 ran the same trades as without it, its command in the report."""
    result = invoke("--source", "sample", "--days", "400", "--no-price-filter", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "the sample is used whole (drop --days)" in result.output


def test_trades_posted_over_http_are_named_when_the_trades_table_is_short(tmp_path: Path):
    """A new user posted 124 trades to /bayesian/update and was told "only 0 closed trades ... the agent's trades
    table needs more closed trades", as if the journal held none."""
    from fastapi.testclient import TestClient

    from gateway.app import create_app
    from investiq.core.settings import Settings
    from tests.fakes import FakeBackend

    db = tmp_path / "portfolio.db"
    settings = Settings(db_path=db, sentiment_model="lexicon", price_resolve_every_s=0)
    with TestClient(create_app(settings, FakeBackend())) as client:
        for i in range(12):
            body = {"strategy_name": f"s{i % 2}", "won": i % 3 > 0, "profit_loss": 1.0 if i % 3 else -1.0}
            assert client.post("/bayesian/update", json=body | {"trade_id": i}).status_code == 200
    result = invoke("--source", "journal", "--db", str(db), "--out", str(tmp_path / "r"))
    assert result.exit_code == 1 and "only 0 closed trades" in result.output
    assert "12 trades posted to /bayesian/update are in the journal" in " ".join(result.output.split())


def weights_figure(weights: Any, known: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """weights.png's figure for one `mean` run of weights (d, K) over d days, strategies strategy_00..."""
    from types import SimpleNamespace

    from investiq.ops.backtest import plots

    n, k = weights.shape
    run = SimpleNamespace(
        variant=SimpleNamespace(allocation="mean", filters=(), label="mean"),
        decision_ts=1_700_000_000.0 + 86_400 * np.arange(n),
        weights=weights,
        strategies=tuple(f"strategy_{i:02d}" for i in range(k)),
        known=known,
    )
    figures: list[Any] = []
    monkeypatch.setattr(plots, "_save", lambda plt, fig, path: figures.append(fig))
    plots.weights(SimpleNamespace(runs=[run]), tmp_path / "weights.png")  # type: ignore[arg-type]
    return figures[0]


def test_the_weights_plot_stays_readable_with_many_strategies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """40 strategies drew 40 legend entries over every panel, in ten colours repeated (a quant's review): the ten
    whose weight moved most are labelled, the rest grey, and the legend says how many."""
    k, n = 40, 30
    weights = np.full((n, k), 1 / k)
    weights[:, 7] += np.linspace(0, 0.3, n)  # the one that moved most
    weights[:, :7] -= np.linspace(0, 0.3, n)[:, None] / 7
    figure = weights_figure(weights, None, tmp_path, monkeypatch)
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert len(labels) == 11 and labels[0] == "strategy_07" and labels[-1] == "30 other strategies (grey)"
    colours = [line.get_color() for line in figure.axes[0].get_lines() if line.get_label() in labels[:10]]
    assert len(set(map(str, colours))) == 10


def test_the_weights_plot_reads_a_journal_strategy_from_its_first_trade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Its weight of 0 before it was known counted as a move from a fixed 1/K, and took a label from a strategy
    that really moved; the dotted equal share stayed at 1/K of every strategy (a review)."""
    k, n = 12, 40
    known = np.ones((n, k), dtype=bool)
    known[: n // 2, 11] = False  # strategy_11 trades from the middle on, never away from the equal share
    share = 1 / known.sum(axis=1, keepdims=True)
    weights = np.where(known, share, 0.0)
    for i in range(10):  # ten that moved, by 0.01 to 0.10, and strategy_10 not at all
        weights[:, i] += (i + 1) / 100 * (-1) ** i
    figure = weights_figure(weights, known, tmp_path, monkeypatch)
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert "strategy_11" not in labels and "strategy_00" in labels, labels
    dotted = next(line for line in figure.axes[0].get_lines() if line.get_linestyle() == ":")
    assert set(np.round(dotted.get_ydata(), 6)) == {round(1 / 11, 6), round(1 / 12, 6)}


def test_bar_options_with_the_journal_source_are_refused(tmp_path: Path):
    """They did nothing to the agent's trades, and the report printed them as if applied: `--days 30 --symbols
    QQQ` ran on every trade, none of them QQQ's (a review)."""
    db = journal(tmp_path / "portfolio.db", 30)
    for extra in (["--days", "30", "--symbols", "QQQ"], ["--cost-bps", "0"], ["--history-fraction", "0.5"]):
        result = invoke("--source", "journal", "--db", str(db), "--out", str(tmp_path / "r"), *extra)
        assert result.exit_code == 2 and "act on bars: the journal's trades are the agent's own" in result.output
        assert extra[0] in result.output, result.output
