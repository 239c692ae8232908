"""/bayesian over HTTP against a real journal file."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fakes import Clock

STATS_FIELDS = {
    "strategy_name",
    "win_rate",
    "total_samples",
    "wins",
    "losses",
    "alpha",
    "beta",
    "mean_pnl",
    "credible_interval_95",
    "weight",
}


def update(client: TestClient, **body: object) -> dict[str, Any]:
    response = client.post("/bayesian/update", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def feed(client: TestClient, name: str, pnls: list[float]) -> None:
    for pnl in pnls:
        update(client, strategy_name=name, profit_loss=pnl)


def test_update_then_weights_and_stats(client: TestClient):
    feed(client, "momentum", [10, 12, -3, 8, 5, 7, -1, 9])
    feed(client, "mean_reversion", [-4, 2, -6, -2, 1, -5, -3, 3])
    update(client, strategy_name="newcomer", won=True)
    weights = client.get("/bayesian/weights").json()["weights"]
    assert set(weights) == {"momentum", "mean_reversion", "newcomer"}
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights["newcomer"] == pytest.approx(1 / 3)  # too few trades: prior share
    assert weights["momentum"] > weights["mean_reversion"]
    thompson = client.get("/bayesian/weights", params={"method": "thompson"}).json()
    assert thompson["method"] == "thompson"
    again = client.get("/bayesian/weights", params={"method": "thompson"}).json()
    assert again["weights"] == thompson["weights"]  # seeded: same state, same weights
    assert thompson["weights"]["momentum"] > weights["momentum"]  # P(best) is more decisive than the mean
    stats = {s["strategy_name"]: s for s in client.get("/bayesian/all-stats").json()["strategies"]}
    m = stats["momentum"]
    assert set(m) >= STATS_FIELDS
    assert (m["wins"], m["losses"], m["total_samples"]) == (6, 2, 8)
    assert (m["alpha"], m["beta"]) == pytest.approx((7.0, 3.0))
    lo, hi = m["credible_interval_95"]
    assert lo < m["win_rate"] < hi
    assert m["mean_pnl"] == pytest.approx(47 / 9)  # prior mean 0 with kappa 1, then 8 trades


def test_forgetting_brings_an_idle_strategy_back_to_its_prior(client: TestClient, clock: Clock):
    feed(client, "old", [5.0] * 10)
    clock.advance(days=365)
    old = client.get("/bayesian/all-stats").json()["strategies"][0]
    assert old["total_samples"] == 10
    assert old["alpha"] == pytest.approx(1.0, abs=0.01)  # 2^-(365/30) of the evidence is left
    assert old["proven"] is False


def test_a_repeated_trade_id_is_counted_once(client: TestClient):
    first = update(client, strategy_name="s", profit_loss=3.0, trade_id=41)
    again = update(client, strategy_name="s", profit_loss=3.0, trade_id="41")
    assert (first["counted"], again["counted"]) == (True, False)
    assert again["strategy"]["total_samples"] == 1


def add_trades(db: Path, rows: list[tuple[str, float, str]]) -> None:
    conn = sqlite3.connect(db)
    conn.executemany(
        "INSERT INTO trades (symbol, strategy_name, side, quantity, entry_price, exit_price, profit_loss, "
        "opened_at, closed_at) VALUES ('SPY', ?, 'buy', 1, 100, 100, ?, ?, ?)",
        [(name, pnl, closed, closed) for name, pnl, closed in rows],
    )
    conn.commit()
    conn.close()


def test_sync_rebuilds_from_trades_and_is_idempotent(client: TestClient, db_path: Path, clock: Clock):
    from investiq.core.journal.timestamps import iso

    now = clock.now
    add_trades(db_path, [("a", 5.0, iso(now - 86400 * d)) for d in range(1, 8)])
    add_trades(db_path, [("b", -2.0, iso(now - 86400 * d)) for d in range(1, 4)])
    add_trades(db_path, [("a", 100.0, iso(now - 86400 * 40))])  # outside a 30-day window
    update(client, strategy_name="c", profit_loss=1.0)  # replaced by the sync: trades are the truth
    first = client.post("/bayesian/sync-from-database", params={"days": 30})
    assert first.status_code == 200, first.text
    assert first.json()["trades_imported"] == 10
    stats_once = client.get("/bayesian/all-stats").json()
    second = client.post("/bayesian/sync-from-database", params={"days": 30}).json()
    assert second["trades_imported"] == 10
    assert client.get("/bayesian/all-stats").json() == stats_once
    assert [s["strategy_name"] for s in stats_once["strategies"]] == ["a", "b"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"strategy_name": "s", "profit_loss": "abc"}, "profit_loss"),
        ({"strategy_name": "s", "profit_loss": [1]}, "profit_loss"),
        ({"strategy_name": "s"}, "give profit_loss, won, or both"),
        ({"profit_loss": 1.0}, "strategy_name: Field required"),
        ({"strategy_name": "", "profit_loss": 1.0}, "strategy_name"),
        ({"strategy_name": "   ", "profit_loss": 1.0}, "must not be empty"),
        ({"strategy_name": "a\x00b", "profit_loss": 1.0}, "control characters"),
        ({"strategy_name": "s", "won": True, "profit_loss": -5.0}, "contradicts"),
        ({"strategy_name": "s", "won": True, "closed_at": "not a date"}, "closed_at"),
        ({"strategy_name": "s", "won": True, "closed_at": "2999-01-01T00:00:00Z"}, "in the future"),
    ],
)
def test_bad_updates_are_named_and_change_nothing(client: TestClient, body: dict[str, Any], fragment: str):
    response = client.post("/bayesian/update", json=body)
    assert response.status_code == 422
    assert fragment in response.json()["detail"]
    assert client.get("/bayesian/all-stats").json()["strategies"] == []


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_profit_loss_is_refused(client: TestClient, literal: str):
    body = f'{{"strategy_name": "s", "profit_loss": {literal}}}'
    response = client.post("/bayesian/update", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "profit_loss: Input should be a finite number" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("/bayesian/weights", {"method": "best"}, "'mean' or 'thompson'"),
        ("/bayesian/all-stats", {"method": "best"}, "'mean' or 'thompson'"),
        ("/bayesian/sync-from-database", {"days": 0}, "days"),
        ("/bayesian/sync-from-database", {"days": -3}, "days"),
        ("/bayesian/sync-from-database", {"days": 10**9}, "days must be between 1 and 3650"),
        ("/bayesian/sync-from-database", {"days": "a week"}, "days"),
    ],
)
def test_bad_queries_are_named(client: TestClient, path: str, params: dict[str, Any], fragment: str):
    method = client.post if "sync" in path else client.get
    response = method(path, params=params)
    assert response.status_code == 422
    assert fragment in response.json()["detail"]


def test_sync_names_a_trades_table_it_cannot_use(tmp_path: Path, clock: Clock):
    from gateway.app import create_app
    from investiq.core.settings import Settings

    db = tmp_path / "agent.db"
    sqlite3.connect(db).execute("CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT, pnl REAL)")
    with TestClient(create_app(Settings(db_path=db), clock=clock)) as client:
        response = client.post("/bayesian/sync-from-database", params={"days": 5})
    assert response.status_code == 422
    assert "lacks column(s) strategy_name, closed_at" in response.json()["detail"]


@pytest.mark.slow
def test_concurrent_updates_are_each_counted_once(serve, db_path: Path):
    server = serve(db_path)

    def post(i: int) -> int:
        body = {"strategy_name": f"s{i % 4}", "profit_loss": 1.0 if i % 3 else -1.0}
        code: int = server.request("POST", "/bayesian/update", json=body).status_code
        return code

    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(post, range(200)))
    assert codes == [200] * 200
    stats = server.request("GET", "/bayesian/all-stats").json()["strategies"]
    assert sum(s["total_samples"] for s in stats) == 200
    assert [s["total_samples"] for s in stats] == [50, 50, 50, 50]
    events = sqlite3.connect(db_path).execute("SELECT count(*) FROM bayesian_events").fetchone()[0]
    assert events == 200


@pytest.mark.slow
def test_weights_survive_a_restart(serve, db_path: Path):
    server = serve(db_path)
    for name, pnls in {"trend": [4, 5, -1, 6, 3, 2], "carry": [-2, 1, -3, -1, 2, -4]}.items():
        for pnl in pnls:
            assert (
                server.request(
                    "POST", "/bayesian/update", json={"strategy_name": name, "profit_loss": pnl}
                ).status_code
                == 200
            )
    before = {
        m: server.request("GET", "/bayesian/weights", params={"method": m}).json()["weights"]
        for m in ("mean", "thompson")
    }
    stats_before = server.request("GET", "/bayesian/all-stats").json()["strategies"]
    server.stop()
    restarted = serve(db_path)
    for method, weights in before.items():
        after = restarted.request("GET", "/bayesian/weights", params={"method": method}).json()["weights"]
        assert after == pytest.approx(weights, rel=1e-6)
    stats_after = restarted.request("GET", "/bayesian/all-stats").json()["strategies"]
    assert [(s["wins"], s["losses"]) for s in stats_after] == [(s["wins"], s["losses"]) for s in stats_before]


def test_sync_reads_an_agents_table_with_extra_and_reordered_columns(tmp_path: Path, clock: Clock):
    from gateway.app import create_app
    from investiq.core.journal.timestamps import iso
    from investiq.core.settings import Settings

    db = tmp_path / "agent.db"
    agent = sqlite3.connect(db)
    agent.execute(
        "CREATE TABLE trades (closed_at TEXT, fees REAL, strategy_name TEXT, profit_loss REAL, "
        "id INTEGER PRIMARY KEY, symbol TEXT, broker_ref TEXT)"
    )
    rows = [
        (iso(clock.now - 3600 * h), 0.1, "breakout", 2.0 if h % 2 else -1.0, h, "QQQ", "r") for h in range(1, 9)
    ]
    agent.executemany("INSERT INTO trades VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    agent.commit()
    ddl = agent.execute("SELECT sql FROM sqlite_master WHERE name = 'trades'").fetchone()[0]
    agent.close()
    with TestClient(create_app(Settings(db_path=db), clock=clock)) as client:
        assert client.post("/bayesian/sync-from-database", params={"days": 1}).json()["trades_imported"] == 8
        stats = client.get("/bayesian/all-stats").json()["strategies"]
    assert [(s["strategy_name"], s["wins"], s["losses"]) for s in stats] == [("breakout", 4, 4)]
    after = sqlite3.connect(db).execute("SELECT sql FROM sqlite_master WHERE name = 'trades'").fetchone()[0]
    assert after == ddl  # read as it is, never altered
