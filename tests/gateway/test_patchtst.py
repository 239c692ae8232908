"""PatchTST end to end on a tiny configuration trained on real daily S&P 500 bars (shipped by
`arch`): split without leakage, export parity, /price over HTTP, the resolver, bad input."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient

from export.patchtst import export_patchtst, sample_windows
from gateway.app import create_app
from gateway.backends.embedded import patchtst_dir
from gateway.services.resolver import resolve_due
from gateway.wiring import StartupError, build_backend
from harness.tiny_patchtst import TINY
from investiq.core import market as data_module
from investiq.core.errors import DataError
from investiq.core.journal import JournalWriter
from investiq.core.market import BarCache, clean_bars, load_sample
from investiq.core.patchtst import PatchTSTMeta, check_closes, signal
from investiq.core.settings import Settings
from tests.conftest import flush_journal
from training.patchtst import load_forecaster, split_origins, train, train_stats, windows


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("patchtst")
    bars = clean_bars(load_sample("SPX"), "SPX", "1d")[0].tail(600)
    closes = bars["close"].to_numpy(dtype=np.float64)
    train({"SPX": (closes, bars.index.to_numpy())}, TINY, root / "model", log=lambda _: None)
    export_patchtst(root / "model", root / "repo", log=lambda _: None)
    return root / "model", root / "repo"


def closes(n: int = 64, seed: int = 1) -> list[float]:
    return [float(x) for x in sample_windows(1, n, seed)[0, :, 0]]


@pytest.fixture
def client(trained: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    def offline(symbol: str, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        raise DataError(f"no data from Yahoo Finance for {symbol} {interval}: offline in tests")

    monkeypatch.setattr(data_module, "fetch_yfinance", offline)
    settings = Settings(
        db_path=tmp_path / "p.db", model_repository=trained[1], data_dir=tmp_path / "data", price_batch_size=8
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_no_validation_or_test_target_lies_inside_a_training_window():
    n, c, h = 1000, 64, 12
    split = split_origins(n, c, h, 0.15, 0.15)
    last_training_bar = int(split.train.max()) + h  # the last target of the last training window
    assert int(split.val.min()) + 1 - last_training_bar > h  # a gap of more than a horizon
    assert int(split.test.min()) + 1 > int(split.val.max()) + h + h
    assert int(split.test.max()) + h == n - 1
    x, y = windows(np.arange(n, dtype=np.float64), split.test, c, h)
    assert x.min() >= split.test.min() - c + 1 and y.min() > last_training_bar + h


def test_statistics_are_fitted_on_training_bars_only():
    rng = np.random.default_rng(0)
    series = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 1000)))
    split = split_origins(1000, 64, 12, 0.15, 0.15)
    before = train_stats(series, split.train, 12)
    changed = series.copy()
    changed[int(split.train.max()) + 13 :] *= 3  # anything after the training windows
    assert train_stats(changed, split.train, 12) == before


@pytest.mark.slow
def test_data_parallel_training_under_torchrun(tmp_path: Path):
    """Two CPU processes (gloo) stand in for two GPUs: same code path, rank 0 alone writes."""
    import subprocess
    import sys

    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd = [
        *torchrun,
        "-m",
        "harness.tiny_patchtst",
        str(tmp_path / "out"),
    ]  # --standalone: a free port, not the fixed 29500
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("epochs run:") == 2  # both ranks finished
    assert proc.stdout.count("on cpu (x2)") == 1  # only rank 0 logs
    assert PatchTSTMeta.load(tmp_path / "out").context_length == 64


def test_too_short_a_history_is_refused_with_what_is_needed():
    with pytest.raises(ValueError, match="too few"):
        split_origins(100, 64, 12, 0.15, 0.15)


def test_training_writes_a_complete_artifact(trained: tuple[Path, Path]):
    model_dir, _ = trained
    meta = PatchTSTMeta.load(model_dir)
    assert (meta.context_length, meta.prediction_length, meta.interval, meta.transform) == (
        64,
        4,
        "1d",
        "log_price",
    )
    assert meta.trained_until < "2018-12-31"  # the test bars at the end were never trained on
    assert "SPX.log_return_std" in meta.train_stats
    assert {"metrics.json", "training_curve.png", "artifact.json", "model"} <= {
        p.name for p in model_dir.iterdir()
    }


def test_export_parity_at_several_batch_sizes(trained: tuple[Path, Path]):
    import onnxruntime as ort

    model_dir, repo = trained
    forecaster, meta = load_forecaster(model_dir)
    session = ort.InferenceSession(str(patchtst_dir(repo) / "model.onnx"))
    for batch in (1, 5, 40):
        x = sample_windows(batch, meta.context_length, seed=100 + batch)
        got = session.run(None, {"past_values": x})[0]
        with torch.no_grad():
            want = forecaster(torch.from_numpy(x)).numpy()
        assert got.shape == (batch, 4, 1)
        np.testing.assert_allclose(got, want, rtol=1e-4)
    assert PatchTSTMeta.load(patchtst_dir(repo)).validation["max_rel_diff"] < 1e-4


def test_predict_and_batch_predict_over_http(client: TestClient, tmp_path: Path):
    body = client.post("/price/predict", json={"symbol": "SPX", "prices": closes(100), "interval": "1d"})
    assert body.status_code == 200, body.text
    one = body.json()
    assert one["direction"] in {"up", "down", "flat"}
    assert 0.5 <= one["confidence"] < 1
    assert len(one["predicted_prices"]) == one["horizon"] == 4
    assert one["current_price"] == pytest.approx(closes(100)[-1], rel=1e-6)
    requests = [{"symbol": f"S{i}", "prices": closes(64, seed=i)} for i in range(5)]
    batch = client.post("/price/batch_predict", json={"requests": requests}).json()["predictions"]
    assert [p["symbol"] for p in batch] == ["S0", "S1", "S2", "S3", "S4"]
    assert len({round(p["confidence"], 6) for p in batch}) > 1  # derived from each forecast, not a constant
    assert 'investiq_batch_size_bucket{le="8.0",model="patchtst"} 2.0' in client.get("/metrics").text
    assert client.get("/price/health").json()["status"] == "healthy"


def test_forecasts_are_journaled_then_resolved_against_known_prices(
    client: TestClient, trained: tuple[Path, Path], tmp_path: Path
):
    prices = closes(64, seed=7)
    forecast = client.post("/price/predict", json={"symbol": "SPX", "prices": prices}).json()
    db = tmp_path / "p.db"
    flush_journal(client)
    row = (
        sqlite3.connect(db)
        .execute("SELECT last_bar_time, target_time, confidence FROM price_predictions")
        .fetchone()
    )
    assert row is not None and row[2] == pytest.approx(forecast["confidence"])
    last = datetime.fromisoformat(row[0])
    # The market after the forecast: four daily bars, the 4th (the horizon) at 1.1x the last close.
    future = [prices[-1] * f for f in (1.01, 0.99, 1.05, 1.10)]
    stamps = pd.DatetimeIndex([last + timedelta(days=d) for d in (1, 2, 3, 4)], name="timestamp")
    frame = pd.DataFrame(
        {"open": future, "high": future, "low": future, "close": future, "volume": 0.0}, index=stamps
    )
    cache = BarCache(tmp_path / "data" / "bars")
    cache.merge("SPX", "1d", frame)
    writer = JournalWriter(db)
    writer.start()

    def no_fetch(*_: Any) -> pd.DataFrame:
        raise DataError("offline")

    early = resolve_due(db, writer, cache, no_fetch, now=last + timedelta(days=1))
    assert early.resolved == 0  # the horizon has not passed
    report = resolve_due(db, writer, cache, no_fetch, now=last + timedelta(days=5))
    writer.close()
    assert report.resolved == 1
    actual, correct = sqlite3.connect(db).execute("SELECT actual_price, correct FROM price_predictions").fetchone()
    assert actual == pytest.approx(prices[-1] * 1.10, rel=1e-6)
    assert correct == int(forecast["direction"] == "up")
    evaluation = client.get("/price/evaluate/SPX", params={"days": 7}).json()
    assert evaluation["count"] == 1 and evaluation["hits"] == correct
    assert evaluation["mae"] == pytest.approx(abs(forecast["predicted_prices"][-1] - actual), rel=1e-5)


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        (
            "/price/predict",
            {"symbol": "SPX", "prices": [100.0] * 10},
            422,
            "got 10 closes, the model needs at least 64",
        ),
        ("/price/predict", {"symbol": "SPX", "prices": [100.0] * 63 + [0.0]}, 422, "prices[63] = 0.0"),
        ("/price/predict", {"symbol": "SPX", "prices": [100.0] * 63 + [-5.0]}, 422, "every close must be"),
        ("/price/predict", {"symbol": "SPX", "prices": [100.0] * 64, "interval": "7m"}, 422, "'7m' is unknown"),
        (
            "/price/predict",
            {"symbol": "SPX", "prices": [100.0] * 64, "interval": "15m"},
            422,
            "trained on 1d bars",
        ),
        ("/price/predict", {"symbol": "SPX", "prices": ["a"] * 64}, 422, "prices.0"),
        ("/price/predict", {"prices": [100.0] * 64}, 422, "symbol: Field required"),
        ("/price/predict", {"symbol": "NOPE"}, 503, "NOPE: no recent 1d bars"),
        ("/price/batch_predict", {"requests": []}, 422, "requests is empty"),
        (
            "/price/batch_predict",
            {"requests": [{"symbol": "A", "prices": [1.0] * 64}] * 9},
            422,
            "more than the limit of 8",
        ),
    ],
)
def test_bad_price_requests_are_named(
    client: TestClient, tmp_path: Path, path: str, body: dict[str, Any], status: int, fragment: str
):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]
    assert sqlite3.connect(tmp_path / "p.db").execute("SELECT count(*) FROM price_predictions").fetchone()[0] == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity"])
def test_non_finite_prices_are_refused(client: TestClient, literal: str):
    body = '{"symbol": "SPX", "prices": [' + ", ".join(["100.0"] * 63 + [literal]) + "]}"
    response = client.post("/price/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "prices.63: Input should be a finite number" in response.json()["detail"]


def test_a_corrupt_or_missing_model_file_is_a_startup_error_naming_it(trained: tuple[Path, Path], tmp_path: Path):
    import shutil

    broken = tmp_path / "repo"
    shutil.copytree(trained[1], broken)
    (patchtst_dir(broken) / "model.onnx").write_bytes(b"garbage")
    with pytest.raises(StartupError, match=r"patchtst/1/model\.onnx"):
        build_backend(Settings(model_repository=broken))
    (patchtst_dir(broken) / "model.onnx").unlink()
    with pytest.raises(StartupError, match=r"missing ONNX file .*patchtst/1/model\.onnx"):
        build_backend(Settings(model_repository=broken))


def test_without_a_model_price_says_what_to_run(tmp_path: Path):
    with TestClient(create_app(Settings(db_path=tmp_path / "p.db", model_repository=tmp_path / "empty"))) as c:
        response = c.post("/price/predict", json={"symbol": "SPX", "prices": [1.0] * 600})
        assert response.status_code == 503
        assert "investiq train patchtst" in response.json()["detail"]
        assert c.get("/price/health").json()["status"] == "unhealthy"


def test_confidence_grows_with_the_forecast_move_against_recent_noise():
    window = np.array(closes(64), dtype=np.float64)
    small = signal(window, np.full(4, window[-1] * 1.0005))
    large = signal(window, np.full(4, window[-1] * 1.05))
    assert small.direction == large.direction == "up"
    assert 0.5 < small.confidence < large.confidence < 1
    assert signal(window, np.full(4, window[-1])).direction == "flat"
    with pytest.raises(ValueError, match="needs at least 64"):
        check_closes(window[:10], 64)
