"""`investiq resolve --csv`: forecasts scored against bars from a file, offline, as the gateway scores them."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from investiq.cli.main import main
from investiq.core.journal import JournalWriter, open_journal
from investiq.core.journal.predictions import PriceRow, insert_price


def forecast(symbol: str, last_bar_time: str, direction: str) -> PriceRow:
    """A one-day forecast from a close of 100, made when the bar of `last_bar_time` closed."""
    return PriceRow(
        last_bar_time, symbol, "patchtst", "v1", "1d", 1, 100.0, last_bar_time, 101.0, 0.01, direction, 0.6, "[]",
        "2026-01-06T00:00:00+00:00", 3.0,
    )  # fmt: skip


def test_forecasts_resolve_against_a_bar_file_offline(tmp_path: Path):
    """Offline, `resolve` could only say "use --source csv", an option it did not have; bars of the agent's own
    had no way into the bar cache."""
    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    closed = "2026-01-05T00:00:00+00:00"  # the bar of 4 January closed: the next one opens on the 5th
    rows = [forecast("AAA", closed, "up"), forecast("BBB", closed, "up"), forecast("CCC", closed, "down")]
    writer.submit(insert_price(rows)).result()
    writer.close()
    bars = tmp_path / "bars.csv"
    bars.write_text(
        "symbol,date,close\n"
        + "".join(
            f"{s},2026-01-0{d},{c}\n"
            for s, closes in (("AAA", (100, 103)), ("BBB", (100, 97)))
            for d, c in zip((4, 5), closes, strict=True)
        )
    )
    (tmp_path / "none.yaml").write_text("")  # an empty settings file: only the variables below
    env = {"INVESTIQ_DATA_DIR": str(tmp_path / "data"), "INVESTIQ_CONFIG": str(tmp_path / "none.yaml")}
    result = CliRunner().invoke(main, ["resolve", "--db", str(db), "--csv", str(bars)], env=env)
    assert result.exit_code == 1, result.output  # CCC's bars could not be had: said, and not a success
    assert "resolved 2 forecasts; 1 due but waiting for bars" in result.output
    assert "CCC: CSV" in result.output and "has no rows for CCC; its symbols are AAA, BBB" in result.output
    scored = sqlite3.connect(db).execute("SELECT symbol, actual_price, correct FROM price_predictions ORDER BY id")
    assert scored.fetchall() == [("AAA", 103.0, 1), ("BBB", 97.0, 0), ("CCC", None, None)]


def test_a_file_without_a_symbol_column_scores_only_the_symbol_its_name_gives(tmp_path: Path):
    """It served its bars as any symbol's: one symbol's file scored every due forecast of every symbol on its
    moves, rescaled, and wrote its bars into their caches (a review: AAA's forecast scored on BBB's closes)."""
    db = tmp_path / "portfolio.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    closed = "2026-01-05T00:00:00+00:00"
    writer.submit(insert_price([forecast("AAA", closed, "up"), forecast("BBB", closed, "up")])).result()
    writer.close()
    bars = tmp_path / "bbb.csv"  # BBB's bars, no symbol column: named by the file, as train reads it
    bars.write_text("date,close\n2026-01-04,100\n2026-01-05,97\n")
    (tmp_path / "none.yaml").write_text("")
    env = {"INVESTIQ_DATA_DIR": str(tmp_path / "data"), "INVESTIQ_CONFIG": str(tmp_path / "none.yaml")}
    result = CliRunner().invoke(main, ["resolve", "--db", str(db), "--csv", str(bars)], env=env)
    assert result.exit_code == 1 and "resolved 1 forecasts" in result.output, result.output
    assert "it holds the bars of bbb (its name) alone" in result.output
    scored = sqlite3.connect(db).execute("SELECT symbol, actual_price FROM price_predictions ORDER BY id")
    assert scored.fetchall() == [("AAA", None), ("BBB", 97.0)]
    assert sorted(p.name for p in (tmp_path / "data" / "bars").iterdir()) == ["BBB_1d.parquet"]


def test_a_compressed_bar_file_is_the_symbol_of_its_name_without_the_extensions(tmp_path: Path):
    """QQQ.csv.gz was taken for "QQQ.csv"'s bars, and refused for QQQ's (a review)."""
    import gzip

    from investiq.core.bar_files import named_symbol
    from investiq.core.market import file_fetch

    path = tmp_path / "QQQ.csv.gz"
    path.write_bytes(gzip.compress(b"date,close\n2026-01-04,100\n2026-01-05,97\n"))
    assert named_symbol(path) == "QQQ" and named_symbol(tmp_path / "BRK.B.csv") == "BRK.B"
    from datetime import datetime, timezone

    rows = file_fetch(path)("QQQ", "1d", datetime(2026, 1, 1, tzinfo=timezone.utc), datetime.now(timezone.utc))
    assert len(rows) == 2


def test_a_bar_file_of_many_symbols_is_split_by_symbol_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """It was split again at every symbol's fetch: a resolve grew with the square of the symbols, 117 s at 400
    symbols of 15 years of daily bars (an audit of scale)."""
    from datetime import datetime, timezone

    from investiq.core import market
    from investiq.core.bar_files import BySymbol

    path = tmp_path / "bars.csv"
    lines = [
        f"{d},{s},{100 + i}" for s in ("AAA", "BBB", "CCC") for i, d in enumerate(("2026-01-05", "2026-01-06"))
    ]
    path.write_text("date,symbol,close\n" + "\n".join(lines) + "\n")
    splits: list[object] = []

    class Counted(BySymbol):
        def __init__(self, *args: Any) -> None:
            splits.append(args)
            super().__init__(*args)

    monkeypatch.setattr(market, "BySymbol", Counted)
    fetch = market.file_fetch(path)
    when = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime.now(timezone.utc)
    assert [len(fetch(s, "1d", *when)) for s in ("AAA", "bbb", "CCC")] == [2, 2, 2]  # case-insensitive, as before
    assert len(splits) == 1
