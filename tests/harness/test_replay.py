"""harness/replay.py: market history through a real gateway, as an agent would have lived it, then `investiq
resolve` scores it (the way to see live skill without waiting for the market)."""

from __future__ import annotations

import sqlite3
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.replay import replay
from investiq.cli.main import main
from investiq.core.bar_cache import BarCache
from investiq.core.market import SAMPLE_INTERVAL


def test_replayed_bars_are_journaled_over_http_and_resolve_scores_them(
    tmp_path: Path, serve: Callable[..., Any], trained: tuple[Path, Path]
):
    """Ten bars of the sample through the tiny model's gateway (with its API key: without, a 401): one forecast
    each, made at the bar's own time, and the bars left in the gateway's cache, where `investiq resolve` scores the
    six whose 4 bars ahead are there. The replay had no test until a review of its API key header's name."""
    (tmp_path / "none.yaml").write_text("")
    env = {
        "INVESTIQ_CONFIG": str(tmp_path / "none.yaml"),
        "INVESTIQ_MODEL_REPOSITORY": str(trained[1]),
        "INVESTIQ_DATA_DIR": str(tmp_path / "data"),
        "INVESTIQ_LOGS_DIR": str(tmp_path / "logs"),
        "INVESTIQ_PRICE_RESOLVE_EVERY_S": "0",
        "ML_API_KEY": "replay-key",
    }
    db = tmp_path / "p.db"
    server = serve(db, env)
    with pytest.raises(urllib.error.HTTPError, match="401"):
        replay(server.url, tmp_path / "data", ["SPX"], bars=1, context=64, api_key=None)
    assert replay(server.url, tmp_path / "data", ["SPX"], bars=10, context=64, api_key="replay-key") == 10
    server.stop()
    bars = BarCache(tmp_path / "data" / "bars").read("SPX", SAMPLE_INTERVAL)
    assert bars is not None and len(bars) > 4000  # the whole sample, for resolve
    with sqlite3.connect(db) as conn:
        made = [r[0] for r in conn.execute("SELECT last_bar_time FROM price_predictions ORDER BY id")]
    assert len(made) == 10 and made == sorted(made) and made[-1].startswith("2018-12-31")
    result = CliRunner().invoke(main, ["resolve", "--db", str(db)], env=env | {"INVESTIQ_DB_PATH": str(db)})
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        resolved = conn.execute("SELECT count(*) FROM price_predictions WHERE resolved_at IS NOT NULL").fetchone()
    assert resolved[0] == 6, result.output
