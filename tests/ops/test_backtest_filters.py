"""The backtest's ML filters: a PatchTST trained only before the window, forecasting through the gateway's
own code without look-ahead, and headline sentiment that never reads a headline from after the decision."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pytest
import torch
from fastapi.testclient import TestClient

from export.patchtst import write_export
from gateway.app import create_app
from gateway.backends.embedded import EmbeddedBackend, patchtst_dir
from gateway.metrics import Metrics
from gateway.services.price import PriceService
from gateway.services.price_forecast import PriceQuery
from harness import tiny_bert
from harness.tiny_patchtst import TINY
from investiq.core.artifacts import weights_version
from investiq.core.atomic import staged
from investiq.core.bar_cache import BarCache
from investiq.core.errors import DataError, InvalidInputError
from investiq.core.journal.connection import open_journal
from investiq.core.journal.writer import JournalWriter
from investiq.core.patchtst import PATCHTST, RANDOM_WALK, PatchTSTMeta
from investiq.core.settings import Settings
from investiq.core.versions import version_dir
from investiq.ops.backtest.filters import (
    PriceFilter,
    forecast,
    price_filter,
    read_headlines,
    sentiment_filter,
    trainable,
)
from training.forecaster import load_forecaster
from training.windows import split_origins

DAYS = pd.bdate_range("2015-01-01", periods=700, tz="UTC")
START = DAYS[500]
ONE_EPOCH = dataclasses.replace(TINY, epochs=1)  # the tests' tiny shape, trained briefly: a fast test


def synthetic_bars(seed: int = 0) -> dict[str, pd.Series]:
    """Two geometric random walks of daily closes (UTC bar times)."""
    rng = np.random.default_rng(seed)
    return {s: pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(DAYS)))), index=DAYS) for s in ("A", "B")}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[PriceFilter, Path]:
    """The filter of a tiny PatchTST trained (one epoch) before START; its work directory."""
    work = tmp_path_factory.mktemp("backtest")
    made = price_filter(
        synthetic_bars(), START, Settings(), work_dir=work, seed=0, budget_s=120, config=ONE_EPOCH, progress=False
    )
    return made, work


def test_too_little_history_for_the_price_filter_says_what_the_backtest_can_change(tmp_path: Path):
    early = DAYS[40]  # far fewer bars before it than the model's context and split need
    with pytest.raises(DataError, match=r"A: 40 bars before it, ~\d+ needed\): raise --history-fr") as raised:
        price_filter(synthetic_bars(), early, Settings(), work_dir=tmp_path, seed=0, budget_s=1, config=ONE_EPOCH)
    assert str(raised.value).endswith("give bars that reach further back, or pass --no-price-filter")
    assert "--context-length" not in str(raised.value)  # investiq train's option, which backtest does not have


def test_the_price_filters_model_takes_the_symbols_training_can_split_at_shared_dates():
    """A symbol whose history starts late has windows only after the dates the split shares (validation, test):
    it was checked alone, as if split at its own dates, and left out or said to train where it did not."""
    bars = synthetic_bars()
    late = bars["B"].iloc[380:]  # 120 bars before START: a window, but none before the shared validation date
    tiny = bars["B"].iloc[470:]  # 30 bars before START: no window at all
    said: list[str] = []
    series, trains = trainable({"A": bars["A"], "LATE": late, "TINY": tiny}, START, ONE_EPOCH, said.append)
    assert list(series) == ["A", "LATE"] and trains == ["A"]
    assert said == [f"warning: not training on TINY: 30 bars before it, ~{TINY.context_length + 8} needed"]
    assert all(
        len(closes) == len(stamps) and pd.Timestamp(stamps.max()) < START for closes, stamps in series.values()
    )


@pytest.fixture(scope="module")
def skilled(trained: tuple[PriceFilter, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository serving the trained model with a random head and its median and P(up) slope switched
    on (as if validation had confirmed skill): P(up) differs from window to window."""
    forecaster, meta = load_forecaster(trained[1] / PATCHTST)
    torch.manual_seed(0)
    with torch.no_grad():
        torch.nn.init.normal_(forecaster.head.weight, std=0.5)
        forecaster.base_logit.zero_()  # P(up) around 1/2: some entries allowed, some refused
        forecaster.alpha.fill_(1.0)
        forecaster.slope.fill_(1.0)
        forecaster.p_low.zero_()
        forecaster.p_high.fill_(1.0)
    calibration = meta.calibration | {"alpha": 1.0, "slope": 1.0}
    meta = dataclasses.replace(meta, version=weights_version(forecaster), calibration=calibration)
    repository = tmp_path_factory.mktemp("skilled")
    with staged(version_dir(repository, PATCHTST, 1)) as out:
        write_export(forecaster, meta, out, log=lambda _: None)
    return repository


