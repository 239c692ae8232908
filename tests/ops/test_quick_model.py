"""`investiq up`'s first price model: when training fails, it serves the random-walk baseline, named
so, and /price/health says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from export.patchtst import sample_windows
from gateway.app import create_app
from harness.tiny_patchtst import TINY
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
