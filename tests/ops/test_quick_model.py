"""`investiq up`'s first price model: when training fails, it serves the random-walk baseline, named
so, and /price/health says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from export.patchtst import sample_windows
from gateway.app import create_app
from harness.tiny_patchtst import TINY
from investiq.core.errors import DataError
from investiq.core.settings import Settings
from investiq.ops import patchtst as ops
from training import patchtst as training


def test_a_failed_training_serves_the_random_walk_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("CUDA out of memory (forced by the test)")

    monkeypatch.setattr(training, "train", broken)
    monkeypatch.setattr(ops, "config_for", lambda bars, **_: TINY)  # the tiny shape: a fast test
    settings = Settings(
        price_source="sample",
        models_dir=tmp_path / "models",
        model_repository=tmp_path / "repo",
        data_dir=tmp_path / "data",
        db_path=tmp_path / "p.db",
        price_resolve_every_s=0,
    )
    logged: list[str] = []
    ops.quick_model(settings, logged.append)
    assert any("random-walk baseline" in line and "CUDA out of memory" in line for line in logged)
    with TestClient(create_app(settings)) as client:
        closes = [float(x) for x in sample_windows(1, TINY.context_length)[0, :, 0]]
        forecast = client.post("/price/predict", json={"symbol": "SPX", "prices": closes}).json()
        assert forecast["model"] == "random_walk"
        assert forecast["predicted_prices"] == [pytest.approx(closes[-1], rel=1e-6)] * TINY.prediction_length
        assert forecast["direction"] == "flat" and forecast["confidence"] < 0.9
        lo, hi = forecast["quantiles"]["0.1"][-1], forecast["quantiles"]["0.9"][-1]
        assert lo < closes[-1] < hi  # intervals from volatility, not a point
        health = client.get("/price/health").json()
        assert health["status"] == "degraded" and health["model"] == "random_walk"
        assert "random-walk baseline" in health["reason"] and "training failed" in health["reason"]


def _series(lengths: dict[str, int]) -> ops.Series:
    return {s: (np.linspace(100.0, 110.0, n), np.arange(n)) for s, n in lengths.items()}


def test_a_symbol_too_short_for_the_first_model_is_left_out_with_the_settings_that_give_more(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(ops, "config_for", lambda bars, **_: TINY)
    bars = ops.Bars("csv", ("AAA", "BBB"), 4000, "1d", Path("bars.csv"))
    logged: list[str] = []
    series, kept = ops.with_history(_series({"AAA": 30, "BBB": 2000}), bars, logged.append)
    assert list(series) == ["BBB"] and kept.symbols == ("BBB",) and kept.csv_path == bars.csv_path
    (warning,) = logged
    assert warning.startswith("warning: AAA: too few 1d bars") and "trains on BBB only" in warning
    assert "price_days" in warning and "--symbols" not in warning  # `up` takes no --symbols
    unchanged = ops.with_history(_series({"AAA": 2000, "BBB": 2000}), bars, logged.append)
    assert list(unchanged[0]) == ["AAA", "BBB"] and unchanged[1] == bars and len(logged) == 1
    with pytest.raises(DataError, match=r"AAA, BBB: too few 1d bars .*30 at the fewest.*price_days"):
        ops.with_history(_series({"AAA": 30, "BBB": 40}), bars, logged.append)
    # each has a window, but together, split at shared dates, they have no training one: not a garbled warning
    # and a crash in training, as the shared split first gave, but the DataError after which `up` takes the sample
    with pytest.raises(DataError, match=r"AAA, BBB: too few 1d bars .*~\d+ needed.*price_days"):
        ops.with_history(_series({"AAA": 76, "BBB": 76}), bars, logged.append)
    assert len(logged) == 1


def test_with_every_configured_symbol_too_short_up_trains_on_the_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    trained: list[list[str]] = []

    class Trained(Exception):
        pass

    def record(series: ops.Series, *args: Any, **kwargs: Any) -> Any:
        trained.append(list(series))
        raise Trained  # nothing to learn from training or exporting

    monkeypatch.setattr(training, "train", record)
    monkeypatch.setattr(ops, "config_for", lambda bars, **_: TINY)
    csv = tmp_path / "bars.csv"
    pd.DataFrame({"timestamp": pd.bdate_range("2024-01-01", periods=30), "close": np.linspace(1, 2, 30)}).to_csv(
        csv, index=False
    )
    settings = Settings(
        price_source="csv",
        price_csv=csv,
        price_symbols=["AAA"],
        price_interval="1d",
        models_dir=tmp_path / "models",
        model_repository=tmp_path / "repo",
        data_dir=tmp_path / "data",
        db_path=tmp_path / "p.db",
    )
    logged: list[str] = []
    with pytest.raises(Trained):
        ops.quick_model(settings, logged.append)
    assert trained == [["SPX", "NASDAQ"]]
    assert any("AAA: too few 1d bars" in line and "offline sample" in line for line in logged)


def test_offline_up_says_why_without_advice_for_another_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Yahoo unreachable: `up` falls back to the sample and says why, without Yahoo's error's advice for `train
    patchtst` ("use --source csv or --source sample": `up` has no --source; a new user tried it)."""
    from investiq.core.yahoo import OTHER_SOURCE, YahooError

    real = ops.load_series

    def offline(settings: Settings, bars: Any, log: Any) -> Any:
        if bars.source == "yfinance":
            raise YahooError("no data from Yahoo Finance for SPY 15m: offline", f"; {OTHER_SOURCE}")
        return real(settings, bars, log)

    class Trained(Exception):
        pass

    def record(*args: Any, **kwargs: Any) -> Any:
        raise Trained

    monkeypatch.setattr(ops, "load_series", offline)
    monkeypatch.setattr(training, "train", record)
    monkeypatch.setattr(ops, "config_for", lambda bars, **_: TINY)
    settings = Settings(
        models_dir=tmp_path / "models", model_repository=tmp_path / "repo", data_dir=tmp_path / "data"
    )
    logged: list[str] = []
    with pytest.raises(Trained):
        ops.quick_model(settings, logged.append)
    warning = next(line for line in logged if line.startswith("warning: no data from Yahoo Finance"))
    assert OTHER_SOURCE not in warning and "`investiq train patchtst --source csv --csv FILE`" in warning