def test_the_model_never_saw_a_bar_from_the_start_on(trained: tuple[PriceFilter, Path]):
    made, _ = trained
    meta = made.meta
    assert pd.Timestamp(meta.trained_until) < START
    # validation (calibration) windows: exactly those of the bars before START, none later
    c, h = meta.context_length, meta.prediction_length
    before = int((DAYS < START).sum())
    per_symbol = len(split_origins(before, c, h, TINY.val_fraction, TINY.test_fraction).val)
    assert meta.calibration["val_windows"] == 2 * per_symbol
    assert meta.train_config["seed"] == 0 and tuple(meta.symbols) == ("A", "B")
    # a forecast at every bar from START on, none before
    for found in made.forecasts.values():
        assert len(found.times) == len(DAYS) - 500 and found.times[0] == START.value


def test_a_model_without_confirmed_skill_is_named_the_random_walk(trained: tuple[PriceFilter, Path]):
    meta = dataclasses.replace(trained[0].meta, calibration=trained[0].meta.calibration | {"alpha": 0, "slope": 0})
    assert meta.served_as() == RANDOM_WALK
    baseline = PriceFilter({}, meta)
    assert "random-walk baseline" in baseline.name and "the P(up) rule lets all in" in baseline.note


def test_a_p_up_without_skill_lets_every_entry_in(trained: tuple[PriceFilter, Path]):
    """A P(up) that validation kept no slope for is its base at every bar (0.5, or the training up-rate): it
    says nothing of one entry against another, so it neither refuses them all (a base of 0.5, or one below it)
    nor claims to have chosen them."""
    made = trained[0]
    calibration = made.meta.calibration | {"alpha": 1.0, "slope": 0.0, "base_up": [0.5] * 4}
    meta = dataclasses.replace(made.meta, calibration=calibration)
    flat = PriceFilter(made.forecasts, meta)
    symbol, found = next(iter(made.forecasts.items()))
    flat.forecasts = {symbol: dataclasses.replace(found, probability_up=np.full_like(found.probability_up, 0.5))}
    days = pd.to_datetime(found.times[:50], utc=True)
    assert all(flat.allows(symbol, day) for day in days)
    assert (flat.counts.allowed, flat.counts.refused) == (50, 0)
    assert "P(up) without skill" in flat.name and "0.500 at every bar" in flat.note


def test_no_look_ahead_perturbing_later_bars_changes_no_earlier_forecast(skilled: Path):
    bars = synthetic_bars()
    t = DAYS[600]
    perturbed = {
        s: b.where(b.index <= t, b * np.exp(np.random.default_rng(1).normal(0, 0.05, len(b))))
        for s, b in bars.items()
    }
    _, before = forecast(skilled, bars, START, batch=64, progress=False)
    _, after = forecast(skilled, perturbed, START, batch=64, progress=False)
    for symbol in bars:
        a, b = before[symbol], after[symbol]
        early = a.times <= t.value
        assert np.array_equal(a.times, b.times)
        assert np.array_equal(a.probability_up[early], b.probability_up[early])
        assert np.array_equal(a.risk_return[early], b.risk_return[early])
        assert not np.allclose(a.probability_up[~early], b.probability_up[~early])  # the test can fail


def test_p_up_is_what_the_gateway_serves_for_the_same_window(skilled: Path, tmp_path: Path):
    bars = synthetic_bars()
    meta, forecasts = forecast(skilled, bars, START, batch=50, progress=False)
    made = PriceFilter(forecasts, meta)
    assert np.std(forecasts["A"].probability_up) > 0.01  # P(up) varies: the comparison means something
    db = tmp_path / "p.db"
    open_journal(db).close()
    writer = JournalWriter(db)
    writer.start()
    backend = EmbeddedBackend(skilled)
    service = PriceService(
        backend,
        PatchTSTMeta.load(patchtst_dir(skilled)),
        writer,
        Metrics(),
        BarCache(tmp_path),
        lambda *_: None,
        max_batch=8,
    )
    picks = [("A", DAYS[500]), ("A", DAYS[650]), ("B", DAYS[699])]
    queries = [
        PriceQuery(s, [float(x) for x in bars[s][bars[s].index <= t].iloc[-meta.context_length :]], None)
        for s, t in picks
    ]
    try:
        served = asyncio.run(service.predict(queries))
    finally:
        asyncio.run(backend.close())
        writer.close()
    for (symbol, t), query, answer in zip(picks, queries, served, strict=True):
        found = made.at(symbol, t)
        assert found is not None
        assert found[0] == pytest.approx(answer.probability_up[-1], abs=1e-6)
        assert found[1] == pytest.approx(answer.quantiles["0.1"][-1] / query.prices[-1] - 1, abs=1e-6)  # type: ignore[index]


