"""Several gateway processes on one host share one SQLite journal (README "Topologies"): three real
`investiq serve` processes take Bayesian updates and sentiment requests at once, and every answer of 200 is
in portfolio.db afterwards, with posteriors that count each trade once and no "database is locked"."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from harness.processes import GatewayProcess, isolated_env

PROCESSES = 3
CLIENTS_PER_PROCESS = 6
TRADES_PER_CLIENT = 12
STRATEGIES = ("momentum", "mean_reversion")  # shared by every process: the same posterior rows contend


@pytest.mark.slow
def test_three_gateways_write_one_journal_at_once(tmp_path: Path):
    db = tmp_path / "portfolio.db"
    env = isolated_env(
        INVESTIQ_MODEL_REPOSITORY=str(tmp_path / "model_repository"),  # none exported: the lexicon answers
        INVESTIQ_DATA_DIR=str(tmp_path / "market"),
        INVESTIQ_LOGS_DIR=str(tmp_path / "logs"),
    )
    gateways = [GatewayProcess(db, tmp_path / f"gateway{i}.log", env=env) for i in range(PROCESSES)]
    try:
        with ThreadPoolExecutor(PROCESSES) as pool:
            list(pool.map(lambda g: g.start(timeout_s=60), gateways))  # all three open the journal at once

        def client(n: int) -> list[tuple[str, int, str]]:
            """One client of one gateway: trades with ids of its own, a headline after each."""
            gateway = gateways[n % PROCESSES]
            answers = []
            with httpx.Client(base_url=gateway.url, timeout=30) as http:
                for k in range(TRADES_PER_CLIENT):
                    trade_id = f"{n}-{k}"
                    trade = {
                        "strategy_name": STRATEGIES[k % 2],
                        "profit_loss": (k % 3) - 1.0 or 0.5,
                        "trade_id": trade_id,
                    }
                    r = http.post("/bayesian/update", json=trade)
                    answers.append((trade_id, r.status_code, r.text))
                    body = {"texts": [f"shares rise {n} {k}"], "use_cache": False}
                    s = http.post("/sentiment/predict", json=body)
                    answers.append(("sentiment", s.status_code, s.text))
            return answers

        with ThreadPoolExecutor(PROCESSES * CLIENTS_PER_PROCESS) as pool:
            answers = [a for batch in pool.map(client, range(PROCESSES * CLIENTS_PER_PROCESS)) for a in batch]
        for gateway in gateways:
            gateway.stop()  # drains and flushes the writer: sentiment rows are journaled off the request path
    finally:
        for gateway in gateways:
            if gateway.running:
                gateway.kill()

    failed = [a for a in answers if a[1] != 200]
    assert not failed, failed[:5]
    logs = "".join((tmp_path / f"gateway{i}.log").read_text() for i in range(PROCESSES))
    assert "database is locked" not in logs
    ok_trades = {trade_id for trade_id, status, _ in answers if trade_id != "sentiment" and status == 200}
    assert len(ok_trades) == PROCESSES * CLIENTS_PER_PROCESS * TRADES_PER_CLIENT
    ok_texts = sum(1 for trade_id, status, _ in answers if trade_id == "sentiment" and status == 200)

    with sqlite3.connect(db) as conn:
        journaled = {row[0] for row in conn.execute("SELECT trade_id FROM bayesian_events")}
        per_strategy = dict(conn.execute("SELECT strategy_name, COUNT(*) FROM bayesian_events GROUP BY 1"))
        texts = conn.execute("SELECT COUNT(*) FROM sentiment_predictions").fetchone()[0]
        posterior = dict(conn.execute("SELECT strategy_name, wins + losses FROM bayesian_state"))
    assert journaled == ok_trades  # every 200 is journaled, and nothing else
    assert texts == ok_texts
    # Each process read-modify-writes the posterior inside BEGIN IMMEDIATE: no update is lost between them.
    assert {name: round(n) for name, n in posterior.items()} == per_strategy