def test_verdicts_are_counted_and_a_bar_without_forecast_is_allowed(skilled: Path):
    meta, forecasts = forecast(skilled, synthetic_bars(), START, batch=256, progress=False)
    made = PriceFilter(forecasts, meta)
    assert made.allows("A", DAYS[10]) and made.allows("UNKNOWN", START)
    assert made.allows("A", START + pd.Timedelta(hours=1))  # not a bar time
    verdicts = [made.allows("A", t) for t in DAYS[500:]]
    p = forecasts["A"].probability_up
    assert verdicts == list(p > 0.5) and 0 < sum(verdicts) < len(verdicts)
    assert (made.counts.allowed, made.counts.refused, made.counts.no_forecast) == (sum(p > 0.5), sum(p <= 0.5), 3)
    risky = PriceFilter(
        forecasts, meta, min_probability_up=0.0, max_risk_loss=float(-np.median(forecasts["A"].risk_return))
    )
    assert "q0.1 return >" in risky.name
    assert 0 < sum(risky.allows("A", t) for t in DAYS[500:]) < 200


# -- sentiment --------------------------------------------------------------------------------------

DAY = pd.Timestamp("2024-03-01", tz="UTC")
GOOD = "record revenue lifts the outlook"
BAD = ("profit warning sends shares sharply lower", "shares fall after the company cuts guidance")


def write(path: Path, rows: list[tuple[str, str, str]], header: str = "time,symbol,text") -> Path:
    lines = [header] + [",".join(f'"{v}"' for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def lexicon(tmp_path: Path) -> Settings:
    return Settings(model_repository=tmp_path / "none", db_path=tmp_path / "p.db", sentiment_model="lexicon")


ROWS = [
    (str(DAY), "spx", GOOD),
    (str(DAY + pd.Timedelta(days=5)), "SPX", BAD[0]),
    ((DAY + pd.Timedelta(days=5, hours=2)).isoformat(), "SPX", BAD[1]),
]


def test_a_headline_after_the_decision_is_never_read(tmp_path: Path):
    made = sentiment_filter(write(tmp_path / "h.csv", ROWS), lexicon(tmp_path), progress=False)
    assert made.model == "lexicon"
    assert made.allows("SPX", DAY + pd.Timedelta(days=2))  # the good headline
    before_news = DAY + pd.Timedelta(days=5) - pd.Timedelta(minutes=1)
    assert made.allows("SPX", before_news) and made.mean_score("SPX", before_news) is None  # the bad: not yet
    assert not made.allows("SPX", DAY + pd.Timedelta(days=6))  # two bad ones, the good one out of the window
    assert made.allows("SPX", DAY + pd.Timedelta(days=9))  # nothing in the last 3 days
    assert made.allows("QQQ", DAY)
    assert (made.counts.allowed, made.counts.refused, made.counts.no_forecast) == (1, 1, 3)
    more = sentiment_filter(
        write(tmp_path / "m.csv", [*ROWS, (str(DAY + pd.Timedelta(days=1)), "SPX", BAD[0])]),
        lexicon(tmp_path),
        progress=False,
    )
    good, later = made.mean_score("SPX", DAY), DAY + pd.Timedelta(days=1)
    assert good is not None and good > 0 and more.mean_score("SPX", DAY) == good  # the later headline: unread
    assert more.mean_score("SPX", later) != made.mean_score("SPX", later)  # once known, it counts


def test_scores_are_the_gateways_and_finbert_is_used_when_exported(tmp_path: Path):
    _, repository = tiny_bert.exported(tmp_path / "bert")
    settings = Settings(model_repository=repository, db_path=tmp_path / "p.db")
    made = sentiment_filter(write(tmp_path / "h.csv", ROWS), settings, progress=False)
    assert made.model == "finbert"
    with TestClient(create_app(settings)) as client:
        answer = client.post("/sentiment/predict", json={"texts": [GOOD, *BAD]}).json()
    scores = [p["score"] for p in answer["predictions"]]
    assert made.mean_score("SPX", DAY) == pytest.approx(scores[0], abs=1e-6)
    assert made.mean_score("SPX", DAY + pd.Timedelta(days=6)) == pytest.approx(np.mean(scores[1:]), abs=1e-6)


@pytest.mark.parametrize(
    ("header", "rows", "named"),
    [
        ("time,ticker,text", [(str(DAY), "SPX", GOOD)], "lacks the column(s) symbol"),
        ("time,symbol,text", [(str(DAY), "SPX", GOOD), ("yesterday-ish", "SPX", GOOD)], "time (line(s) 3"),
        ("time,symbol,text", [(str(DAY), "SPX", GOOD), (str(DAY), "SPX", "  ")], "text (line(s) 3"),
        ("time,symbol,text", [(str(DAY), "", GOOD)], "symbol (line(s) 2"),
        ("time,symbol,text", [], "holds no headlines, only its header"),  # was an IndexError (a review)
    ],
)
def test_a_bad_csv_is_refused_naming_the_problem(
    tmp_path: Path, header: str, rows: list[tuple[str, str, str]], named: str
):
    with pytest.raises(InvalidInputError, match=re.escape(named)):
        sentiment_filter(write(tmp_path / "h.csv", rows, header), lexicon(tmp_path), progress=False)


def test_slash_dates_are_read_one_way_as_the_file_shows_and_ambiguous_ones_refused(tmp_path: Path):
    rows = [
        ("2024-03-01T09:00:00-05:00", "SPX", GOOD),
        ("02/03/2024 10:00", "SPX", GOOD),
        ("13/03/2024", "SPX", GOOD),
    ]
    read = read_headlines(write(tmp_path / "h.csv", rows))  # 13/03: day first, so 02/03 is 2 March too
    assert read["time"].dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2024-03-01 14:00",
        "2024-03-02 10:00",
        "2024-03-13 23:59",  # a date without a time of day: the end of its UTC day
    ]
    with pytest.raises(InvalidInputError, match=r"'02/03/2024 10:00' are ambiguous .* ISO 8601"):
        read_headlines(write(tmp_path / "a.csv", rows[:2]))


def test_epoch_times_and_yyyymmdd_dates_are_read_as_for_bars(tmp_path: Path):
    when = pd.Timestamp("2024-03-01T14:00:00Z")
    for unit, scale in (("s", 1), ("ms", 1000)):
        rows = [
            (str(int(when.timestamp()) * scale), "SPX", GOOD),
            (str((int(when.timestamp()) + 60) * scale), "SPX", BAD[0]),
        ]
        read = read_headlines(write(tmp_path / f"{unit}.csv", rows))
        assert read["time"].tolist() == [when, when + pd.Timedelta(minutes=1)], unit
    numbers_and_a_blank = [("1709301600", "SPX", GOOD), ("", "SPX", GOOD), ("1709301660.0", "SPX", GOOD)]
    with pytest.raises(InvalidInputError, match=r"1 row\(s\) with no usable time \(line\(s\) 3;"):
        read_headlines(write(tmp_path / "b.csv", numbers_and_a_blank))  # the blank row is named, not every row
    read = read_headlines(write(tmp_path / "f.csv", numbers_and_a_blank[::2]))
    assert read["time"].tolist() == [when, when + pd.Timedelta(minutes=1)]  # "1709301660.0" too
    with pytest.raises(InvalidInputError, match="in different units"):
        read_headlines(write(tmp_path / "u.csv", [("1709301600", "SPX", GOOD), ("1709301660000", "SPX", GOOD)]))
    days = read_headlines(write(tmp_path / "d.csv", [("20240301", "SPX", GOOD), ("20240304", "SPX", GOOD)]))
    assert days["time"].dt.strftime("%Y-%m-%d").tolist() == ["2024-03-01", "2024-03-04"]
    with pytest.raises(InvalidInputError, match=r"neither epoch times nor YYYYMMDD dates; write the times in ISO"):
        read_headlines(write(tmp_path / "n.csv", [("1", "SPX", GOOD), ("2", "SPX", GOOD)]))


def test_a_headline_repeated_at_the_same_time_counts_once(tmp_path: Path):
    once = sentiment_filter(write(tmp_path / "h.csv", ROWS), lexicon(tmp_path), progress=False)
    repeated = [
        *ROWS,
        (ROWS[1][0], "spx", BAD[0].upper() + "  "),
        (str(DAY + pd.Timedelta(days=5)), "QQQ", BAD[0]),
    ]
    twice = sentiment_filter(write(tmp_path / "r.csv", repeated), lexicon(tmp_path), progress=False)
    later = DAY + pd.Timedelta(days=6)
    assert twice.mean_score("SPX", later) == once.mean_score("SPX", later)  # not weighed double
    assert twice.mean_score("QQQ", later) is not None  # another symbol's copy is its own headline
    assert "(1 repeats of a headline at the same time left out)" in twice.note
